"""maswatch: decision support for macrophage activation syndrome (MAS / secondary HLH).

Exact, explainable published instruments; longitudinal monitoring; population screening.
Decision support, not a diagnosis.
"""

__version__ = "0.1.0"
