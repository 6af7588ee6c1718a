"""A time-series panel: x = time, linear or log y, several series, cut-offs, bands, markers.

``time_series_chart(...) -> str`` is pure (data in, SVG string out). Series are told apart
by dash pattern and marker shape as well as colour, every threshold and band carries its
label in text, and the <desc> states the values drawn, so the chart reads in print, in
greyscale and to a screen reader.
"""

from __future__ import annotations

import datetime as _dt
from typing import Sequence

import numpy as np

from .model import STYLES, Frame, Marker, Series, Style, Threshold, TimeAxis, TimeBand
from .scales import LinearScale, LogScale, TimeScale
from .svg import attrs, chart_ids, colour, dash, esc, num, number_label, svg_document, text

_AXIS = "#222"
_GRID = "#e3e3e3"
_THRESHOLD = "#8b0000"
MAX_RANGE_BARS = 40
"""Above this many points a range series shows its band only (each point keeps a hover title)."""


def time_series_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    unit: str,
    axis: TimeAxis,
    log: bool = False,
    zero: bool = True,
    thresholds: Sequence[Threshold] = (),
    bands: Sequence[TimeBand] = (),
    markers: Sequence[Marker] = (),
    note: str = "",
    frame: Frame = Frame(),
) -> str:
    """One panel. Values outside ``axis`` are not drawn; on a log scale values <= 0 cannot be
    drawn and are counted in the description. The y range covers the data and the thresholds
    (and 0 on a linear scale unless ``zero`` is false, e.g. body temperature)."""
    xs = TimeScale(axis.start, axis.end, frame.plot_left, frame.plot_right)
    cols = [_columns(s, xs) for s in series]
    pool = [c[k] for c in cols for k in ("v", "lo", "hi")] + [np.array([t.value for t in thresholds], float)]
    allv = np.concatenate([p for p in pool if p.size]) if any(p.size for p in pool) else np.zeros(0)
    ys = (LogScale.covering(allv, frame.plot_bottom, frame.plot_top) if log
          else LinearScale.covering(allv, frame.plot_bottom, frame.plot_top, zero=zero))
    desc = _describe(series, cols, thresholds, bands, markers, axis, y_label, unit, log, note)
    clip_id = chart_ids("clip", title, desc)[0]
    body = [f'<defs><clipPath id="{clip_id}"><rect x="{num(frame.plot_left)}" y="{num(frame.plot_top)}" '
            f'width="{num(frame.plot_right - frame.plot_left)}" height="{num(frame.plot_bottom - frame.plot_top)}"/>'
            "</clipPath></defs>"]
    body += _bands(bands, xs, frame)
    body += _y_axis(ys, frame, y_label, unit, log)
    body += _x_axis(xs, frame, axis.label)
    body += _thresholds(thresholds, ys, frame, unit)
    body.append(f'<g clip-path="url(#{clip_id})">')
    for i, (s, c) in enumerate(zip(series, cols)):
        body += _draw_series(s, c, ys, STYLES[i % len(STYLES)])
    body.append("</g>")
    body += _markers(markers, xs, frame)
    body += _legend(series, frame)
    return svg_document(frame.width, frame.height, title, desc, body, kind="ts",
                        id_seed=(axis.start.isoformat(), axis.end.isoformat()))


# ------------------------------------------------------------------------ data

