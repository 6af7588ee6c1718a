"""The CDS service's memos (cds/memo.py): a chart opened again reuses the card assessment of
identical data and the rows already validated — and never changes an answer."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from hypothesis import given, settings, strategies as st

from maswatch import timeline
from maswatch.cds import hooks
from maswatch.cds.memo import assessment_memo, digest, rows_memo
from maswatch.fhir.export import timeline_to_resources
from maswatch.fhir.read import parse_timeline, read_fhir
from maswatch.rules import Rules
from maswatch.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = json.loads((ROOT / "examples" / "timeline_sjia_mas_recurrence.json").read_text())
PID = EXAMPLE["patient"]["id"]


def found_of(doc: dict) -> list:
    res = timeline_to_resources(doc)
    bundle = lambda t: {"resourceType": "Bundle", "type": "searchset",  # noqa: E731
                        "entry": [{"resource": r} for r in res if r["resourceType"] == t]}
    return [res[0], bundle("Observation"), bundle("Condition"), bundle("MedicationRequest")]


def plain(found: list) -> dict | None:
    """The card assessment computed afresh, with no memo at all."""
    return hooks._assess(found, PID, hooks.HookSettings())


def test_identical_data_is_assessed_once_and_gives_the_same_answer():
    s = hooks.HookSettings()
    first = hooks.assess_patient(found_of(EXAMPLE), PID, s)
    again = hooks.assess_patient(found_of(EXAMPLE), PID, s)  # equal data, new objects
    assert (s.memo.hits, s.memo.misses) == (1, 1)
    assert again is first and again == plain(found_of(EXAMPLE))


def test_a_new_corrected_or_removed_result_is_a_new_assessment():
    s = hooks.HookSettings()
    base = hooks.assess_patient(found_of(EXAMPLE), PID, s)
    last = max(o["time"] for o in EXAMPLE["observations"] if "time" in o)
    for change in ("new", "corrected", "removed"):
        doc = copy.deepcopy(EXAMPLE)
        obs = [o for o in doc["observations"] if o.get("analyte") == "ferritin"]
        if change == "new":
            doc["observations"].append({"id": "memo-new", "time": last, "analyte": "ferritin", "value": 40000,
                                        "unit": "ng/mL"})
        elif change == "corrected":
            obs[-1]["value"] = obs[-1]["value"] * 3
        else:
            doc["observations"].remove(obs[-1])
        out = hooks.assess_patient(found_of(doc), PID, s)
        assert out == plain(found_of(doc)), change
        assert out != base, change
    assert s.memo.hits == 0


def test_other_rules_or_another_patient_are_other_keys():
    f = found_of(EXAMPLE)
    strict = Rules(settings=Settings(adult_age_years=16.0))
    assert strict.fingerprint != Rules().fingerprint
    assert len({digest(PID, Rules().fingerprint, f), digest(PID, strict.fingerprint, f),
                digest("someone-else", Rules().fingerprint, f)}) == 3


def test_the_memo_is_bounded_and_forgets_the_oldest_first():
    m = assessment_memo(entries=2)
    for k in (b"a", b"b", b"c"):
        m.get_or_compute(k, lambda k=k: k.upper())
    assert m.get_or_compute(b"a", lambda: "recomputed") == "recomputed"
    assert m.get_or_compute(b"c", lambda: "recomputed") == b"C"
    rows = rows_memo(limit=3)
    for i in range(5):
        rows[i] = i
    assert list(rows) == [2, 3, 4]


def test_an_exception_is_not_remembered():
    m = assessment_memo()
    calls = []

    def boom():
        calls.append(1)
        raise ValueError("no")

    for _ in range(2):
        try:
            m.get_or_compute(b"k", boom)
        except ValueError:
            pass
    assert len(calls) == 2


def _tl_json(tl) -> list:
    return [o.model_dump(mode="json") for o in tl.observations]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=40), st.integers(0, 2**31))
def test_rows_memo_never_changes_the_parsed_timeline(picks, seed):
    """Any subsets of the same rows, parsed one after another through one memo, give exactly what a
    fresh parse gives — including the rows the timeline refuses (reported the same way)."""
    res = read_fhir({"resourceType": "Bundle", "type": "collection",
                     "entry": [{"resource": r} for r in found_of(EXAMPLE)]}, patient_id=PID)
    rows = res.timelines[PID]["observations"]
    bad = {"id": "memo-bad", "time": rows[0]["time"], "analyte": "ferritin", "value": 1, "unit": "ng/mL",
           "comparator": "~"}  # refused by the timeline model
    memo = rows_memo(limit=50)
    for n in picks[:4]:
        subset = [rows[(n + k * 7) % len(rows)] for k in range(n % len(rows) + 1)]
        if n % 3 == 0:
            subset = subset + [bad]
        doc = {**res.timelines[PID], "observations": subset}
        fresh_res, memo_res = read_fhir({"resourceType": "Bundle", "type": "collection", "entry": []}), \
            read_fhir({"resourceType": "Bundle", "type": "collection", "entry": []})
        want = parse_timeline(copy.deepcopy(doc), fresh_res)
        got = parse_timeline(doc, memo_res, memo=memo)
        assert _tl_json(got) == _tl_json(want)
        assert timeline.assess(got).to_json() == timeline.assess(want).to_json()
        assert memo_res.report == fresh_res.report and memo_res.report == ([] if n % 3 else [memo_res.report[0]])
        assert len(memo) <= 50


def test_a_validated_row_is_reused_not_revalidated():
    res = read_fhir({"resourceType": "Bundle", "type": "collection",
                     "entry": [{"resource": r} for r in found_of(EXAMPLE)]}, patient_id=PID)
    memo = rows_memo()
    a = parse_timeline(res.timelines[PID], None, memo=memo)
    b = parse_timeline(copy.deepcopy(res.timelines[PID]), None, memo=memo)
    assert all(x is y for x, y in zip(a.observations, b.observations))
    assert timeline.assess(b).to_json() == timeline.assess(a).to_json()
