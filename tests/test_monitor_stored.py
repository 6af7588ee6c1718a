"""The monitor's stored timeline, without re-validating known rows, and what it reads from the
assessment instead of its history: the same answers as the history, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from dbfix import *  # noqa: F401,F403  (fixtures)
from maswatch import synth, timeline
from maswatch.errors import InputError
from maswatch.monitoring import Actor, record_observations, run_once, stored_timeline_doc
from maswatch.monitoring import full, stored
from maswatch.monitoring.monitor import trend_direction
from maswatch.rules import DEFAULT_RULES
from maswatch.store import repo
from maswatch.store.db import make_engine, session_factory as make_sessions
from maswatch.synth.params import SynthOptions
from maswatch.timeline.changes import changes

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ACTOR = Actor("test")
COHORT = synth.cohort(12, 5, SynthOptions(mas_ever_scale=3.0), timelines=True)["timelines"]  # SYNTHETIC


def _doc(pid, obs, **kw):
    return {"format": "maswatch-timeline/1", "synthetic": True, "patient": {"id": pid, "age_years": 9,
            "age_at": "2024-01-01"}, "conditions": [{"code": "sjia"}], "observations": list(obs), **kw}


def _ferritin(rid, value, t, status="final", **kw):
    return {"id": rid, "time": t, "analyte": "ferritin", "value": value, "unit": "ng/mL", "status": status, **kw}


def _parse(session, pid, rows):
    p = repo.patient_by_external_id(session, pid)
    return stored.parse_stored(stored.stored_data(session, p), rows)


def _same_as_raw(session, pid, tl):
    """The memo's parse equals the parse of the raw stored document, row for row."""
    raw = timeline.parse(stored_timeline_doc(session, repo.patient_by_external_id(session, pid)))
    assert tl.observations == raw.observations
    assert tl.table.removed == raw.table.removed and tl.table.replaced == raw.table.replaced
    for k, s in raw.table.series.items():
        assert np.array_equal(tl.table.series[k].value, s.value) and np.array_equal(tl.table.series[k].t, s.t)


def test_known_rows_are_not_validated_again_and_never_stale_or_foreign(session):
    rows = stored.RowMemo(1000)
    shared = _ferritin("f1", 500, "2024-05-01T08:00:00Z")
    record_observations(session, _doc("A", [shared, _ferritin("f2", 700, "2024-05-02T08:00:00Z")]), source="a",
                        actor=ACTOR, now=NOW)
    record_observations(session, _doc("B", [shared, _ferritin("f2", 90, "2024-05-02T08:00:00Z")]), source="a",
                        actor=ACTOR, now=NOW)
    a1 = _parse(session, "A", rows)
    b1 = _parse(session, "B", rows)
    assert len(rows) == 4 and [o.value for o in b1.observations] == [500, 90]  # not A's f2
    # a correction of A's f2: a new row; the rows before it are reused as validated, the new one validated once
    record_observations(session, _doc("A", [_ferritin("f2", 7000, "2024-05-02T08:00:00Z", "corrected")]),
                        source="b", actor=ACTOR, now=NOW)
    a2 = _parse(session, "A", rows)
    assert len(rows) == 5 and all(x is y for x, y in zip(a2.observations, a1.observations))
    assert a2.table.replaced == ["f2"] and a2.table.series["ferritin"].value.tolist() == [500, 7000]
    # another patient's entry under this key (another database, say): its texts differ, it is not used
    p_b = repo.patient_by_external_id(session, "B")
    foreign = stored.StoredData("A", stored.stored_data(session, p_b).head, stored.stored_data(session, p_b).texts)
    assert [o.value for o in stored.parse_stored(foreign, rows).observations] == [500, 90]
    for pid, tl in (("A", _parse(session, "A", rows)), ("B", _parse(session, "B", rows))):
        _same_as_raw(session, pid, tl)


def test_the_row_memo_is_bounded_least_recently_parsed_patient_out():
    m = stored.RowMemo(5)
    m.remember("a", ["1", "2"], ["A1", "A2"])
    m.remember("b", ["1", "2"], ["B1", "B2"])
    assert m.known("a", ["1", "2", "3"]) == ["A1", "A2"]  # 'a' is now the most recent
    m.remember("c", ["1", "2"], ["C1", "C2"])
    assert len(m) == 4 and m.known("b", ["1", "2"]) == [] and m.known("a", ["1", "2"]) == ["A1", "A2"]
    assert m.known("a", ["1"]) == [] and m.known("a", ["1", "x"]) == []  # fewer or other rows: nothing reused
    m.remember("big", list("123456"), list("ABCDEF"))  # more than the limit: not kept, nothing else lost
    assert m.known("big", list("123456")) == [] and len(m) == 4


