"""A treatment panel: one row per drug, a bar per course, the dose written on the bar.

Shares :class:`~maswatch.render.model.Frame` and :class:`~maswatch.render.model.TimeAxis`
with the time-series panels, so stacked under a patient's lab charts the days line up.
A course still running at the end of the axis ends in an arrow and says "ongoing".
"""

from __future__ import annotations

from typing import Sequence

from .model import Frame, Marker, TimeAxis, TreatmentBar
from .scales import TimeScale
from .svg import esc, num, svg_document, text
from .timeseries import _fmt_time, _markers, _x_axis

ROW_HEIGHT = 22
_BAR_FILLS = ("#cfd8e6", "#e6d3cf", "#d5e6cf", "#e3d6ea", "#e8e2c8")
_BAR_PATTERNS = ("", "4 2", "1 2", "6 2 1 2", "")  # outline dash: rows stay apart in greyscale


def treatment_chart(
    bars: Sequence[TreatmentBar],
    *,
    title: str,
    axis: TimeAxis,
    markers: Sequence[Marker] = (),
    note: str = "",
    frame: Frame = Frame(),
) -> str:
    rows = list(dict.fromkeys(b.row for b in bars))
    height = frame.top + frame.bottom + ROW_HEIGHT * max(len(rows), 1)
    f = Frame(frame.width, height, frame.left, frame.right, frame.top, frame.bottom)
    xs = TimeScale(axis.start, axis.end, f.plot_left, f.plot_right)
    body = []
    for i, row in enumerate(rows):
        y = f.plot_top + i * ROW_HEIGHT
        body.append(text(f.plot_left - 6, y + ROW_HEIGHT / 2 + 4, row, size=10.5, anchor="end", cls="row-label"))
        if i:
            body.append(f'<line x1="{num(f.plot_left)}" y1="{num(y)}" x2="{num(f.plot_right)}" y2="{num(y)}" '
                        'stroke="#eee"/>')
    shown = []
    for b in bars:
        end = b.end or axis.end
        if end < axis.start or b.start > axis.end:
            continue
        shown.append(b)
        i = rows.index(b.row)
        y = f.plot_top + i * ROW_HEIGHT + 4
        x0, x1 = xs(max(b.start, axis.start)), xs(min(end, axis.end))
        w = max(x1 - x0, 2.0)
        ongoing = b.end is None or b.end > axis.end
        fill, pat = _BAR_FILLS[i % len(_BAR_FILLS)], _BAR_PATTERNS[i % len(_BAR_PATTERNS)]
        dash = f' stroke-dasharray="{pat}"' if pat else ""
        label = f"{b.row} {b.text}".strip() + f": {_fmt_time(b.start)} to " + ("ongoing" if b.end is None
                                                                              else _fmt_time(b.end))
        body.append(f'<rect x="{num(x0)}" y="{num(y)}" width="{num(w)}" height="{ROW_HEIGHT - 8}" fill="{fill}" '
                    f'stroke="#333"{dash} class="course"><title>{esc(label)}</title></rect>')
        if ongoing:
            yc = y + (ROW_HEIGHT - 8) / 2
            body.append(f'<path d="M{num(x1)},{num(yc - 6)} L{num(x1 + 7)},{num(yc)} L{num(x1)},{num(yc + 6)} Z" '
                        'fill="#333"/>')
        words = b.text + (" (ongoing)" if ongoing and b.text else ("ongoing" if ongoing else ""))
        if words and w >= 6 * len(words):
            body.append(text(x0 + 4, y + ROW_HEIGHT - 12, words, size=9.5))
    body += _x_axis(xs, f, axis.label)
    body += _markers(markers, xs, f, labels=False)  # named on the lab panels above; here a line with its <title>
    desc = (f"Treatment {_fmt_time(axis.start)} to {_fmt_time(axis.end)}: "
            + ("; ".join(f"{b.row} {b.text}".strip() + " from " + _fmt_time(b.start) + " to "
                         + ("ongoing" if b.end is None else _fmt_time(b.end)) for b in shown) or "no treatment recorded")
            + "." + (f" {note}" if note else ""))
    return svg_document(f.width, f.height, title, desc, body, kind="tx")