def _col(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _columns(s: Series, xs: TimeScale) -> dict:
    inside = np.array([xs.contains(t) for t in s.times], dtype=bool)
    x = np.array([xs(t) for t in s.times], dtype=np.float64) if len(s.times) else np.zeros(0)
    cen = np.array(s.censored if s.censored is not None else [False] * len(s.times), dtype=bool)
    out = {"inside": inside, "x": x[inside], "censored": cen[inside],
           "times": [t for t, k in zip(s.times, inside) if k]}
    if s.is_range:
        out["v"] = np.zeros(0)
        out["lo"], out["hi"] = _col(s.low)[inside], _col(s.high)[inside]
    else:
        out["v"] = _col(s.values)[inside]
        out["lo"] = out["hi"] = np.zeros(0)
    return out


def _drawable(v: np.ndarray, log: bool) -> np.ndarray:
    return np.isfinite(v) & (v > 0) if log else np.isfinite(v)


# ------------------------------------------------------------------------ axes

def _y_axis(ys, frame: Frame, y_label: str, unit: str, log: bool) -> list[str]:
    out = []
    for t in ys.ticks():
        y = float(ys(t))
        out.append(f'<line x1="{num(frame.plot_left)}" y1="{num(y)}" x2="{num(frame.plot_right)}" y2="{num(y)}" '
                   f'stroke="{_GRID}" stroke-width="1"/>')
        out.append(text(frame.plot_left - 6, y + 4, number_label(t), size=10.5, anchor="end"))
    out.append(f'<line x1="{num(frame.plot_left)}" y1="{num(frame.plot_top)}" x2="{num(frame.plot_left)}" '
               f'y2="{num(frame.plot_bottom)}" stroke="{_AXIS}"/>')
    label = f"{y_label} ({unit}{', log scale' if log else ''})" if unit else y_label + (" (log scale)" if log else "")
    mid = (frame.plot_top + frame.plot_bottom) / 2
    out.append(text(frame.plot_left - 64, mid, label, size=11, anchor="middle", rotate=-90, cls="y-label"))
    return out


def _x_axis(xs: TimeScale, frame: Frame, label: str) -> list[str]:
    out = [f'<line x1="{num(frame.plot_left)}" y1="{num(frame.plot_bottom)}" x2="{num(frame.plot_right)}" '
           f'y2="{num(frame.plot_bottom)}" stroke="{_AXIS}"/>']
    ticks, fmt = xs.ticks()
    for t in ticks:
        x = xs(t)
        out.append(f'<line x1="{num(x)}" y1="{num(frame.plot_bottom)}" x2="{num(x)}" y2="{num(frame.plot_bottom + 4)}" '
                   f'stroke="{_AXIS}"/>')
        out.append(text(x, frame.plot_bottom + 16, t.strftime(fmt), size=10.5, anchor="middle"))
    out.append(text((frame.plot_left + frame.plot_right) / 2, frame.height - 6, label, size=11, anchor="middle",
                    cls="x-label"))
    return out


def _thresholds(thresholds: Sequence[Threshold], ys, frame: Frame, unit: str) -> list[str]:
    out, placed = [], []
    for th in sorted(thresholds, key=lambda t: -t.value):
        y = float(ys(th.value))
        out.append(f'<line x1="{num(frame.plot_left)}" y1="{num(y)}" x2="{num(frame.plot_right)}" y2="{num(y)}" '
                   f'stroke="{_THRESHOLD}" stroke-width="1.2" stroke-dasharray="7 4" class="threshold">'
                   f"<title>{esc(_threshold_text(th, unit))}</title></line>")
        ly = y + 4
        for p in placed:  # keep labels of close thresholds apart (11 px)
            if abs(ly - p) < 11:
                ly = p + 11
        placed.append(ly)
        shown = f"{number_label(th.value)}{f' ({th.alt})' if th.alt else ''} {th.label}"
        out.append(text(frame.plot_right + 4, ly, shown, size=10, fill=_THRESHOLD,
                        cls="threshold-label"))
    return out


def _bands(bands: Sequence[TimeBand], xs: TimeScale, frame: Frame) -> list[str]:
    out = []
    for b in bands:
        if b.end < xs.start or b.start > xs.end or colour(b.fill) == "none":
            continue
        x0, x1 = xs(max(b.start, xs.start)), xs(min(b.end, xs.end))
        w = max(x1 - x0, 1.5)
        out.append(f'<rect x="{num(x0)}" y="{num(frame.plot_top)}" width="{num(w)}" '
                   f'height="{num(frame.plot_bottom - frame.plot_top)}" fill="{b.fill}" class="band">'
                   f"<title>{esc(b.label)}: {esc(_span(b.start, b.end))}</title></rect>")
        if w >= 7 * len(b.label):  # the band says what it is, not only its colour
            out.append(text(x0 + 3, frame.plot_bottom - 4, b.label, size=9.5, fill="#444", halo=True, cls="band-label"))
    return out


def _markers(markers: Sequence[Marker], xs: TimeScale, frame: Frame, labels: bool = True) -> list[str]:
    out = []
    for i, m in enumerate(markers):
        if not xs.contains(m.time):
            continue
        x = xs(m.time)
        out.append(f'<line x1="{num(x)}" y1="{num(frame.plot_top)}" x2="{num(x)}" y2="{num(frame.plot_bottom)}" '
                   f'stroke="#000" stroke-width="1.2" stroke-dasharray="3 2" class="marker">'
                   f"<title>{esc(m.label)}: {esc(_fmt_time(m.time))}</title></line>")
        if labels:
            out.append(text(x + 3, frame.plot_top + 11 + 12 * (i % 2), m.label, size=10, weight="bold", halo=True,
                            cls="marker-label"))
    return out


def _legend(series: Sequence[Series], frame: Frame) -> list[str]:
    out, x = [], frame.plot_left
    for i, s in enumerate(series):
        st = STYLES[i % len(STYLES)]
        y = frame.plot_top - 12
        if s.is_range:
            out.append(f'<rect x="{num(x)}" y="{num(y - 5)}" width="22" height="10" fill="{st.stroke}" '
                       f'fill-opacity="0.15" stroke="{st.stroke}"{_dash_attr(st.dash)}/>')
        else:
            out.append(f'<line x1="{num(x)}" y1="{num(y)}" x2="{num(x + 22)}" y2="{num(y)}" stroke="{st.stroke}" '
                       f'stroke-width="1.6"{_dash_attr(st.dash)}/>')
            out.append(_marker_shape(st, x + 11, y, False, cls="legend-mark"))
        label = s.label + (" (lowest–highest possible)" if s.is_range else "")
        out.append(text(x + 27, y + 4, label, size=10.5, cls="legend"))
        x += 40 + 6.2 * len(label)
    return out


# ------------------------------------------------------------------------ series

def _dash_attr(d: str) -> str:
    return f' stroke-dasharray="{dash(d)}"' if d else ""


def _marker_shape(st: Style, x: float, y: float, hollow: bool, title: str | None = None, cls: str = "point") -> str:
    fill = "#fff" if hollow else st.stroke
    t = f"<title>{esc(title)}</title>" if title else ""
    a = f' fill="{fill}" stroke="{colour(st.stroke)}" stroke-width="1.3" class="{cls}"'
    if st.marker == "square":
        return f'<rect x="{num(x - 3.2)}" y="{num(y - 3.2)}" width="6.4" height="6.4"{a}>{t}</rect>'
    if st.marker == "triangle":
        return f'<path d="M{num(x)},{num(y - 4.2)} L{num(x + 4)},{num(y + 3)} L{num(x - 4)},{num(y + 3)} Z"{a}>{t}</path>'
    if st.marker == "diamond":
        return f'<path d="M{num(x)},{num(y - 4.5)} L{num(x + 4)},{num(y)} L{num(x)},{num(y + 4.5)} L{num(x - 4)},{num(y)} Z"{a}>{t}</path>'
    return f'<circle cx="{num(x)}" cy="{num(y)}" r="3.3"{a}>{t}</circle>'


def _runs(ok: np.ndarray) -> list[np.ndarray]:
    """Index runs of consecutive drawable points (a missing value breaks the line)."""
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1) + 1
    return np.split(idx, breaks)


