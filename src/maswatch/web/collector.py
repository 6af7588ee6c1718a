"""The cyclic garbage collector, set for a server that parses large documents.

A CDS Hooks call or an upload parses up to megabytes of JSON into tens of thousands of
containers that die with the request. With CPython's default first-generation threshold (700
allocations) one 0.5 MB prefetch triggers ~60 collections and promotes live request objects
into the older generations, whose full passes then stall whichever request is running: in
benchmarks/bench_cds.py's pipeline the slowest of 40 reads took 90 ms (median 5.6 ms).
Start-up objects (modules, registries, templates) are frozen out of the collector, and the
first generation is collected every 50,000 allocations instead (slowest read 19 ms). Reference
counting still frees acyclic garbage at once; only cycles wait a little longer.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 50)


def tune_for_serving() -> None:
    """Call once, after start-up and before serving."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


__all__ = ["THRESHOLDS", "tune_for_serving"]
