"""Self-contained HTML screening report with hand-drawn inline SVG (no plotting library).

Counts by alert level, agreement between instruments, score distributions, example
timelines, the unit report and (with ground truth) sensitivity/PPV/lead time. Every page
says SYNTHETIC when the data are synthetic. Presentation only: nothing is decided here.
"""

from __future__ import annotations

import datetime as _dt
import html
import math

import numpy as np
import pyarrow as pa

from .. import alerts
from ..instruments import INSTRUMENTS
from ..instruments.hscore import CUTOFF as HSCORE_CUTOFF, MAX_SCORE as HSCORE_MAX

_LEVEL_COLOURS = ("#9e9e9e", "#f2c200", "#f28c28", "#d32f2f")
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right}
th{background:#f4f4f4} td.l,th.l{text-align:left}
.synthetic{background:#b71c1c;color:#fff;font-weight:bold;padding:.5em 1em;margin:1em 0;letter-spacing:.05em}
.note{color:#555;font-size:.9em} svg{display:block;margin:.5em 0}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _bar_chart(labels, values, colours=None, width=520, height=180, title="") -> str:
    n = len(values)
    vmax = max(max(values), 1)
    bw = (width - 60) / max(n, 1)
    parts = [f'<svg width="{width}" height="{height + 40}" role="img" aria-label="{_e(title)}">']
    for i, (lab, v) in enumerate(zip(labels, values)):
        h = (height - 20) * v / vmax
        x = 50 + i * bw
        c = colours[i] if colours else "#4a78b5"
        parts.append(f'<rect x="{x + 4:.1f}" y="{height - h:.1f}" width="{bw - 8:.1f}" height="{h:.1f}" fill="{c}"/>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{height - h - 4:.1f}" font-size="11" text-anchor="middle">{v:,}</text>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{height + 14:.1f}" font-size="11" text-anchor="middle">{_e(lab)}</text>')
    parts.append(f'<line x1="50" y1="{height}" x2="{width - 10}" y2="{height}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def _histogram(counts, low, high, xlabel, width=520, height=160) -> str:
    counts = list(counts)
    n = len(counts)
    vmax = max(max(counts), 1) if counts else 1
    bw = (width - 60) / max(n, 1)
    parts = [f'<svg width="{width}" height="{height + 40}" role="img" aria-label="{_e(xlabel)}">']
    for i, v in enumerate(counts):
        h = (height - 10) * v / vmax
        parts.append(f'<rect x="{50 + i * bw:.1f}" y="{height - h:.1f}" width="{max(bw - 1, 1):.1f}" '
                     f'height="{h:.1f}" fill="#4a78b5"><title>{v:,}</title></rect>')
    parts.append(f'<line x1="50" y1="{height}" x2="{width - 10}" y2="{height}" stroke="#333"/>')
    for frac in (0, 0.5, 1):
        x = 50 + frac * (width - 60)
        parts.append(f'<text x="{x:.1f}" y="{height + 14}" font-size="11" text-anchor="middle">'
                     f'{low + frac * (high - low):g}</text>')
    parts.append(f'<text x="{width / 2:.0f}" y="{height + 32}" font-size="11" text-anchor="middle">{_e(xlabel)}</text>')
    parts.append(f'<text x="45" y="12" font-size="11" text-anchor="end">{vmax:,}</text></svg>')
    return "".join(parts)


def _timeline(series: dict, title: str, width=700, height=170) -> str:
    t = np.array([x.timestamp() for x in series["time"]], dtype=np.float64)
    if t.size == 0:
        return ""
    t0, t1 = float(t.min()), float(t.max())
    span = max(t1 - t0, 1.0)
    x = 50 + (t - t0) / span * (width - 70)
    parts = [f'<svg width="{width}" height="{height + 30}" role="img" aria-label="{_e(title)}">']
    lev = np.array(series["alert_level"], dtype=np.int64)
    for xi, lv in zip(x, lev):
        parts.append(f'<rect x="{xi - 2:.1f}" y="{height - 12}" width="4" height="10" fill="{_LEVEL_COLOURS[lv]}"/>')
    hs = np.array([np.nan if v is None else v for v in series["hscore__score_min"]], dtype=np.float64)
    ok = ~np.isnan(hs)
    if ok.any():
        y = height - 20 - hs / HSCORE_MAX * (height - 40)
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x[ok], y[ok]))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#4a78b5" stroke-width="1.5"/>')
        y_cut = height - 20 - HSCORE_CUTOFF / HSCORE_MAX * (height - 40)
        parts.append(f'<line x1="50" y1="{y_cut:.1f}" x2="{width - 20}" y2="{y_cut:.1f}" stroke="#d32f2f" '
                     f'stroke-dasharray="4 3"/><text x="48" y="{y_cut:.1f}" font-size="10" '
                     f'text-anchor="end">{HSCORE_CUTOFF}</text>')
    d0 = _dt.datetime.fromtimestamp(t0, _dt.timezone.utc).strftime("%Y-%m-%d")
    d1 = _dt.datetime.fromtimestamp(t1, _dt.timezone.utc).strftime("%Y-%m-%d")
    parts.append(f'<text x="50" y="{height + 14}" font-size="11">{d0}</text>'
                 f'<text x="{width - 20}" y="{height + 14}" font-size="11" text-anchor="end">{d1}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _agreement_table(names, both, diag_label) -> str:
    rows = ['<table><tr><th class="l"></th>' + "".join(f"<th>{_e(n)}</th>" for n in names) + "</tr>"]
    for i, a in enumerate(names):
        cells = []
        for j in range(len(names)):
            union = both[i][i] + both[j][j] - both[i][j]
            if i == j:
                cells.append(f"<td><b>{both[i][i]:,}</b></td>")
            else:
                jac = both[i][j] / union if union else math.nan
                cells.append(f"<td>{'–' if math.isnan(jac) else f'{jac:.2f}'}</td>")
        rows.append(f'<tr><th class="l">{_e(a)}</th>' + "".join(cells) + "</tr>")
    rows.append("</table>")
    return (f'<p class="note">Diagonal: {diag_label} with the instrument met. Off-diagonal: agreement as '
            "Jaccard index (both met / either met).</p>" + "".join(rows))


def _table(t: pa.Table, limit: int = 50, total: int | None = None) -> str:
    cols = t.column_names
    out = ["<table><tr>" + "".join(f'<th class="l">{_e(c)}</th>' for c in cols) + "</tr>"]
    for r in t.slice(0, limit).to_pylist():
        out.append("<tr>" + "".join(f'<td class="l">{_e("" if r[c] is None else r[c])}</td>' for c in cols) + "</tr>")
    out.append("</table>")
    total = t.num_rows if total is None else total
    if total > min(limit, t.num_rows):
        out.append(f'<p class="note">{total - min(limit, t.num_rows):,} more rows in the CSV/Parquet files.</p>')
    return "".join(out)


def render_report(*, summary, episodes: pa.Table, episode_rows: int, unit_report: pa.Table, metrics: dict | None,
                  synthetic: bool, context: dict) -> str:
    s = summary.to_json()
    banner = ('<div class="synthetic">SYNTHETIC DATA — generated patients, not real people. '
              "Every number on this page describes synthetic data.</div>") if synthetic else ""
    run_time = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>maswatch screening report{' (SYNTHETIC)' if synthetic else ''}</h1>", banner,
            f'<p class="note">Run {run_time}. Source: {_e(context.get("source", ""))} '
            f'({_e(context.get("kind", ""))}), engine {_e(context.get("engine", ""))}. '
            "Decision support only: an episode is evidence for a clinician to review, not a diagnosis. "
            "Alert levels are maswatch's composition of published instruments and HEURISTIC trend signals "
            "(criteria.md §8, not validated); episodes use an ASSUMPTION gap "
            f'({_e(context.get("episode_gap_hours", ""))} h).</p>']
    body.append("<h2>Counts by alert level</h2>")
    body.append(f"<p>{s['points']:,} evaluation points, {s['patients']:,} patients, {s['episodes']:,} episodes "
                f"(level ≥ {_e(context.get('episode_min_level', 'concern'))}); "
                f"{s['preliminary_points']:,} points use a preliminary result.</p>")
    body.append("<h3>Patients by peak alert level</h3>")
    body.append(_bar_chart(list(alerts.LEVELS), list(s["patients_by_peak_alert_level"].values()), _LEVEL_COLOURS))
    body.append("<h3>Evaluation points by alert level</h3>")
    body.append(_bar_chart(list(alerts.LEVELS), list(s["points_by_alert_level"].values()), _LEVEL_COLOURS))
    body.append("<h2>Instruments</h2><table><tr><th class='l'>instrument</th><th>met</th><th>indeterminate</th>"
                "<th>not met</th><th class='l'>reference</th></tr>")
    for iid, v in s["verdicts"].items():
        body.append(f"<tr><td class='l'>{_e(iid)}</td><td>{v['met']:,}</td><td>{v['indeterminate']:,}</td>"
                    f"<td>{v['not_met']:,}</td><td class='l'>{_e(INSTRUMENTS[iid].SPEC.reference)}</td></tr>")
    body.append("</table>")
    body.append("<h2>Agreement between instruments</h2><h3>Patients (met at any point)</h3>")
    body.append(_agreement_table(s["instruments"], s["both_met_patients"], "patients"))
    body.append("<h3>Evaluation points</h3>")
    body.append(_agreement_table(s["instruments"], s["both_met_points"], "points"))
    body.append("<h2>Score distributions (guaranteed lower bound of each score)</h2>")
    labels = {"hscore__score_min": "HScore", "ms_score__score_min": "MS score",
              "mh_score__score_min": "MH score", "ferritin_esr__ratio_min": "log10 ferritin:ESR ratio"}
    for col, h in s["histograms"].items():
        body.append(f"<h3>{_e(labels.get(col, col))}</h3>" + _histogram(h["counts"], h["low"], h["high"], labels.get(col, col)))
    body.append("<h2>Example timelines</h2><p class='note'>The most severe episodes: HScore lower bound (line, "
                f"dashed = {HSCORE_CUTOFF} cut-off) and alert level per point (ticks: grey none, yellow watch, orange concern, "
                "red alert).</p>")
    for ex in summary.examples:
        ep = ex["episode"]
        title = f"{ep['patient_id']} episode {ep['episode']} (peak {alerts.LEVELS[ep['peak_alert_level']]})"
        body.append(f"<h3>{_e(title)}{' — SYNTHETIC' if synthetic else ''}</h3>" + _timeline(ex["series"], title))
    if metrics is not None:
        body.append(f"<h2>Sensitivity, PPV and lead time — {_e(metrics['label'])}</h2>")
        body.append(f"<p class='note'>{metrics['mas_labels']:,} labelled MAS episodes (ground truth from the "
                    "generator; SYNTHETIC). Definitions are ASSUMPTIONS (docs/screening.md): "
                    f"{_e(metrics['definitions'])}.</p>")
        body.append("<table><tr><th class='l'>instrument / level</th><th>sensitivity</th><th>PPV</th>"
                    "<th>detected</th><th>screen-positive episodes</th><th>lead time h (median [IQR])</th></tr>")
        for key, m in metrics["by"].items():
            lead = "–" if m["lead_time_hours_median"] is None else \
                f"{m['lead_time_hours_median']:g} [{m['lead_time_hours_p25']:g}, {m['lead_time_hours_p75']:g}]"
            fmt = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
            body.append(f"<tr><td class='l'>{_e(key)}</td><td>{fmt(m['sensitivity'])}</td><td>{fmt(m['ppv'])}</td>"
                        f"<td>{m['detected']:,}</td><td>{m['screen_positive_episodes']:,}</td><td>{lead}</td></tr>")
        body.append("</table>")
    body.append("<h2>Dropped rows (unit report)</h2><p class='note'>Rows the sources layer could not use "
                "(unknown unit, unmapped code, …), by source code and unit. Units are never guessed.</p>")
    body.append(_table(unit_report) if unit_report.num_rows else "<p>No rows dropped.</p>")
    body.append("<h2>Episodes</h2>" + (_table(episodes.select(
        ["patient_id", "episode", "start", "end", "peak_alert", "peak_hscore", "peak_ms_score", "notifications"]),
        total=episode_rows) if episodes.num_rows else "<p>No episodes.</p>"))
    body.append(banner)
    title = "maswatch screening report" + (" — SYNTHETIC" if synthetic else "")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")
