"""maswatch.render: accessible, escaped, correctly scaled SVG charts (pure functions)."""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings, strategies as st

from maswatch.instruments import hlh2004, hscore, ravelli2016
from maswatch.render import (LEVEL_FILLS, Frame, LinearScale, LogScale, Marker, Series, Threshold, TimeAxis,
                             TimeScale, TreatmentBar, bar_chart, histogram, level_bands, time_series_chart,
                             treatment_chart)
from maswatch.render.cutoffs import CUTOFFS, HSCORE, SCORE_CUTOFFS
from maswatch.render.svg import esc

NS = {"s": "http://www.w3.org/2000/svg"}
UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 1, tzinfo=UTC)
HOSTILE = '</text><script>alert("x")</script>&amp; <b onload="1">\x07'


def _t(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def _points(root) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == "point"]


def _texts(root) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def _accessible(root) -> None:
    assert root.get("role") == "img"
    ids = {e.get("id"): e for e in root.iter() if e.get("id")}
    title, desc = ids[root.get("aria-labelledby")], ids[root.get("aria-describedby")]
    assert title.tag.endswith("title") and (title.text or "").strip()
    assert desc.tag.endswith("desc") and (desc.text or "").strip()


def _ferritin_chart(values, times=None, **kw):
    times = times or [_t(12 * i) for i in range(len(values))]
    args = dict(title="Ferritin — SYNTHETIC", y_label="Ferritin", unit="ng/mL", log=True,
                axis=TimeAxis(times[0] - dt.timedelta(days=1), times[-1] + dt.timedelta(days=1)),
                thresholds=CUTOFFS["ferritin"])
    args.update(kw)
    return time_series_chart([Series("Ferritin", times, values)], **args)


def test_time_series_is_accessible_svg_with_labelled_axes_and_units():
    root = _parse(_ferritin_chart([300, 900, 4000, 25000, 12000]))
    _accessible(root)
    texts = _texts(root)
    assert "Ferritin (ng/mL, log scale)" in texts
    assert "date (UTC)" in texts
    assert any(t.startswith("684 ") and "2016 sJIA-MAS" in t for t in texts)
    assert any(t.startswith("500 ") and "HLH-2004" in t for t in texts)
    desc = root.find("s:desc", NS).text
    assert "5 values from 300 to 25,000, last 12,000" in desc and "684 ng/mL: 2016 sJIA-MAS (>)" in desc


def test_log_scale_positions_decades_equally_and_geometric_mean_half_way():
    s = LogScale(10, 10_000, 200, 20)
    assert s(10) == pytest.approx(200) and s(10_000) == pytest.approx(20)
    assert s(math.sqrt(10 * 10_000)) == pytest.approx(110)
    assert s(100) - s(1000) == pytest.approx(s(1000) - s(10_000))


@settings(max_examples=50, deadline=None)
@given(st.floats(1e-2, 1e4), st.floats(1.5, 1e3))
def test_log_scale_ratio_invariance(a, k):
    s = LogScale(1e-3, 1e8, 300, 0)
    assert s(a * k) - s(a) == pytest.approx(s(10 * k) - s(10), abs=1e-6)


def test_log_chart_draws_each_decade_the_same_distance_apart():
    root = _parse(_ferritin_chart([100, 1000, 10000]))
    ys = [float(c.get("cy")) for c in _points(root)]
    assert len(ys) == 3 and ys[0] > ys[1] > ys[2]
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.15)


def test_threshold_line_sits_exactly_at_its_value_on_both_scales():
    for log in (False, True):
        svg = time_series_chart([Series("Platelets", [_t(0), _t(24)], [ravelli2016.PLATELETS_LE_1E9_L, 90])],
                                title="Platelets", y_label="Platelets", unit="×10⁹/L", log=log,
                                axis=TimeAxis(_t(-1), _t(25)), thresholds=CUTOFFS["platelets"])
        root = _parse(svg)
        point_y = float(_points(root)[0].get("cy"))
        lines = [e for e in root.iter("{http://www.w3.org/2000/svg}line") if e.get("class") == "threshold"]
        th_y = {"".join(e.itertext()).split(" ")[0]: float(e.get("y1")) for e in lines}
        assert th_y["181"] == pytest.approx(point_y, abs=0.06)  # the value at the cut-off is on the line
        assert th_y["100"] > th_y["181"]  # lower value, lower on the page (larger y)