def test_rows_written_by_another_process_are_seen(fresh_db_url):
    rows = stored.RowMemo(1000)
    engines = [make_engine(fresh_db_url), make_engine(fresh_db_url)]  # this process's, and "another" one's
    try:
        mine, theirs = (make_sessions(e) for e in engines)
        with mine() as s, s.begin():
            record_observations(s, _doc("A", [_ferritin("f1", 500, "2024-05-01T08:00:00Z")]), source="a",
                                actor=ACTOR, now=NOW)
        with mine() as s:
            assert _parse(s, "A", rows).table.series["ferritin"].value.tolist() == [500]
        with theirs() as s, s.begin():
            record_observations(s, _doc("A", [_ferritin("f2", 900, "2024-05-02T08:00:00Z"),
                                              {"id": "f1", "status": "entered-in-error"}]),
                                source="b", actor=ACTOR, now=NOW)
        with mine() as s:
            tl = _parse(s, "A", rows)
            assert tl.table.series["ferritin"].value.tolist() == [900] and tl.table.removed == ["f1"]
            _same_as_raw(s, "A", tl)
    finally:
        for e in engines:
            e.dispose()


def test_a_rolled_back_row_is_never_served_for_the_row_that_reuses_its_id(session):
    """SQLite gives a rolled-back insert's id to the next row: a cache keyed by row id would serve the
    rolled-back row's value; compared by the rows' texts, it cannot."""
    rows = stored.RowMemo(1000)
    record_observations(session, _doc("A", [_ferritin("f1", 500, "2024-05-01T08:00:00Z")]), source="a",
                        actor=ACTOR, now=NOW)
    with pytest.raises(RuntimeError):
        with session.begin_nested():
            record_observations(session, _doc("A", [_ferritin("f2", 111, "2024-05-02T08:00:00Z")]), source="b",
                                actor=ACTOR, now=NOW)
            assert _parse(session, "A", rows).table.series["ferritin"].value.tolist() == [500, 111]
            raise RuntimeError("rolled back")
    record_observations(session, _doc("A", [_ferritin("f2", 222, "2024-05-02T08:00:00Z")]), source="c",
                        actor=ACTOR, now=NOW)
    assert _parse(session, "A", rows).table.series["ferritin"].value.tolist() == [500, 222]


@pytest.fixture
def sessions(fresh_db_url):
    """Sessions that commit their own transactions (as ``maswatch serve`` and the monitor make them)."""
    engine = make_engine(fresh_db_url)
    yield make_sessions(engine)
    engine.dispose()


def _store(sessions, pid, obs):
    with sessions() as s, s.begin():
        record_observations(s, _doc(pid, obs), source="a", actor=ACTOR, now=NOW)


def _read(sessions, pid, read, *, commit=True):
    """The patient's stored texts through the READ memo, and how many observation rows travelled."""
    travelled = []
    real = repo.timeline_rows

    def counting(*a, **kw):
        got = real(*a, **kw)
        travelled.append(len(got.rows))
        return got

    repo.timeline_rows = counting
    try:
        with sessions() as s:
            with s.begin():
                p = repo.patient_by_external_id(s, pid)
                texts = stored.stored_data(s, p, read).texts
                raw = [t for _, t in real(s, p.id).rows]  # every row, read in full
                if not commit:
                    s.rollback()
    finally:
        repo.timeline_rows = real
    assert [json.loads(t) for t in texts] == [json.loads(t) for t in raw]  # what a full read gives
    return texts, travelled


def test_a_new_result_reads_only_the_rows_after_those_already_read(sessions):
    read = stored.PatientRows(lambda r: len(r.texts), 1000)
    _store(sessions, "A", [_ferritin(f"f{i}", 500 + i, f"2024-05-0{i}T08:00:00Z") for i in range(1, 4)])
    _store(sessions, "B", [_ferritin("g1", 90, "2024-05-01T08:00:00Z")])
    assert _read(sessions, "A", read)[1] == [3]
    assert _read(sessions, "A", read)[1] == [0]  # nothing new: no observation row read
    _store(sessions, "A", [_ferritin("f4", 900, "2024-05-04T08:00:00Z")])
    _store(sessions, "B", [_ferritin("g2", 80, "2024-05-02T08:00:00Z")])  # another patient's row: not A's
    texts, travelled = _read(sessions, "A", read)
    assert travelled == [1] and json.loads(texts[-1])["value"] == 900 and len(texts) == 4


