"""The fast one-patient path gives the same results as the straightforward definitions.

Each fast part (response from columns, correction resolution, table order, history rows,
``to_json(history=False)``) is checked against a plain per-record reference written here,
on SYNTHETIC data, including the refusals. ``benchmarks/assess_outputs.py`` compares whole
``assess --json`` outputs byte for byte across a change.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maswatch import alerts, timeline
from maswatch.errors import InputError
from maswatch.timeline.assess import (KEY_LABS, _VERDICTS, _episode_numbers, _keys_per_row, _score_column, iso_times,
                                      json_numbers)
from maswatch.timeline.observations import from_us, resolve, to_us
from maswatch.treatment import LabPoint, ResponseConfig, response_status
from maswatch.treatment.response import LabColumns, response_from_columns

UTC = timezone.utc
ONSET = datetime(2024, 5, 1, 8, tzinfo=UTC)
EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("timeline_*.json"))
# canonical-unit values and reference ranges: active MAS ... normal
SPAN = {"wbc": (1.0, 12.0, (4.0, 11.0)), "platelets": (20, 400, (150.0, 400.0)), "ldh": (150, 3000, (120.0, 250.0)),
        "alt": (10, 500, (7.0, 40.0)), "ast": (10, 800, (10.0, 40.0)), "fibrinogen": (50, 450, (200.0, 400.0)),
        "ferritin": (100, 60000, (15.0, 150.0))}
CODES = (None, "<", "<=", ">=", ">")


@st.composite
def courses(draw):
    """Lab results and fever observations around an onset (some before it), with or without ranges,
    some censored, some at the same instant."""
    labs = {}
    for a, (lo, hi, rng) in SPAN.items():
        if draw(st.booleans()) and draw(st.booleans()):
            continue  # an analyte never measured
        n = draw(st.integers(0, 6))
        pts = []
        for _ in range(n):
            h = draw(st.integers(-48, 24 * 12)) / (1 if draw(st.booleans()) else 2)
            v = round(draw(st.floats(lo, hi)), 2)
            ranged = draw(st.sampled_from(["both", "none", "low", "high"]))
            comp = draw(st.sampled_from(CODES)) if a == "ferritin" and draw(st.booleans()) else None
            pts.append(LabPoint(ONSET + timedelta(hours=h), v, rng[0] if ranged in ("both", "low") else None,
                                rng[1] if ranged in ("both", "high") else None, comp))
        labs[a] = pts
    fever = None
    if draw(st.booleans()):
        fever = [(ONSET + timedelta(hours=draw(st.integers(-24, 24 * 12))), draw(st.booleans()))
                 for _ in range(draw(st.integers(0, 8)))]
    at = ONSET + timedelta(hours=draw(st.integers(0, 24 * 14)))
    return labs, fever, at


def columns_of(labs: dict[str, list[LabPoint]]) -> dict[str, LabColumns]:
    nan = float("nan")
    return {a: LabColumns(t=np.array([to_us(p.time) for p in pts], np.int64),
                          value=np.array([p.value for p in pts], float),
                          low=np.array([nan if p.low is None else p.low for p in pts], float),
                          high=np.array([nan if p.high is None else p.high for p in pts], float),
                          comparator=np.array([CODES.index(p.comparator) for p in pts], np.int8))
            for a, pts in labs.items()}


def fever_columns(fever):
    if fever is None:
        return None
    return np.array([to_us(t) for t, _ in fever], np.int64), np.array([v for _, v in fever], bool)


CONFIGS = [ResponseConfig(), ResponseConfig(max_result_age_hours=36, ferritin_below_ng_ml=None),
           ResponseConfig(fibrinogen_above_mg_dl=None, afebrile_hours=None,
                          fallback_reference_ranges={"wbc": (4.0, 11.0), "ldh": (None, 250.0)})]


@settings(max_examples=120, deadline=None)
@given(courses(), st.sampled_from(CONFIGS))
def test_response_from_columns_equals_response_status(course, config):
    labs, fever, at = course
    by_points = response_status(ONSET, at, labs, fever, config)
    by_columns = response_from_columns(ONSET, at, columns_of(labs), fever_columns(fever), config)
    assert json.dumps(by_columns.to_json()) == json.dumps(by_points.to_json())


def test_response_from_columns_refuses_what_lab_points_refuse():
    with pytest.raises(InputError) as by_points:
        response_status(ONSET, ONSET + timedelta(days=1), {"platelets": [LabPoint(ONSET, 5e7, 150.0, 400.0)]})
    cols = columns_of({"platelets": [LabPoint(ONSET, 5e7, 150.0, 400.0)]})
    with pytest.raises(InputError) as by_columns:
        response_from_columns(ONSET, ONSET + timedelta(days=1), cols)
    assert (by_columns.value.field, by_columns.value.message) == (by_points.value.field, by_points.value.message)
    # the LabPoint's own checks: a reference range upside down, a non-finite value
    bad = LabColumns(np.array([to_us(ONSET)]), np.array([200.0]), np.array([400.0]), np.array([150.0]),
                     np.zeros(1, np.int8))
    with pytest.raises(InputError, match="low 400 is above high 150"):
        response_from_columns(ONSET, ONSET, {"platelets": bad})
    nan = LabColumns(np.array([to_us(ONSET)]), np.array([np.nan]), np.array([np.nan]), np.array([np.nan]),
                     np.zeros(1, np.int8))
    with pytest.raises(InputError, match="finite"):
        response_from_columns(ONSET, ONSET, {"platelets": nan})
    with pytest.raises(InputError, match="before onset"):
        response_from_columns(ONSET, ONSET - timedelta(hours=1), {})


def _resolve_reference(obs):
    """Corrections one id at a time (docs/evaluation-points.md §1), as the rule reads."""
    groups: dict[str, list[int]] = {}
    for i, o in enumerate(obs):
        if o.id is not None:
            groups.setdefault(o.id, []).append(i)
    keep = [o.id is None and o.status not in ("entered-in-error", "cancelled") for o in obs]
    removed, replaced = [], []
    for oid, idx in groups.items():
        if any(obs[i].status in ("entered-in-error", "cancelled") for i in idx):
            removed.append(oid)
            continue
        best = max(idx, key=lambda i: (obs[i].status in ("amended", "corrected"), i))
        keep[best] = True
        if len(idx) > 1:
            replaced.append(oid)
    return [i for i, k in enumerate(keep) if k], removed, replaced


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([None, "a", "b", "c", "d"]),
                          st.sampled_from(["final", "preliminary", "amended", "corrected", "entered-in-error",
                                           "cancelled"])), max_size=14))
def test_resolve_equals_the_rule_per_id(records):
    obs = []
    for k, (oid, status) in enumerate(records):
        if oid is None and status in ("entered-in-error", "cancelled"):
            status = "final"  # a retraction needs the id it removes
        o = {"time": f"2024-05-01T{k:02d}:00:00Z", "analyte": "ferritin", "value": 500 + k, "unit": "ng/mL",
             "status": status}
        if oid is not None:
            o["id"] = oid
        obs.append(o)
    doc = timeline.model.validate({"observations": obs})
    assert resolve(doc.observations) == _resolve_reference(doc.observations)


def _timeline_with_ties(seed: int) -> dict:
    rng = random.Random(seed)
    obs = []
    for k in range(40):
        h = rng.randrange(0, 30)  # many results at the same instant
        a = rng.choice(["ferritin", "platelets", "fever"])
        o = {"id": rng.choice(["x", "y", "z"]) + str(k), "time": f"2024-05-0{1 + h // 24}T{h % 24:02d}:00:00Z"}
        if a == "fever":
            o.update(finding="fever", value=rng.random() < 0.5)
        else:
            o.update(analyte=a, value=rng.choice([300, 600, 1200]) if a == "ferritin" else rng.choice([90, 120]),
                     unit="ng/mL" if a == "ferritin" else "10*9/L")
        obs.append(o)
    return {"synthetic": True, "patient": {"birth_date": "2015-01-01"}, "observations": obs}


@pytest.mark.parametrize("seed", range(5))
def test_table_does_not_depend_on_the_file_order(seed):
    doc = _timeline_with_ties(seed)
    base = timeline.parse(doc).table
    shuffled = dict(doc, observations=random.Random(seed + 100).sample(doc["observations"], len(doc["observations"])))
    other = timeline.parse(shuffled).table
    for key, s in base.series.items():
        o = other.series[key]
        assert (s.t == o.t).all() and (s.value == o.value).all() and (s.comparator == o.comparator).all()
        # the ids behind each position are the same ones, in (time, id, value) order
        ids = [doc["observations"][i]["id"] for i in s.src]
        ids_o = [shuffled["observations"][i]["id"] for i in o.src]
        assert ids == ids_o
        assert all((s.t[k], ids[k]) <= (s.t[k + 1], ids[k + 1]) for k in range(len(ids) - 1))


def _history_reference(a) -> list[dict]:
    """History rows cell by cell."""
    rows = []
    stale, overdue = _keys_per_row(a.stale, a.n), _keys_per_row(a.overdue, a.n)
    ep = _episode_numbers(a)
    scores = {k: _score_column(r) for k, r in a.results.items()}
    times = iso_times(a.points.times)  # one precision for the column: µs on every row if any row has them
    for i in range(a.n):
        labs = {}
        for k in KEY_LABS:
            q = a.points.batch.lab(k)
            if q.present[i]:
                labs[k] = json_numbers(q.value()[i:i + 1])[0] if q.exact[i] else "censored"
        rows.append({
            "time": times[i], "alert_level": alerts.LEVELS[int(a.levels[i])],
            "level_from_fresh_results": alerts.LEVELS[int(a.fresh_levels[i])], "stale": stale[i],
            "overdue": overdue[i], "notify": bool(a.notify[i]), "episode": ep[i], "segment": int(a.segment[i]),
            "result_time": bool(a.result_time[i]), "uses_preliminary": bool(a.points.preliminary[i]), "labs": labs,
            "verdicts": {k: str(_VERDICTS[int(r.verdict[i])]) for k, r in a.results.items()},
            "scores": {k: c[i] for k, c in scores.items() if c is not None},
        })
        if a.notify[i]:
            rows[i]["explanation"] = alerts.explain(a.results, a.signals, a.points.batch, i, a.parts)
            rows[i]["tests_to_order"] = [t["input"] for t in alerts.tests_to_order(a.instruments_row(i))]
    return rows


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_history_rows_equal_the_cell_by_cell_reference_and_share_nothing(path):
    tl = timeline.load(path)
    times = tl.table.times()
    for at in (None, from_us(int(times[len(times) // 2]) + 1)):
        a = timeline.assess(tl, at)
        rows = a.history_json()
        assert json.dumps(rows) == json.dumps(_history_reference(a))
        inner = [id(r[k]) for r in rows for k in ("stale", "overdue", "labs", "verdicts", "scores")]
        assert len(set(inner)) == len(inner), "a row shares a list or dict with another row"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_to_json_without_history_is_the_same_minus_the_rows(path):
    a = timeline.assess(timeline.load(path))
    full, short = a.to_json(), a.to_json(history=False)
    assert "history" not in short and len(full["history"]) == a.n > 0
    assert json.dumps(short) == json.dumps({k: v for k, v in full.items() if k != "history"})


def test_score_column_gives_a_range_only_where_the_bounds_differ():
    class R:  # the shape _score_bounds reads
        score_min = np.array([3.0, 2.0, np.nan, 1.5, 7.0])
        score_max = np.array([3.0, 5.0, np.nan, 1.5000001, 7.0])
        extras: dict = {}

    assert _score_column(R) == [3, [2, 5], [None, None], [1.5, 1.5], 7]