def test_linear_scale_ticks_are_nice_and_cover_the_domain():
    s = LinearScale.covering([3, 187, 250], 200, 0)
    assert s.lo == 0 and s.hi >= 250
    ticks = s.ticks()
    assert ticks[0] == 0 and all(b > a for a, b in zip(ticks, ticks[1:]))
    assert all(s.lo <= t <= s.hi for t in ticks)


def test_temperature_axis_need_not_start_at_zero():
    kw = dict(title="Temperature", y_label="Temperature", unit="°C", axis=TimeAxis(_t(-1), _t(25)))
    from_zero = time_series_chart([Series("Temperature", [_t(0), _t(24)], [37.0, 39.0])], **kw)
    tight = time_series_chart([Series("Temperature", [_t(0), _t(24)], [37.0, 39.0])], zero=False, **kw)
    gap = [abs(float(_points(_parse(svg))[0].get("cy")) - float(_points(_parse(svg))[1].get("cy")))
           for svg in (from_zero, tight)]
    assert gap[1] > 5 * gap[0]  # 37 against 39 °C is far apart once the axis stops at the data
    assert LinearScale.covering([37.0, 39.0], 200, 0, zero=False).lo > 30


def test_log_domain_leaves_a_margin_so_no_point_sits_on_the_frame():
    s = LogScale.covering([500, 20480], 200, 0)
    assert s.lo < 500 and s.hi > 20480


def test_text_is_escaped_and_never_becomes_markup():
    times = [_t(0), _t(24)]
    svg = time_series_chart([Series(HOSTILE, times, [1, 2])], title=HOSTILE, y_label=HOSTILE, unit="u",
                            axis=TimeAxis(_t(-1), _t(25)), thresholds=[Threshold(1.5, HOSTILE)],
                            markers=[Marker(_t(12), HOSTILE)])
    root = _parse(svg)  # a control character or a stray tag would make this fail
    tags = {e.tag.split("}")[1] for e in root.iter()}
    assert "script" not in tags and "b" not in tags
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert any('<script>alert("x")</script>' in t for t in _texts(root))  # shown as text, intact
    assert "\x07" not in svg
    assert esc("a\x00b") == "a\ufffdb"


def test_colours_and_dash_patterns_are_validated():
    with pytest.raises(ValueError, match="colour"):
        bar_chart(["a"], [1], title="t", y_label="n", x_label="x", fills=['red" onload="x'])
    from maswatch.render import TimeBand
    with pytest.raises(ValueError, match="colour"):
        time_series_chart([], title="t", y_label="y", unit="u", axis=TimeAxis(_t(0), _t(1)),
                          bands=[TimeBand(_t(0), _t(1), "x", "url(javascript:1)")])


def test_series_are_told_apart_without_colour():
    times = [_t(0), _t(24), _t(48)]
    svg = time_series_chart([Series("WBC", times, [5, 4, 3]), Series("Neutrophils", times, [3, 2, 1])],
                            title="CBC", y_label="count", unit="×10⁹/L", axis=TimeAxis(_t(-1), _t(49)))
    root = _parse(svg)
    lines = [e for e in root.iter("{http://www.w3.org/2000/svg}polyline")]
    assert len({e.get("stroke-dasharray") for e in lines}) == 2  # different dash patterns
    assert {e.tag.split("}")[1] for e in _points(root)} == {"circle", "rect"}  # different marker shapes
    assert {"WBC", "Neutrophils"} <= set(_texts(root))  # legend in words