def test_rows_read_in_a_rolled_back_transaction_are_not_remembered(sessions):
    read = stored.PatientRows(lambda r: len(r.texts), 1000)
    _store(sessions, "A", [_ferritin("f1", 500, "2024-05-01T08:00:00Z")])
    _read(sessions, "A", read, commit=False)
    assert len(read) == 0
    with sessions() as s:  # a transaction that stores a row, reads it, and rolls back
        with s.begin():
            record_observations(s, _doc("A", [_ferritin("f2", 111, "2024-05-02T08:00:00Z")]), source="b",
                                actor=ACTOR, now=NOW)
            assert len(stored.stored_data(s, repo.patient_by_external_id(s, "A"), read).texts) == 2
            s.rollback()
    assert len(read) == 0
    _store(sessions, "A", [_ferritin("f2", 222, "2024-05-02T08:00:00Z")])  # SQLite: the rolled-back row's id
    texts, travelled = _read(sessions, "A", read)
    assert travelled == [2] and json.loads(texts[-1])["value"] == 222


def test_a_row_committed_later_with_a_smaller_id_is_read(sessions):
    """PostgreSQL hands out ids at insert: a transaction may commit a row with a smaller id than
    rows already read (simulated here by giving the id). The count of the rows up to the last one
    read changes, and every row is read again."""
    read = stored.PatientRows(lambda r: len(r.texts), 1000)
    _store(sessions, "A", [_ferritin("f1", 500, "2024-05-01T08:00:00Z")])
    with sessions() as s, s.begin():
        s.execute(text("INSERT INTO observations (id, patient_id, batch_id, record_id, status, received_at, data) "
                       "SELECT 100, patient_id, batch_id, 'f3', 'final', received_at, :d FROM observations"),
                  {"d": json.dumps(_ferritin("f3", 700, "2024-05-03T08:00:00Z"))})
    assert _read(sessions, "A", read)[1] == [2]
    with sessions() as s, s.begin():
        s.execute(text("INSERT INTO observations (id, patient_id, batch_id, record_id, status, received_at, data) "
                       "SELECT 50, patient_id, batch_id, 'f2', 'final', received_at, :d FROM observations "
                       "WHERE id = 100"), {"d": json.dumps(_ferritin("f2", 600, "2024-05-02T08:00:00Z"))})
    texts, travelled = _read(sessions, "A", read)
    assert travelled == [0, 3] and [json.loads(t)["value"] for t in texts] == [500, 600, 700]


def test_another_database_never_serves_this_ones_rows(backend, tmp_path):
    """Two databases copied from one template share the database id and the patient's row ids; the
    memo is per database URL, so each is read as it is."""
    from dbfix import new_database

    read = stored.PatientRows(lambda r: len(r.texts), 1000)
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
    engines = [make_engine(new_database(backend, tmp_path / d)) for d in ("x", "y")]
    try:
        one, two = (make_sessions(e) for e in engines)
        _store(one, "A", [_ferritin("f1", 500, "2024-05-01T08:00:00Z")])
        _store(two, "A", [_ferritin("f1", 999, "2024-05-01T08:00:00Z")])
        for sessions, value in ((one, 500), (two, 999), (one, 500), (two, 999)):
            assert json.loads(_read(sessions, "A", read)[0][0])["value"] == value
    finally:
        for e in engines:
            e.dispose()


def test_a_session_inside_someone_elses_transaction_remembers_nothing(session):
    read = stored.PatientRows(lambda r: len(r.texts), 1000)
    record_observations(session, _doc("A", [_ferritin("f1", 500, "2024-05-01T08:00:00Z")]), source="a",
                        actor=ACTOR, now=NOW)
    session.commit()  # a savepoint of the test's outer transaction, which is rolled back at the end
    stored.stored_data(session, repo.patient_by_external_id(session, "A"), read)
    session.commit()
    assert len(read) == 0


