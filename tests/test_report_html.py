"""The screening HTML report: each episode charted over its own window, with axes, units and the
instruments' cut-offs; score histograms that keep incomplete points apart."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pytest

from maswatch.instruments import hscore, ravelli2016
from maswatch.screen.outputs import Summary
from maswatch.screen.points import value_col
from maswatch.screen.report_data import HISTOGRAMS, ScoreHistograms
from maswatch.screen.report_html import WINDOW_AFTER, WINDOW_BEFORE, render_report

UTC = dt.timezone.utc
SVG = "{http://www.w3.org/2000/svg}"


def _t(day: float, month: int = 5) -> dt.datetime:
    return dt.datetime(2024, month, 1, tzinfo=UTC) + dt.timedelta(days=day)


def _patient_series() -> dict:
    """One SYNTHETIC patient, two episodes two months apart, a result every 12 h around each
    (the values differ between the episodes, so a chart of the wrong window would show)."""
    times, rows = [], []
    for month, base in ((5, 1.0), (7, 3.0)):
        for k in range(-20, 50):
            t = _t(10 + k / 2, month)
            active = 0 <= k < 16
            times.append(t)
            rows.append(dict(
                alert_level=3 if active else (1 if k < 0 else 0),
                hscore__score_min=(150 + k) * base / 2 if active else 40.0,
                hscore__score_max=(220 + k) * base / 2 if active else 120.0,
                ms_score__score_min=None, ferritin_esr__ratio_min=None,
                v__ferritin=(8000.0 + 100 * k) * base if active else 300.0 * base + k,
                c__ferritin=0, v__platelets=(120.0 - k) if active else 250.0 + k, c__platelets=0,
                v__fibrinogen=(150.0 + k) if active else 400.0, c__fibrinogen=0,
                v__ast=(300.0 + 10 * k) * base if active else 30.0, c__ast=0))
    series = {"time": times}
    for key in rows[0]:
        series[key] = [r[key] for r in rows]
    return series


def _report(examples) -> str:
    s = Summary()
    s.examples = examples
    empty = pa.table({"source": pa.array([], pa.string()), "rows": pa.array([], pa.int64())})
    return render_report(summary=s, episodes=pa.table({}), episode_rows=0, unit_report=empty, metrics=None,
                         synthetic=True, context={"source": "cohort", "kind": "long", "engine": "duckdb"})


def _sections(html: str) -> list[str]:
    return re.findall(r"<section class='episode'>(.*?)</section>", html, re.S)


def _svgs(fragment: str) -> list[ET.Element]:
    return [ET.fromstring(x) for x in re.findall(r"<svg.*?</svg>", fragment, re.S)]


def _texts(root) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


def _episode(n: int, start: dt.datetime, end: dt.datetime) -> dict:
    return {"key": (n,), "episode": {"patient_id": "SYN-000001", "episode": n, "peak_alert_level": 3,
                                     "peak_hscore": 200.0, "start": start, "end": end}, "series": _patient_series()}


@pytest.fixture(scope="module")
def report() -> str:
    return _report([_episode(1, _t(10), _t(17.5)), _episode(2, _t(10, 7), _t(17.5, 7))])


def test_two_episodes_of_one_patient_give_different_charts(report):
    one, two = _sections(report)
    assert one != two
    s1, s2 = _svgs(one), _svgs(two)
    assert len(s1) == len(s2) == 5  # ferritin, platelets, fibrinogen, AST, HScore
    for a, b in zip(s1, s2):
        assert ET.tostring(a) != ET.tostring(b)
    desc1 = s1[0].find(SVG + "desc").text
    desc2 = s2[0].find(SVG + "desc").text
    start1 = (_t(10) - WINDOW_BEFORE).strftime("%Y-%m-%d %H:%M")
    end1 = (_t(17.5) + WINDOW_AFTER).strftime("%Y-%m-%d %H:%M")
    assert f"{start1} UTC to {end1} UTC" in desc1
    start2 = (_t(10, 7) - WINDOW_BEFORE).strftime("%Y-%m-%d %H:%M")
    assert f"{start2} UTC to" in desc2 and "2024-05-" not in desc2


def test_an_episode_chart_draws_only_its_window(report):
    one = _svgs(_sections(report)[0])[0]  # ferritin
    series = _patient_series()
    lo, hi = _t(10) - WINDOW_BEFORE, _t(17.5) + WINDOW_AFTER
    inside = [v for t, v in zip(series["time"], series["v__ferritin"]) if lo <= t <= hi]
    distinct = sum(1 for i, v in enumerate(inside) if i == 0 or v != inside[i - 1])
    points = [e for e in one.iter() if e.get("class") == "point"]
    assert len(points) == distinct and distinct < len(series["time"]) // 2


def test_episode_charts_have_axes_units_and_the_instruments_cut_offs(report):
    ferritin, platelets, fibrinogen, ast, hs = _svgs(_sections(report)[0])
    assert "Ferritin (ng/mL, log scale)" in _texts(ferritin)
    assert "Platelet count (×10⁹/L)" in _texts(platelets)
    assert "Fibrinogen (mg/dL)" in _texts(fibrinogen)
    assert "AST (U/L, log scale)" in _texts(ast)
    assert "HScore (points)" in _texts(hs)
    for root in (ferritin, platelets, fibrinogen, ast, hs):
        assert "date (UTC)" in _texts(root) and root.get("role") == "img"
        assert "SYNTHETIC" in root.find(SVG + "title").text
    assert f"{ravelli2016.FERRITIN_GT_NG_ML} 2016 sJIA-MAS (>)" in _texts(ferritin)
    assert f"{ravelli2016.PLATELETS_LE_1E9_L} 2016 sJIA-MAS (≤)" in _texts(platelets)
    assert f"{ravelli2016.FIBRINOGEN_LE_MG_DL} (3.6 g/L) 2016 sJIA-MAS (≤)" in _texts(fibrinogen)
    assert f"{ravelli2016.AST_GT_U_L} 2016 sJIA-MAS (>)" in _texts(ast)
    assert f"{hscore.CUTOFF} HScore cut-off (≥)" in _texts(hs)


def test_hscore_is_drawn_as_its_range_not_its_lower_bound(report):
    hs = _svgs(_sections(report)[0])[4]
    assert len(list(hs.iter(SVG + "polygon"))) == 1
    assert "HScore (lowest–highest possible)" in _texts(hs)
    desc = hs.find(SVG + "desc").text
    assert "lowest possible 40 to highest possible 120" in desc  # not the lower bound alone


def test_alert_level_band_is_named_in_text(report):
    ferritin = _svgs(_sections(report)[0])[0]
    assert "alert" in _texts(ferritin)
    assert "SYNTHETIC" in report and report.count("SYNTHETIC DATA") == 2


def _table(rows: dict) -> pa.Table:
    cols = {}
    for h in HISTOGRAMS:
        cols[h.low_col] = pa.array(rows.get(h.low_col, [1.0] * 4), pa.float64())
        cols[h.high_col] = pa.array(rows.get(h.high_col, [1.0] * 4), pa.float64())
        for a in h.lab_inputs:
            cols[value_col(a)] = pa.array(rows.get(value_col(a), [1.0] * 4), pa.float64())
    return pa.table(cols)


def test_histograms_count_incomplete_points_apart():
    hs = next(h for h in HISTOGRAMS if h.instrument == "hscore")
    assert "ferritin" in hs.lab_inputs and "fibrinogen" in hs.lab_inputs
    acc = ScoreHistograms()
    acc.add(_table({"hscore__score_min": [0.0, 0.0, 180.0, np.nan], "hscore__score_max": [60.0, 300.0, 215.0, np.nan],
                    "v__ferritin": [np.nan, 300.0, 9000.0, 500.0]}))
    j = acc.to_json()["hscore__score_min"]
    assert j["not_drawn_missing_lab_input"] == 1  # the point without ferritin is not drawn
    assert j["not_drawn_no_value"] == 1
    counts, high = np.array(j["counts"]), np.array(j["counts_highest_possible"])
    assert counts.sum() == high.sum() == 2
    assert counts[0] == 1 and counts[18] == 1  # 0 and 180 on 10-point bins
    assert high[30] == 1 and high[21] == 1


def test_report_states_what_the_histograms_leave_out():
    s = Summary()
    s.histograms.add(_table({"hscore__score_min": [10.0, 20.0, 30.0, 40.0], "v__ferritin": [np.nan, np.nan, 1.0, 1.0]}))
    html = render_report(summary=s, episodes=pa.table({}), episode_rows=0,
                         unit_report=pa.table({"rows": pa.array([], pa.int64())}), metrics=None, synthetic=True,
                         context={})
    assert "2 points (50% of points) lack one of ast, ferritin, fibrinogen, hemoglobin, platelets, triglycerides, wbc" \
        in html
    roots = _svgs(html)
    assert any("not drawn: missing a laboratory input: 2" in " ".join(_texts(r)) for r in roots)