def test_missing_value_breaks_the_line_and_censored_value_is_hollow():
    times = [_t(12 * i) for i in range(5)]
    svg = time_series_chart([Series("Ferritin", times, [800, 2000, None, 40000, 9000],
                                    censored=[False, False, False, True, False])],
                            title="f", y_label="Ferritin", unit="ng/mL", log=True, axis=TimeAxis(_t(-1), _t(49)))
    root = _parse(svg)
    assert len(list(root.iter("{http://www.w3.org/2000/svg}polyline"))) == 2
    circles = _points(root)
    assert len(circles) == 4 and sum(c.get("fill") == "#fff" for c in circles) == 1
    assert "censored, beyond 40,000" in svg


def test_range_series_draws_lowest_and_highest_possible():
    times = [_t(12 * i) for i in range(4)]
    svg = time_series_chart([Series("HScore", times, low=[90, 120, 150, 100], high=[200, 230, 260, 150])],
                            title="HScore", y_label="HScore", unit="points", axis=TimeAxis(_t(-1), _t(40)),
                            thresholds=HSCORE)
    root = _parse(svg)
    assert len(list(root.iter("{http://www.w3.org/2000/svg}polygon"))) == 1
    assert "HScore (lowest–highest possible)" in _texts(root)
    assert "lowest possible 90 to highest possible 260" in root.find("s:desc", NS).text
    assert any(t.startswith(f"{hscore.CUTOFF} ") for t in _texts(root))


def test_values_outside_the_axis_are_not_drawn():
    times = [_t(0), _t(100), _t(200)]
    svg = _ferritin_chart([1000, 2000, 3000], times=times, axis=TimeAxis(_t(50), _t(150)))
    assert len(_points(_parse(svg))) == 1


def test_bands_and_markers_carry_their_labels_in_text():
    times = [_t(12 * i) for i in range(6)]
    bands = level_bands(times, ["none", "watch", "alert", "alert", "concern", "none"], times[-1], LEVEL_FILLS)
    assert [b.label for b in bands] == ["watch", "alert", "concern"]
    assert bands[1].start == times[2] and bands[1].end == times[4]
    svg = _ferritin_chart([500, 900, 5000, 20000, 8000, 2000], times=times, bands=bands,
                          markers=[Marker(times[2], "episode 1 start")])
    root = _parse(svg)
    assert {"alert", "episode 1 start"} <= set(_texts(root))
    assert "Shaded: watch" in root.find("s:desc", NS).text


def test_time_scale_refuses_naive_times_and_ticks_fall_inside():
    with pytest.raises(ValueError):
        TimeScale(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2), 0, 100)
    s = TimeScale(_t(5), _t(24 * 20), 0, 500)
    ticks, fmt = s.ticks()
    assert 2 <= len(ticks) <= 8 and all(s.start <= t <= s.end for t in ticks)
    assert all(t.hour == 0 and t.minute == 0 for t in ticks) and fmt == "%Y-%m-%d"


def test_series_must_be_consistent():
    with pytest.raises(ValueError, match="entries"):
        Series("x", [_t(0)], [1, 2])
    with pytest.raises(ValueError, match="either values or low and high"):
        Series("x", [_t(0)])
    with pytest.raises(ValueError, match="UTC offset"):
        Series("x", [dt.datetime(2024, 1, 1)], [1])


def test_treatment_chart_rows_bars_and_ongoing_courses():
    axis = TimeAxis(_t(0), _t(24 * 10))
    svg = treatment_chart([TreatmentBar("methylprednisolone", _t(24), _t(96), "30 mg/kg/day"),
                           TreatmentBar("anakinra", _t(48), None, "2 mg/kg/day"),
                           TreatmentBar("emapalumab", _t(24 * 20), _t(24 * 21), "1 mg/kg")],
                          title="Treatment — SYNTHETIC", axis=axis, markers=[Marker(_t(30), "onset")])
    root = _parse(svg)
    _accessible(root)
    texts = _texts(root)
    assert {"methylprednisolone", "anakinra", "emapalumab"} <= set(texts)
    courses = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "course"]
    assert len(courses) == 2  # the course outside the axis is not drawn
    desc = root.find("s:desc", NS).text
    assert "anakinra 2 mg/kg/day from 2024-05-03 00:00 UTC to ongoing" in desc and "emapalumab" not in desc
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) == 1  # the arrow of the ongoing course