def test_after_commit_runs_once_and_only_after_a_commit(sessions):
    calls = []
    with sessions() as s:
        with s.begin():
            repo.after_commit(s, lambda: calls.append("rolled back"))
            s.rollback()
        with s.begin():
            repo.after_commit(s, lambda: calls.append("committed"))
            assert calls == []
        with s.begin():
            pass
    assert calls == ["committed"]


def test_a_bad_new_row_gives_the_raw_documents_own_error(session):
    rows = stored.RowMemo(1000)
    record_observations(session, _doc("A", [_ferritin("f1", 500, "2024-05-01T08:00:00Z")]), source="a",
                        actor=ACTOR, now=NOW)
    _parse(session, "A", rows)
    p = repo.patient_by_external_id(session, "A")
    bad = _ferritin("f9", 5, "2024-05-03T08:00:00Z", unit="furlongs")  # a row the reader would refuse, slipped in
    session.execute(text("INSERT INTO observations (patient_id, batch_id, record_id, status, received_at, data) "
                         "SELECT patient_id, batch_id, 'f9', 'final', received_at, :d FROM observations "
                         "WHERE patient_id = :p"), {"d": json.dumps(bad), "p": p.id})
    with pytest.raises(InputError) as raw:
        timeline.parse(stored_timeline_doc(session, p))
    with pytest.raises(InputError) as got:
        _parse(session, "A", rows)
    assert (got.value.field, got.value.message) == (raw.value.field, raw.value.message)
    assert len(rows) == 1  # nothing of the refused document was remembered


def test_full_json_is_recomputed_for_new_data_and_remembered_for_the_same(session):
    record_observations(session, _doc("A", [_ferritin("f1", 500, "2024-05-01T08:00:00Z")]), source="a",
                        actor=ACTOR, now=NOW)
    p = repo.patient_by_external_id(session, "A")
    first = full.assessment_text(stored.stored_data(session, p), DEFAULT_RULES)
    assert full.assessment_text(stored.stored_data(session, p), DEFAULT_RULES) is first
    record_observations(session, _doc("A", [_ferritin("f2", 900, "2024-05-02T08:00:00Z")]), source="a",
                        actor=ACTOR, now=NOW)
    second = json.loads(full.assessment_text(stored.stored_data(session, p), DEFAULT_RULES))
    assert second == DEFAULT_RULES.assess(timeline.parse(stored_timeline_doc(session, p))).to_json()
    assert len(second["history"]) == 2 and len(json.loads(first)["history"]) == 1


def test_a_changed_patient_block_alone_is_new_data(session, session_factory):
    record_observations(session, _doc("A", [_ferritin("f1", 500, "2024-05-01T08:00:00Z")]), source="a",
                        actor=ACTOR, now=NOW)
    session.flush()
    run_once(session_factory, DEFAULT_RULES, lambda: NOW)
    session.expire_all()
    p = repo.patient_by_external_id(session, "A")
    version = p.data_version
    assert not p.pending
    record_observations(session, _doc("A", [_ferritin("f1", 500, "2024-05-01T08:00:00Z")]), source="a",
                        actor=ACTOR, now=NOW)
    assert not p.pending and p.data_version == version  # the same document again: nothing new
    moved = {"format": "maswatch-timeline/1", "patient": {"id": "A", "birth_date": "2022-03-01"}}
    record_observations(session, moved, source="a", actor=ACTOR, now=NOW)
    assert p.pending and p.data_version == version + 1  # the age changed: the assessment must be redone


def test_equal_conditions_in_one_document_are_stored_once(session):
    rep = record_observations(session, _doc("A", [], conditions=[{"code": "sjia"}, {"code": "sle"}, {"code": "sjia"}]),
                              source="a", actor=ACTOR, now=NOW)
    p = repo.patient_by_external_id(session, "A")
    assert rep.conditions_added == 2 and stored_timeline_doc(session, p)["conditions"] == [{"code": "sjia"},
                                                                                          {"code": "sle"}]


# ----------------------------------------------------------------------------- from the assessment, not its history

