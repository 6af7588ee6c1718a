"""Regression tests for issue 12 (documents and the CLI): every defect found by fuzzing,
the limits on both sides, strict output, order independence, the exit-code contract,
and time/memory ceilings for the worst inputs (docs/limits.md, docs/cli.md)."""

from __future__ import annotations

import copy
import json
import random
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from maswatch import jsondoc, timeline
from maswatch.cli import app
from maswatch.errors import InputError
from maswatch.treatment import parse_medications

sys.path.insert(0, str(Path(__file__).parent))
import fuzz_harness as fh  # noqa: E402

runner = CliRunner()
NOW = datetime.now(timezone.utc)


def _refuse(c):
    raise AssertionError(f"non-standard JSON constant {c}")


def strict(text: str) -> list:
    """JSON Lines, each line parsed strictly (no NaN / Infinity)."""
    return [json.loads(line, parse_constant=_refuse) for line in text.splitlines() if line.strip()]


def run(args, data: bytes | str | None = None):
    return runner.invoke(app, args, input=data)


def snap(**over) -> dict:
    s = copy.deepcopy(fh.SMALL_SNAPSHOT)
    s.update(over)
    return s


def tl(observations=None, medications=None, **patient) -> dict:
    t = copy.deepcopy(fh.SMALL_TIMELINE)
    if observations is not None:
        t["observations"] = observations
    if medications is not None:
        t["medications"] = medications
    t["patient"].update(patient)
    return t


def fer(t: str, value=5000, id="f") -> dict:
    return {"id": id, "time": t, "analyte": "ferritin", "value": value, "unit": "ng/mL"}


def pred(**over) -> dict:
    m = {"id": "m", "drug": "prednisolone", "start": "2024-05-01T08:00:00Z", "dose": {"value": 2, "unit": "mg/kg"}}
    m.update(over)
    return m


# ------------------------------------------------------------------ the strict reader


@pytest.mark.parametrize("data, says", [
    (b'{"id": "\xff"}', "not UTF-8: byte 0xff at offset 8"),
    ('{"unit": "\u00b0C"}'.encode("latin-1"), "not UTF-8: byte 0xb0"),
    ('{"id": "a"}'.encode("utf-16"), "UTF-16"),
    ('{"id": "a"}'.encode("utf-16-le"), "UTF-16"),
    ('{"id": "a"}'.encode("utf-32"), "UTF-16 or UTF-32"),
])
def test_encodings_other_than_utf8_are_refused_by_name(data, says):
    with pytest.raises(InputError) as e:
        jsondoc.read_json_bytes(data, what="timeline")
    assert e.value.field == "timeline" and says in e.value.message


