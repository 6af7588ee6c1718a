"""Server-rendered SVG charts: pure functions, data in, an SVG string out (no I/O, no clock).

Shared by the screening HTML report and the clinician web app. Every chart is accessible
(<title>, <desc>, role="img"), reads in print (series differ by dash and marker shape, bands
and cut-offs carry their labels in text) and escapes every text it is given.

    from maswatch.render import Series, Threshold, TimeAxis, time_series_chart
    svg = time_series_chart([Series("Ferritin", times, values)], title="Ferritin", y_label="Ferritin",
                            unit="ng/mL", log=True, axis=TimeAxis(t0, t1),
                            thresholds=[Threshold(684, "2016 sJIA-MAS criteria (>)")])
"""

from .bars import bar_chart, histogram
from .model import LEVEL_FILLS, STYLES, Frame, Marker, Series, Style, Threshold, TimeAxis, TimeBand, TreatmentBar
from .scales import LinearScale, LogScale, TimeScale
from .svg import esc
from .timeseries import level_bands, time_series_chart
from .treatment import treatment_chart

__all__ = [
    "LEVEL_FILLS", "STYLES", "Frame", "LinearScale", "LogScale", "Marker", "Series", "Style", "Threshold", "TimeAxis",
    "TimeBand", "TimeScale", "TreatmentBar", "bar_chart", "esc", "histogram", "level_bands",
    "time_series_chart", "treatment_chart",
]