@pytest.mark.parametrize("doc", COHORT, ids=[d["patient"]["id"] for d in COHORT])
def test_what_changed_is_the_same_without_the_history(doc):
    a = DEFAULT_RULES.assess(timeline.parse(doc))
    whole = a.to_json()
    keys = sorted({(int(h["segment"] or 0), h["alert_level"]) for h in whole["history"] if h["notify"]})
    history = {h["time"]: h for h in whole["history"]}
    assert len(history) == len(whole["history"])
    for known in (set(), set(keys), set(keys[::2])):
        rows = a.history_for_changes(known)
        for r in rows:  # each row as the history has it
            assert r == {k: history[r["time"]][k] for k in r}
        assert [r["time"] for r in rows if r["notify"]] == [h["time"] for h in whole["history"] if h["notify"]]
        for before in (None, "none", "alert"):
            assert changes({**a.to_json(history=False), "history": rows}, known, before) == \
                changes(whole, known, before)


def test_the_cohort_exercises_notifications():
    assert sum(h["notify"] for d in COHORT for h in DEFAULT_RULES.assess(timeline.parse(d)).to_json()["history"]) >= 10


def _direction_from_history(out: dict, analyte: str) -> str:
    """The ward list's rule as it was computed from the history JSON (the reference)."""
    vals = [h["labs"].get(analyte) for h in out["history"] if isinstance(h["labs"].get(analyte), (int, float))]
    if len(vals) < 2:
        return "unknown" if not vals else "single value"
    return "rising" if vals[-1] > vals[-2] else "falling" if vals[-1] < vals[-2] else "steady"


def _lab(analyte, unit, values):
    # values equal after rounding to 6 places (150 and 150.0000004) test the JSON's own rounding
    return st.fixed_dictionaries({"analyte": st.just(analyte), "unit": st.just(unit), "value": st.sampled_from(values),
                                  "comparator": st.sampled_from([None, None, None, "<", ">"])})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 40), st.one_of(
    _lab("ferritin", "ng/mL", [50, 80, 150, 150.0000004, 900, 10000]),
    _lab("platelets", "10^9/L", [20, 80, 150, 150.0000004, 300, 900]),
    _lab("crp", "mg/L", [1, 50, 150]))), max_size=12))
def test_trend_direction_is_the_historys_answer(items):
    t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
    obs = []
    for i, (hours, lab) in enumerate(items):
        o = {"id": f"o{i}", "time": (t0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z"),
             **{k: v for k, v in lab.items() if v is not None}}
        obs.append(o)
    a = DEFAULT_RULES.assess(timeline.parse(_doc("H", obs)))
    got = trend_direction(a)
    out = a.to_json()
    assert got == {x: _direction_from_history(out, x) for x in ("ferritin", "platelets")}


@pytest.mark.parametrize("doc", COHORT[:6], ids=[d["patient"]["id"] for d in COHORT[:6]])
def test_trend_direction_on_the_cohort(doc):
    a = DEFAULT_RULES.assess(timeline.parse(doc))
    out = a.to_json()
    assert trend_direction(a) == {x: _direction_from_history(out, x) for x in ("ferritin", "platelets")}


_PANEL = st.fixed_dictionaries({
    "ferritin": st.sampled_from([None, 200, 800, 3000, 12000]),
    "platelets": st.sampled_from([None, 350, 180, 90]),
    "ast": st.sampled_from([None, 30, 120, 400]),
    "fibrinogen": st.sampled_from([None, 3.0, 2.0, 1.2]),
    "fever": st.sampled_from([None, True, False])})
_UNITS = {"ferritin": "ng/mL", "platelets": "10^9/L", "ast": "U/L", "fibrinogen": "g/L"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 30), _PANEL), min_size=1, max_size=14))
def test_what_changed_is_the_same_without_the_history_on_any_course(panels):
    """Courses that rise, fall and rise again (a level reached twice in one segment, notified once)."""
    t, obs = datetime(2024, 5, 1, tzinfo=timezone.utc), []
    for k, (hours, panel) in enumerate(panels):
        t += timedelta(hours=hours)
        when = t.isoformat().replace("+00:00", "Z")
        for name, v in panel.items():
            if v is not None:
                obs.append({"id": f"{name}{k}", "time": when, "value": v,
                            **({"finding": name} if name == "fever" else {"analyte": name, "unit": _UNITS[name]})})
    a = DEFAULT_RULES.assess(timeline.parse(_doc("H", obs)))
    whole = a.to_json()
    keys = {(int(h["segment"] or 0), h["alert_level"]) for h in whole["history"] if h["notify"]}
    for known in (set(), keys):
        for before in (None, "watch"):
            assert changes({**a.to_json(history=False), "history": a.history_for_changes(known)}, known, before) == \
                changes(whole, known, before)