def test_a_utf8_bom_is_tolerated_everywhere():
    assert jsondoc.read_json_bytes(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    assert [o for _, o in jsondoc.iter_json_lines([b'\xef\xbb\xbf{"a": 1}\n', b'{"a": 2}'])] == [{"a": 1}, {"a": 2}]


def test_depth_is_bounded_before_parsing_on_both_sides():
    lim = jsondoc.DEFAULT_LIMITS.max_depth
    assert jsondoc.read_json_bytes(b"[" * lim + b"]" * lim) is not None
    for deep in (b"[" * (lim + 1) + b"]" * (lim + 1), b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        with pytest.raises(InputError, match="nests"):
            jsondoc.read_json_bytes(deep)
    # brackets inside strings (with escaped quotes and backslashes) are not nesting
    assert jsondoc.read_json_bytes(b'{"a": "[[[[\\"[[[[\\\\", "b": "' + b"[" * 100 + b'"}')["a"] == '[[[[\"[[[[\\'


@pytest.mark.parametrize("literal, says", [
    (b"NaN", "NaN is not a number"), (b"Infinity", "Infinity is not"), (b"-Infinity", "-Infinity is not"),
    (b"1e999", "out of range"), (b"-1e400", "out of range"), (b"9007199254740993", "out of range"),
    (b"9" * 400, "400 characters"), (b"9" * 5000, "5000 characters"), (b"1e300", "out of range"),
])
def test_numbers_that_are_not_finite_bounded_doubles_are_refused_with_their_path(literal, says):
    with pytest.raises(InputError) as e:
        jsondoc.read_json_bytes(b'{"labs": {"crp": {"value": ' + literal + b', "unit": "mg/L"}}}', what="snapshot")
    assert e.value.field == "snapshot.labs.crp.value" and says in e.value.message


def test_number_magnitude_bound_on_both_sides():
    assert jsondoc.read_json_bytes(b"[9007199254740992, -9007199254740992, 9007199254740992.0]")[0] == 2 ** 53
    with pytest.raises(InputError):
        jsondoc.read_json_bytes(b"[9007199254740993]")


def test_duplicate_keys_are_refused_with_key_and_path():
    with pytest.raises(InputError) as e:
        jsondoc.read_json_bytes(b'{"labs": {"crp": {"value": 5, "unit": "mg/L", "unit": "ng/mL"}}}', what="snapshot")
    assert e.value.field == "snapshot.labs.crp" and "duplicate key 'unit'" in e.value.message


def test_strings_arrays_objects_and_documents_are_bounded():
    lim = jsondoc.Limits(max_string_chars=10, max_array_items=3, max_object_keys=2, max_document_bytes=100)
    assert jsondoc.read_json_bytes(b'{"a": "' + b"x" * 10 + b'", "b": [1, 2, 3]}', limits=lim)
    for bad, says in [(b'{"a": "' + b"x" * 11 + b'"}', "string of 11"), (b'{"a": [1, 2, 3, 4]}', "array of 4"),
                      (b'{"a": 1, "b": 2, "c": 3}', "object of 3"), (b"[" + b"1," * 60 + b"1]", "bytes")]:
        with pytest.raises(InputError, match=says):
            jsondoc.read_json_bytes(bad, limits=lim)


def test_lone_surrogates_are_refused():
    with pytest.raises(InputError, match="surrogate"):
        jsondoc.read_json_bytes(b'{"id": "\\ud800"}')
    assert jsondoc.read_json_bytes(b'{"id": "\\ud83d\\ude00"}') == {"id": "\U0001F600"}  # a proper pair


# ------------------------------------------------------------------ times


@pytest.mark.parametrize("value", [
    "1900-01-01T00:00:00Z", "2199-12-31T23:59:59Z", "2024-05-01T08:00:00+02:00", "2024-05-01T08:00:00.123456-05:00",
    "1900-01-01T01:00:00+01:00",
])
def test_times_inside_the_window_are_accepted(value):
    assert jsondoc.parse_time(value).tzinfo is not None


@pytest.mark.parametrize("value, says", [
    ("1899-12-31T23:59:59Z", "outside"), ("2200-01-01T00:00:00Z", "outside"),
    ("9999-12-31T23:00:00-05:00", "outside"), ("0001-01-01T00:00:00+01:00", "outside"),
    ("9999-12-31T00:00:00Z", "outside"), ("1900-01-01T00:30:00+01:00", "outside"),
    (1714550400, "time string"), (1714550400.0, "time string"), ("1714550400", "ISO 8601"),
    ("2024-05-01T08:00:00", "UTC offset"), ("2024-05-01", "UTC offset"), ("2024-13-01T00:00:00Z", "not a valid"),
    (True, "time string"), (None, "time string"),
])
def test_times_outside_the_window_numeric_or_without_offset_are_refused(value, says):
    with pytest.raises(ValueError, match=says):
        jsondoc.parse_time(value)


def test_numeric_and_far_times_in_a_timeline_are_refused_naming_the_field():
    for obs, field in [(fer(1714550400), "observations[0].time"),
                       (fer("9999-12-31T23:00:00-05:00"), "observations[0].time")]:
        with pytest.raises(InputError) as e:
            timeline.parse(tl([obs]))
        assert e.value.field == field
    for med, field in [(pred(end="9999-12-31T00:00:00Z"), "medications[0].end"),
                       (pred(end="9999-12-31"), "medications[0].end"),
                       (pred(start=1714550400), "medications[0].start")]:
        with pytest.raises(InputError) as e:
            timeline.parse(tl(medications=[med]))
        assert e.value.field == field
    with pytest.raises(InputError, match="outside"):
        timeline.parse(tl(birth_date="1850-01-01"))


def test_results_from_the_future_are_refused_with_a_day_of_skew():
    fine, late = NOW + timedelta(hours=23), NOW + timedelta(hours=25)
    limit = NOW + timeline.MAX_CLOCK_SKEW
    assert timeline.parse(tl([fer(fine.isoformat())]), not_after=limit)
    with pytest.raises(InputError) as e:
        timeline.parse(tl([fer("2024-05-01T08:00:00Z", id="a"), fer(late.isoformat(), id="b")]), not_after=limit)
    assert e.value.field == "observations[1].time" and "future" in e.value.message and "'b'" in e.value.message
    r = run(["assess", "-"], json.dumps(tl([fer("2024-05-01T08:00:00Z"), fer("2031-05-01T08:00:00Z", id="g")])))
    assert r.exit_code == 2 and "observations[1].time" in r.stderr


def test_results_after_at_are_simply_not_assessed():
    doc = json.dumps(tl([fer("2024-05-01T08:00:00Z", id="a"), fer("2024-05-03T08:00:00Z", 90000, id="b")]))
    r = run(["assess", "-", "--json", "--at", "2024-05-02T00:00:00Z"], doc)
    assert r.exit_code == 0 and strict(r.stdout)[0]["at"] == "2024-05-02T00:00:00Z"


# ------------------------------------------------------------------ medication bounds


@pytest.mark.parametrize("med, ok", [
    (pred(dose={"value": 2500, "unit": "mg"}), True), (pred(dose={"value": 2501, "unit": "mg"}), False),
    (pred(dose={"value": 2.5, "unit": "g"}), True), (pred(dose={"value": 1e300, "unit": "mg"}), False),
    (pred(drug="methylprednisolone", dose={"value": 60, "unit": "mg/kg"}), True),
    (pred(drug="methylprednisolone", dose={"value": 60.5, "unit": "mg/kg"}), False),
    (pred(drug="methylprednisolone", dose={"value": 1, "unit": "g"}), True),
    (pred(drug="dexamethasone", dose={"value": 375, "unit": "mg"}), True),
    (pred(drug="dexamethasone", dose={"value": 376, "unit": "mg"}), False),
    (pred(drug="ivig", dose={"value": 2, "unit": "g/kg"}), True),
    (pred(drug="ivig", dose={"value": 4.1, "unit": "g/kg"}), False),
    (pred(drug="anakinra", dose={"value": 96, "unit": "mg/kg"}), True),
    (pred(drug="anakinra", dose={"value": 97, "unit": "mg/kg"}), False),
    (pred(frequency_per_day=24), True), (pred(frequency_per_day=24.5), False),
    (pred(frequency_per_day=0.0111), True), (pred(frequency_per_day=0.011), False),
    (pred(frequency_per_day=1e-300), False),
    (pred(end="2124-05-02T08:00:00Z"), True), (pred(end="2124-05-02T08:00:01Z"), False),  # 36,525 days
])
def test_dose_frequency_and_duration_bounds_on_both_sides(med, ok):
    if ok:
        assert parse_medications([med])
    else:
        with pytest.raises(InputError) as e:
            parse_medications([med])
        assert e.value.field.startswith("medications[0].") and e.value.message


# ------------------------------------------------------------------ bounded work


def test_a_far_result_with_an_ongoing_line_is_bounded_in_time_memory_and_output():
    """Issue 12: 65 s, 8.5 GiB, 1.45 GB before. The year is now refused at the reader;
    the farthest accepted one (2199) with hourly dosing must still be cheap."""
    doc = tl([fer("2024-05-01T08:00:00Z", id="a"), fer("2199-12-31T00:00:00Z", id="b")],
             [pred(frequency_per_day=24, dose={"value": 2, "unit": "mg"})])
    tracemalloc.start()
    t0 = time.perf_counter()
    out = jsondoc.dumps(timeline.assess(timeline.parse(doc)).to_json())
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 5 and peak < 300 * 2 ** 20 and len(out) < 2 * 2 ** 20, (elapsed, peak, len(out))
    gc = json.loads(out)["assessment"]["treatment"]["glucocorticoids"]
    assert gc["days_total"] == (datetime(2199, 12, 31) - datetime(2024, 5, 1)).days + 1
    assert len(gc["days"]) == 366 and gc["days"][-1]["day"] == "2199-12-31"
    # 24 a day: 16 on the first day (from 08:00), 1 on the last (at 00:00, the assessment time)
    assert gc["cumulative_mg"] == pytest.approx(2 * (24 * gc["days_total"] - 31), rel=1e-6)
    r = run(["assess", "-", "--json"], json.dumps(tl([fer("9999-12-31T23:00:00-05:00")], [pred()])))
    assert r.exit_code == 2 and "outside the accepted years" in r.stderr


def test_evaluate_streams_json_lines_with_memory_independent_of_their_number(tmp_path):
    from maswatch.cli._io import iter_documents
    from maswatch.cli.evaluate import _results
    from maswatch.settings import DEFAULT

    line = json.dumps(fh.SMALL_SNAPSHOT).encode() + b"\n"

    def peak(n: int) -> int:
        p = tmp_path / f"s{n}.jsonl"
        p.write_bytes(line * n)
        tracemalloc.start()
        count = sum(1 for _ in _results(iter_documents(str(p)), DEFAULT))
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert count == n
        return top

    small, large = peak(600), peak(6000)
    assert large < 2 * small + 8 * 2 ** 20, (small, large)


# ------------------------------------------------------------------ CLI: exit codes and messages


def test_directory_missing_file_and_unreadable_input_exit_2(tmp_path):
    for args in (["evaluate", str(tmp_path)], ["assess", str(tmp_path)], ["evaluate", str(tmp_path / "no.json")],
                 ["assess", str(tmp_path / "no.json")]):
        r = run(args)
        assert r.exit_code == 2 and r.exception is None or isinstance(r.exception, SystemExit)
        assert "error FILE:" in r.stderr
    (tmp_path / "dir[").mkdir()
    r = run(["evaluate", str(tmp_path / "dir[/]x.json")])
    assert r.exit_code == 2 and "dir[/]x.json does not exist" in r.stderr
    r = run(["evaluate", str(tmp_path / "dir[")])
    assert r.exit_code == 2 and "dir[ is a directory" in r.stderr


@pytest.mark.parametrize("name, data", fh.hostile_cases(), ids=[c[0] for c in fh.hostile_cases()])
def test_every_hostile_case_gets_a_clean_outcome(name, data):
    for target in (fh.target_reader, fh.target_evaluate, fh.target_assess):
        out = target(data)
        assert out.kind == "ok", (name, target.__name__, out)
    out = fh.target_assess(data, json_out=False)
    assert out.kind == "ok", (name, out)


def test_user_text_is_shown_literally_never_as_markup():
    spoof = "[bold red]:x: PATIENT OK[/bold red]"
    r = run(["evaluate", "-"], json.dumps(snap(id=spoof)))
    assert r.exit_code == 0 and spoof in r.stdout
    r = run(["evaluate", "-"], json.dumps(snap(id="[/]")))
    assert r.exit_code == 0 and "Snapshot [/]" in r.stdout
    r = run(["evaluate", "-"], json.dumps(snap(labs={"ferritin": {"value": 5, "unit": spoof}})))
    assert r.exit_code == 1 and spoof in r.stderr
    r = run(["assess", "-"], json.dumps(tl(id=spoof)))
    assert r.exit_code == 0 and spoof in r.stdout
    r = run(["assess", "-"], json.dumps(tl([{**fer("2024-05-01T08:00:00Z"), "id": "[/]", "unit": "[/]"}])))
    assert r.exit_code == 2 and "unit '[/]'" in r.stderr and "id '[/]'" in r.stderr


def test_messages_are_cut_and_never_wrapped():
    r = run(["evaluate", "-"], json.dumps(snap(labs={"ferritin": {"value": 5, "unit": "u" * 60_000}})))
    assert r.exit_code == 1 and len(r.stderr) < 2_000 and "more)" in r.stderr
    long_field = "x" * 300
    r = run(["assess", "-", "--lookback", f"{long_field}=5"], json.dumps(tl()))
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1


def test_an_internal_error_is_one_line_with_exit_70_and_a_details_file(monkeypatch, capsys):
    import maswatch.cli as cli
    import maswatch.cli.evaluate as ev

    def boom(*a, **k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(ev, "evaluate_objects", boom)
    monkeypatch.setattr(sys, "argv", ["maswatch", "evaluate", str(fh.ROOT / "examples" / "snapshot.json")])
    with pytest.raises(SystemExit) as e:
        cli.main()
    err = capsys.readouterr().err
    assert e.value.code == 70 and len(err.strip().splitlines()) == 1 and "internal error (RuntimeError)" in err
    path = Path(err.rsplit("written to ", 1)[1].strip())
    assert "simulated bug" in path.read_text() and "Traceback" in path.read_text()
    path.unlink()


def test_a_line_of_json_lines_that_is_bad_refuses_that_snapshot_only():
    good = json.dumps(fh.SMALL_SNAPSHOT)
    r = run(["evaluate", "-", "--json"], b"\n".join([good.encode(), b'{"id": "\xff"}', b"[1,", good.encode()]))
    rows = strict(r.stdout)
    assert r.exit_code == 1 and len(rows) == 4 and [("error" in x) for x in rows] == [False, True, True, False]
    assert rows[1]["error"]["field"] == "line 2" and "UTF-8" in rows[1]["error"]["message"]


# ------------------------------------------------------------------ strict JSON output


def test_every_json_the_cli_prints_is_strict(tmp_path):
    for name in ("snapshot", "timeline", "assessment"):
        r = run(["schema", name])
        assert r.exit_code == 0, name
        json.loads(r.stdout, parse_constant=_refuse)
    lines = [json.dumps(snap(labs={"ferritin": {"value": 5000, "unit": "ng/mL"}, "esr": {"value": 0, "unit": "mm/h"}})),
             json.dumps(snap(labs={})), json.dumps(json.loads((fh.ROOT / "examples" / "snapshot.json").read_text()))]
    r = run(["evaluate", "-", "--json"], "\n".join(lines))
    assert "Infinity" not in r.stdout and "NaN" not in r.stdout and len(strict(r.stdout)) == 3
    for p in sorted((fh.ROOT / "examples").glob("timeline_*.json")) + [None]:
        data = p.read_bytes() if p else json.dumps(fh.SMALL_TIMELINE).encode()
        r = run(["assess", "-", "--json"], data)
        assert r.exit_code == 0 and strict(r.stdout)


def test_strict_dumps_writes_null_for_a_non_finite_number():
    assert jsondoc.dumps({"a": float("inf"), "b": [float("nan"), 1.5]}) == '{"a": null, "b": [null, 1.5]}'


# ------------------------------------------------------------------ order independence


def _assessed(doc: dict) -> dict:
    out = timeline.assess(timeline.parse(doc)).to_json()
    out.pop("patient", None)
    return out


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(st.randoms(use_true_random=False))
def test_output_does_not_depend_on_the_order_of_observations_medications_or_weights(rng: random.Random):
    doc = tl()
    doc["observations"] = [o for o in doc["observations"] if o.get("status") != "entered-in-error"] + [
        {"id": "w2", "time": "2024-05-01T07:00:00Z", "vital": "weight", "value": 40, "unit": "kg"},
        {"time": "2024-05-02T08:00:00Z", "analyte": "platelets", "value": 90, "unit": "10*9/L"},
        {"time": "2024-05-02T08:00:00Z", "analyte": "platelets", "value": 60, "unit": "10*9/L"},
    ]
    base = _assessed(doc)
    shuffled = copy.deepcopy(doc)
    rng.shuffle(shuffled["observations"])
    rng.shuffle(shuffled["medications"])
    assert _assessed(shuffled) == base


def test_two_weights_at_one_instant_give_one_mg_per_kg_whatever_their_order():
    w = [{"id": f"w{k}", "time": "2024-05-01T07:00:00Z", "vital": "weight", "value": kg, "unit": "kg"}
         for k, kg in ((1, 20), (2, 40))]
    meds = [pred(drug="methylprednisolone", dose={"value": 400, "unit": "mg"}, end="2024-05-02T08:00:00Z")]
    obs = [fer("2024-05-01T08:00:00Z")]
    a = timeline.assess(timeline.parse(tl(obs + w, meds))).to_json()["assessment"]["treatment"]["glucocorticoids"]
    b = timeline.assess(timeline.parse(tl(obs + w[::-1], meds))).to_json()["assessment"]["treatment"]["glucocorticoids"]
    assert a == b and a["days"][0]["weight_kg"] == 40 and a["cumulative_mg_per_kg"] == 12.5  # 500 mg eq / 40 kg


def test_the_json_files_of_synth_and_screen_are_strict(tmp_path):
    cohort = tmp_path / "cohort"
    r = run(["synth", "--out", str(cohort), "--patients", "12", "--seed", "3", "--format", "parquet,timeline"])
    assert r.exit_code == 0, r.output
    r = run(["screen", str(cohort), "--kind", "long", "--out", str(tmp_path / "o"), "--labels", str(cohort / "labels"),
             "--threads", "1"])
    assert r.exit_code == 0, r.output
    files = sorted((tmp_path / "o").rglob("*.json")) + sorted(cohort.rglob("*.json"))
    assert any(p.parent == tmp_path / "o" for p in files)
    for p in files:
        json.loads(p.read_text(encoding="utf-8"), parse_constant=_refuse)