def _polyline(x, y, st: Style, width: float = 1.6, extra: str = "") -> str:
    pts = " ".join(f"{num(a)},{num(b)}" for a, b in zip(x, y))
    return f'<polyline points="{pts}" fill="none" stroke="{st.stroke}" stroke-width="{width}"{_dash_attr(st.dash)}{extra}/>'


def _draw_series(s: Series, c: dict, ys, st: Style) -> list[str]:
    out = [f"<g{attrs(class_='series', aria_label=s.label)}>"]
    log = ys.log
    if s.is_range:
        lo, hi = c["lo"], c["hi"]
        ok = _drawable(lo, log) & _drawable(hi, log)
        for run in _runs(ok):
            x, ylo, yhi = c["x"][run], ys(lo[run]), ys(hi[run])
            pts = " ".join(f"{num(a)},{num(b)}" for a, b in zip(np.r_[x, x[::-1]], np.r_[yhi, ylo[::-1]]))
            out.append(f'<polygon points="{pts}" fill="{st.stroke}" fill-opacity="0.13" stroke="none"/>')
            out.append(_polyline(x, yhi, Style(st.stroke, "5 3", st.marker), 1.2))
            out.append(_polyline(x, ylo, Style(st.stroke, "", st.marker), 1.8))
        dense = int(ok.sum()) > MAX_RANGE_BARS
        for k in np.flatnonzero(ok):  # each point: a bar from lowest to highest possible, with its values
            t = c["times"][k]
            label = (f"{s.label} {_fmt_time(t)}: " + (number_label(lo[k]) if lo[k] == hi[k]
                     else f"{number_label(lo[k])} to {number_label(hi[k])}"))
            out.append(f'<line x1="{num(c["x"][k])}" y1="{num(float(ys(lo[k])))}" x2="{num(c["x"][k])}" '
                       f'y2="{num(float(ys(hi[k])))}" stroke="{st.stroke}" stroke-width="{6 if dense else 1}" '
                       f'stroke-opacity="{0 if dense else 0.6}"><title>{esc(label)}</title></line>')
    else:
        v = c["v"]
        ok = _drawable(v, log)
        for run in _runs(ok):
            if run.size > 1:
                out.append(_polyline(c["x"][run], ys(v[run]), st))
        for k in np.flatnonzero(ok):
            t = c["times"][k]
            cen = bool(c["censored"][k])
            label = f"{s.label} {_fmt_time(t)}: {'censored, beyond ' if cen else ''}{number_label(v[k])}"
            out.append(_marker_shape(st, float(c["x"][k]), float(ys(v[k])), cen, label))
    out.append("</g>")
    return out


