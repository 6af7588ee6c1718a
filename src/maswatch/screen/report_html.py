"""Self-contained HTML screening report; charts are inline SVG from :mod:`maswatch.render`.

Counts by alert level, agreement between instruments, score distributions (incomplete
points counted apart), the most severe episodes each drawn over its own window (key labs
with the instruments' cut-offs, the HScore as its possible range, the alert level behind),
the unit report and (with ground truth) sensitivity/PPV/lead time. Every page says
SYNTHETIC when the data are synthetic. Presentation only: nothing is decided here.
"""

from __future__ import annotations

import datetime as _dt
import html
import math

import pyarrow as pa

from .. import alerts
from ..analytes import get as analyte
from ..display import unit_text
from ..instruments import INSTRUMENTS
from ..render import (LEVEL_FILLS, Marker, Series, Threshold, TimeAxis, bar_chart, histogram, level_bands,
                      time_series_chart)
from ..render.cutoffs import HSCORE, SCORE_CUTOFFS, cutoffs

_LEVEL_COLOURS = ("#9e9e9e", "#f2c200", "#f28c28", "#d32f2f")
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
svg[role=img]{max-width:100%;height:auto}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right}
th{background:#f4f4f4} td.l,th.l{text-align:left}
.synthetic{background:#b71c1c;color:#fff;font-weight:bold;padding:.5em 1em;margin:1em 0;letter-spacing:.05em}
.note{color:#555;font-size:.9em} svg{display:block;margin:.5em 0}
.episode{break-inside:avoid-page}
@media print{.synthetic{border:3px solid #000;color:#000;background:#fff} h2{break-after:avoid}}
"""
WINDOW_BEFORE = _dt.timedelta(days=7)
WINDOW_AFTER = _dt.timedelta(days=14)
"""Each example episode is drawn from 7 days before its start to 14 days after its end, clipped
to the patient's data: the build-up, the episode and the response."""
EPISODE_LABS = (("ferritin", True), ("platelets", False), ("fibrinogen", False), ("ast", True))
"""The key labs of an episode chart (analyte id, log scale): the 2016 criteria's laboratory items.
Ferritin and AST span orders of magnitude in MAS, so a log scale keeps their cut-offs readable."""


def _e(x) -> str:
    return html.escape(str(x))


def _window(times: list, start: _dt.datetime, end: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime]:
    lo, hi = max(start - WINDOW_BEFORE, times[0]), min(end + WINDOW_AFTER, times[-1])
    if hi <= lo:  # a single point: an hour either side, so the axis has a width
        lo, hi = lo - _dt.timedelta(hours=1), hi + _dt.timedelta(hours=1)
    return lo, hi


def _first_of_each_value(times: list, values: list, codes: list) -> tuple[list, list, list]:
    """The points carry the value in use at each evaluation time (carried forward within its
    look-back); draw each value once, at the first point that used it."""
    out_t, out_v, out_c, prev = [], [], [], object()
    for t, v, c in zip(times, values, codes):
        if v is not None and v != prev:
            out_t.append(t)
            out_v.append(v)
            out_c.append(bool(c) and (int(c) & 7) != 0)  # a comparator: the value is a bound, not a result
        prev = v
    return out_t, out_v, out_c


def _episode_charts(series: dict, episode: dict, synthetic: bool) -> str:
    times = list(series["time"])
    if not times:
        return "<p class='note'>No evaluation points kept for this episode.</p>"
    start, end = episode["start"], episode["end"]
    lo, hi = _window(times, start, end)
    axis = TimeAxis(lo, hi, "date (UTC)")
    levels = [alerts.LEVELS[int(x)] for x in series["alert_level"]]
    bands = level_bands(times, levels, times[-1], LEVEL_FILLS)
    markers = [Marker(start, f"episode {episode['episode']} start"), Marker(end, "end")]
    tag = " — SYNTHETIC" if synthetic else ""
    note = ("Background: alert level at each time (its name is written in the band). "
            "Each value is drawn once, at the first evaluation point that used it.")
    parts = []
    for aid, log in EPISODE_LABS:
        a = analyte(aid)
        t, v, c = _first_of_each_value(times, series[f"v__{aid}"], series[f"c__{aid}"])
        unit, name = unit_text(a.canonical_unit), a.label.split(" (")[0]  # "AST (aspartate ...)" -> "AST"
        parts.append(time_series_chart(
            [Series(name, t, v, censored=c)], title=f"{name}, {episode['patient_id']} episode "
            f"{episode['episode']}{tag}", y_label=name, unit=unit, axis=axis, log=log,
            thresholds=cutoffs(aid), bands=bands, markers=markers, note=note + (" SYNTHETIC data." if synthetic else "")))
    parts.append(time_series_chart(
        [Series("HScore", times, low=series["hscore__score_min"], high=series["hscore__score_max"])],
        title=f"HScore, {episode['patient_id']} episode {episode['episode']}{tag}", y_label="HScore", unit="points",
        axis=axis, thresholds=HSCORE, bands=bands, markers=markers,
        note="Shaded: the range of scores still possible given the missing inputs; solid line = lowest, "
             "dashed = highest possible." + (" SYNTHETIC data." if synthetic else "")))
    return "".join(parts)


def _histograms(hists: dict) -> str:
    out = ["<h2>Score distributions</h2><p class='note'>Each evaluation point whose laboratory inputs of the "
           "score are all present, counted by its lowest possible score (bars); the highest possible score "
           "differs only by bedside findings and marrow, which laboratory data cannot settle, and is given in "
           "the table. Points lacking a laboratory input are counted apart and not drawn: their lower bound "
           "would reflect what was not measured.</p>"]
    for col, h in hists.items():
        counts, n = h["counts"], len(h["counts"])
        edges = [h["low"] + i * (h["high"] - h["low"]) / n for i in range(n + 1)]
        drawn, missing, novalue = sum(counts), h["not_drawn_missing_lab_input"], h["not_drawn_no_value"]
        total = drawn + missing + novalue
        pct = f" ({missing / total:.0%} of points)" if total else ""
        out.append(f"<h3>{_e(h['label'])}</h3>")
        marks = SCORE_CUTOFFS.get(h.get("instrument", ""), ())
        if h.get("log10"):
            marks = tuple(Threshold(math.log10(m.value), f"{m.label}: ratio {m.value:g}") for m in marks)
        out.append(histogram(counts, edges, title=f"{h['label']}: evaluation points by lowest possible score",
                             x_label=f"{h['label']}, lowest possible", y_label="evaluation points", marks=marks,
                             not_drawn=[("missing a laboratory input", missing), ("no value", novalue)]))
        out.append(f"<p class='note'>{drawn:,} points drawn; {missing:,} points{pct} lack one of "
                   f"{_e(', '.join(h['lab_inputs']))} and are not drawn"
                   + (f"; {novalue:,} have no value" if novalue else "") + ".</p>")
    return "".join(out)


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
            "(docs/clinical/criteria.md §8, not validated); episodes use an ASSUMPTION gap "
            f'({_e(context.get("episode_gap_hours", ""))} h).</p>']
    body.append("<h2>Counts by alert level</h2>")
    body.append(f"<p>{s['points']:,} evaluation points, {s['patients']:,} patients, {s['episodes']:,} episodes "
                f"(level ≥ {_e(context.get('episode_min_level', 'concern'))}); "
                f"{s['preliminary_points']:,} points use a preliminary result.</p>")
    body.append("<h3>Patients by peak alert level</h3>")
    body.append(bar_chart(list(alerts.LEVELS), list(s["patients_by_peak_alert_level"].values()),
                          title="Patients by peak alert level", y_label="patients", x_label="peak alert level",
                          fills=_LEVEL_COLOURS))
    body.append("<h3>Evaluation points by alert level</h3>")
    body.append(bar_chart(list(alerts.LEVELS), list(s["points_by_alert_level"].values()),
                          title="Evaluation points by alert level", y_label="evaluation points", x_label="alert level",
                          fills=_LEVEL_COLOURS))
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
    body.append(_histograms(s["histograms"]))
    body.append("<h2>The most severe episodes</h2><p class='note'>Each episode over its own window: from "
                f"{WINDOW_BEFORE.days} days before its start to {WINDOW_AFTER.days} days after its end (clipped to the "
                "patient's data). Ferritin on a log scale; platelets, fibrinogen and AST; dashed red lines are the "
                "instruments' published cut-offs (labelled at the right; docs/clinical/criteria.md §1, §2, §3 and §7); the HScore is "
                "drawn as the range still possible while inputs are missing, with its cut-off; the background shows "
                "the alert level at each time, its name written in the band.</p>")
    for ex in summary.examples:
        ep = ex["episode"]
        title = (f"{ep['patient_id']} episode {ep['episode']}: {ep['start']:%Y-%m-%d %H:%M} to {ep['end']:%Y-%m-%d %H:%M}"
                 f" UTC (peak {alerts.LEVELS[ep['peak_alert_level']]})")
        body.append(f"<section class='episode'><h3>{_e(title)}{' — SYNTHETIC' if synthetic else ''}</h3>"
                    + _episode_charts(ex["series"], ep, synthetic) + "</section>")
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
