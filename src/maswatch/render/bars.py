"""Count charts: a bar chart of categories and a histogram with its missing values kept apart.

A histogram never folds missing values into a bin: they are passed separately and stated in
the description and under the axis, so a spike of incomplete records cannot dominate it.
"""

from __future__ import annotations

from typing import Sequence

from .model import Frame, Threshold
from .scales import LinearScale
from .svg import colour, esc, num, number_label, svg_document, text

_FILL = "#4a78b5"


def _count_axis(ys: LinearScale, f: Frame, y_label: str) -> list[str]:
    out = []
    for t in ys.ticks(5):
        if not float(t).is_integer():
            continue
        y = float(ys(t))
        out.append(f'<line x1="{num(f.plot_left)}" y1="{num(y)}" x2="{num(f.plot_right)}" y2="{num(y)}" stroke="#e3e3e3"/>')
        out.append(text(f.plot_left - 6, y + 4, number_label(t), size=10.5, anchor="end"))
    out.append(f'<line x1="{num(f.plot_left)}" y1="{num(f.plot_top)}" x2="{num(f.plot_left)}" y2="{num(f.plot_bottom)}" '
               'stroke="#222"/>')
    out.append(f'<line x1="{num(f.plot_left)}" y1="{num(f.plot_bottom)}" x2="{num(f.plot_right)}" '
               f'y2="{num(f.plot_bottom)}" stroke="#222"/>')
    out.append(text(f.plot_left - 44, (f.plot_top + f.plot_bottom) / 2, y_label, size=11, anchor="middle", rotate=-90,
                    cls="y-label"))
    return out


def bar_chart(labels: Sequence[str], values: Sequence[int], *, title: str, y_label: str, x_label: str,
              fills: Sequence[str] | None = None, frame: Frame = Frame(width=560, height=220, left=70, right=20)) -> str:
    """Counts per category, each bar labelled with its category and its count (not colour alone)."""
    if len(labels) != len(values):
        raise ValueError("bar_chart: labels and values differ in length")
    f = frame
    ys = LinearScale.covering(list(values) or [0], f.plot_bottom, f.plot_top)
    bw = (f.plot_right - f.plot_left) / max(len(values), 1)
    body = _count_axis(ys, f, y_label)
    for i, (lab, v) in enumerate(zip(labels, values)):
        x = f.plot_left + i * bw
        y = float(ys(v))
        fill = colour(fills[i]) if fills else _FILL
        body.append(f'<rect x="{num(x + 6)}" y="{num(y)}" width="{num(bw - 12)}" height="{num(f.plot_bottom - y)}" '
                    f'fill="{fill}" stroke="#333"><title>{esc(f"{lab}: {v:,}")}</title></rect>')
        body.append(text(x + bw / 2, y - 4, f"{v:,}", size=10.5, anchor="middle"))
        body.append(text(x + bw / 2, f.plot_bottom + 15, lab, size=10.5, anchor="middle"))
    body.append(text((f.plot_left + f.plot_right) / 2, f.height - 6, x_label, size=11, anchor="middle", cls="x-label"))
    desc = f"{y_label} by {x_label}: " + "; ".join(f"{lab} {v:,}" for lab, v in zip(labels, values)) + "."
    return svg_document(f.width, f.height, title, desc, body, kind="bar")


def histogram(counts: Sequence[int], edges: Sequence[float], *, title: str, x_label: str, y_label: str = "points",
              not_drawn: Sequence[tuple[str, int]] = (), marks: Sequence[Threshold] = (),
              frame: Frame = Frame(width=560, height=220, left=70, right=20, top=34)) -> str:
    """``counts[i]`` values in ``[edges[i], edges[i+1])``; ``not_drawn`` = (reason, count) kept apart;
    ``marks`` = cut-offs drawn as labelled vertical lines."""
    if len(edges) != len(counts) + 1:
        raise ValueError("histogram: need one more edge than counts")
    f = frame
    ys = LinearScale.covering(list(counts) or [0], f.plot_bottom, f.plot_top)
    lo, hi = float(edges[0]), float(edges[-1])
    xs = LinearScale(lo, hi, f.plot_left, f.plot_right)
    body = _count_axis(ys, f, y_label)
    for i, c in enumerate(counts):
        x0, x1 = float(xs(edges[i])), float(xs(edges[i + 1]))
        y = float(ys(c))
        body.append(f'<rect x="{num(x0)}" y="{num(y)}" width="{num(max(x1 - x0 - 1, 1))}" '
                    f'height="{num(f.plot_bottom - y)}" fill="{_FILL}">'
                    f"<title>{esc(f'{number_label(edges[i])} to {number_label(edges[i + 1])}: {c:,}')}</title></rect>")
    for t in xs.ticks(7):
        x = float(xs(t))
        body.append(f'<line x1="{num(x)}" y1="{num(f.plot_bottom)}" x2="{num(x)}" y2="{num(f.plot_bottom + 4)}" stroke="#222"/>')
        body.append(text(x, f.plot_bottom + 15, number_label(t), size=10.5, anchor="middle"))
    for i, m in enumerate(marks):
        if not lo <= m.value <= hi:
            continue
        x = float(xs(m.value))
        body.append(f'<line x1="{num(x)}" y1="{num(f.plot_top - 4)}" x2="{num(x)}" y2="{num(f.plot_bottom)}" '
                    f'stroke="#8b0000" stroke-width="1.2" stroke-dasharray="7 4" class="threshold">'
                    f"<title>{esc(f'{number_label(m.value)}: {m.label}')}</title></line>")
        body.append(text(x + 3, f.plot_top - 8 - 11 * (i % 2), f"{number_label(m.value)} {m.label}", size=10,
                         fill="#8b0000", halo=True, cls="threshold-label"))
    missing = "; ".join(f"{reason}: {n:,}" for reason, n in not_drawn if n)
    body.append(text((f.plot_left + f.plot_right) / 2, f.height - 6,
                     x_label + (f" — not drawn: {missing}" if missing else ""), size=11, anchor="middle", cls="x-label"))
    total = int(sum(counts))
    desc = (f"Histogram of {x_label}: {total:,} {y_label} drawn from {number_label(lo)} to {number_label(hi)}"
            + (f"; not drawn: {missing}" if missing else "")
            + "".join(f"; cut-off {number_label(m.value)} ({m.label})" for m in marks) + ".")
    return svg_document(f.width, f.height, title, desc, body, kind="hist")