# ------------------------------------------------------------------------ text

def _fmt_time(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _span(a: _dt.datetime, b: _dt.datetime) -> str:
    return f"{_fmt_time(a)} to {_fmt_time(b)}"


def _threshold_text(th: Threshold, unit: str) -> str:
    return f"{number_label(th.value)} {unit}{f' = {th.alt}' if th.alt else ''}: {th.label}"


def _describe(series, cols, thresholds, bands, markers, axis, y_label, unit, log, note) -> str:
    parts = [f"{y_label} in {unit}{' on a log scale' if log else ''}, {_span(axis.start, axis.end)}."]
    for s, c in zip(series, cols):
        if s.is_range:
            ok = np.isfinite(c["lo"]) & np.isfinite(c["hi"])
            if ok.any():
                parts.append(f"{s.label}: {int(ok.sum())} points, lowest possible {number_label(np.nanmin(c['lo']))}"
                             f" to highest possible {number_label(np.nanmax(c['hi']))}.")
            else:
                parts.append(f"{s.label}: no values in this window.")
        else:
            v = c["v"]
            ok = np.isfinite(v)
            if ok.any():
                parts.append(f"{s.label}: {int(ok.sum())} values from {number_label(np.nanmin(v))} to "
                             f"{number_label(np.nanmax(v))}, last {number_label(v[ok][-1])}.")
            else:
                parts.append(f"{s.label}: no values in this window.")
            if log and (ok & ~(v > 0)).any():
                parts.append(f"{int((ok & ~(v > 0)).sum())} values of {s.label} at or below 0 cannot be drawn "
                             "on a log scale.")
    if thresholds:
        parts.append("Cut-offs: " + "; ".join(_threshold_text(t, unit) for t in thresholds) + ".")
    bands = [b for b in bands if b.end >= axis.start and b.start <= axis.end]  # what the reader can see
    markers = [m for m in markers if axis.start <= m.time <= axis.end]
    if bands:
        parts.append("Shaded: " + "; ".join(f"{b.label} {_span(max(b.start, axis.start), min(b.end, axis.end))}"
                                            for b in bands) + ".")
    if markers:
        parts.append("Marked: " + "; ".join(f"{m.label} {_fmt_time(m.time)}" for m in markers) + ".")
    if note:
        parts.append(note)
    return " ".join(parts)


def level_bands(times: Sequence[_dt.datetime], levels: Sequence[str], end: _dt.datetime,
                fills: dict[str, str]) -> list[TimeBand]:
    """Alert level over time as bands: each level holds from its time until the next change."""
    out: list[TimeBand] = []
    for i, (t, lv) in enumerate(zip(times, levels)):
        if out and out[-1].label == lv:
            continue
        if out:
            out[-1] = TimeBand(out[-1].start, t, out[-1].label, out[-1].fill)
        out.append(TimeBand(t, end, lv, fills.get(lv, "none")))
    return [b for b in out if b.fill != "none" and b.end > b.start]