def test_histogram_keeps_missing_values_apart_and_states_them():
    svg = histogram([5, 10, 0, 2], [0, 10, 20, 30, 40], title="HScore", x_label="HScore", y_label="points",
                    not_drawn=[("missing a laboratory input", 12345)], marks=[Threshold(hscore.CUTOFF, "cut-off")])
    root = _parse(svg)
    _accessible(root)
    bars = [e for e in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert len(bars) == 4
    heights = [float(b.get("height")) for b in bars]
    assert heights[1] == pytest.approx(2 * heights[0], rel=0.02) and heights[2] == 0
    desc = root.find("s:desc", NS).text
    assert "17 points drawn" in desc and "missing a laboratory input: 12,345" in desc
    assert any("not drawn: missing a laboratory input: 12,345" in t for t in _texts(root))


def test_bar_chart_writes_counts_and_categories():
    root = _parse(bar_chart(["none", "watch"], [38, 107], title="levels", y_label="patients", x_label="level"))
    assert {"none", "watch", "38", "107", "patients", "level"} <= set(_texts(root))


def test_same_data_same_svg_and_distinct_charts_distinct_ids():
    a1, a2 = _ferritin_chart([1000, 2000]), _ferritin_chart([1000, 2000])
    b = _ferritin_chart([1000, 3000])
    assert a1 == a2
    ids = lambda s: set(re.findall(r'id="([^"]+)"', s))  # noqa: E731
    assert not ids(a1) & ids(b)


def test_cutoffs_are_the_instrument_constants_in_canonical_units():
    assert [t.value for t in CUTOFFS["ferritin"]] == [ravelli2016.FERRITIN_GT_NG_ML, hlh2004.FERRITIN_GE_UG_L]
    assert CUTOFFS["platelets"][0].value == ravelli2016.PLATELETS_LE_1E9_L
    assert CUTOFFS["ast"][0].value == ravelli2016.AST_GT_U_L
    fib = {t.label: t for t in CUTOFFS["fibrinogen"]}
    assert fib["2016 sJIA-MAS (≤)"].value == ravelli2016.FIBRINOGEN_LE_MG_DL and fib["2016 sJIA-MAS (≤)"].alt == "3.6 g/L"
    assert fib["HScore (≤)"].value == pytest.approx(hscore.FIBRINOGEN_LE_G_L * 100)  # 2.5 g/L = 250 mg/dL
    assert CUTOFFS["triglycerides"][0].alt == "156 mg/dL"
    assert SCORE_CUTOFFS["hscore"][0].value == hscore.CUTOFF


def test_frame_margins_are_shared_so_stacked_panels_line_up():
    f = Frame()
    axis = TimeAxis(_t(0), _t(48))
    a = _parse(_ferritin_chart([1000, 2000], times=[_t(1), _t(40)], axis=axis))
    b = _parse(treatment_chart([TreatmentBar("anakinra", _t(1), _t(40))], title="tx", axis=axis))
    xa = [float(c.get("cx")) for c in _points(a)]
    xb = float(next(e for e in b.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "course").get("x"))
    assert xa[0] == pytest.approx(xb, abs=0.1) and f.plot_left < xa[0] < f.plot_right


def test_charts_carry_no_inline_style_so_a_strict_content_security_policy_keeps_them_intact():
    """The web app sends style-src 'self': a style="" attribute would be dropped (and logged) by the
    browser. Font and label halos are presentation attributes; sizing is the page's CSS."""
    times = [_t(12 * i) for i in range(5)]
    bands = level_bands(times, ["none", "watch", "alert", "alert", "none"], times[-1], LEVEL_FILLS)
    svg = _ferritin_chart([300, 900, 4000, 25000, 12000], times=times, bands=bands,
                          markers=[Marker(times[2], "episode 1 start")])
    root = _parse(svg)
    assert not [e.tag for e in root.iter() if e.get("style") is not None]
    assert "system-ui" in root.get("font-family")
    halos = [e for e in root.iter("{http://www.w3.org/2000/svg}text") if e.get("paint-order") == "stroke"]
    assert halos and all(e.get("stroke") == "#fff" for e in halos)
