"""A kill -9 in the middle of an ingest: what was acknowledged as stored is kept, and no
half-ingested batch is visible (SQLite WAL and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from sqlalchemy import func, select

from dbfix import *  # noqa: F401,F403  (fixtures)
from maswatch.store import repo
from maswatch.store.db import make_engine, session_factory as make_factory
from maswatch.store.tables import AuditEvent, IngestBatch, Observation

N = 3000

SCRIPT = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timezone
    from maswatch.monitoring import Actor, record_observations
    from maswatch.store.db import make_engine, session_factory, transaction

    url, n = sys.argv[1], int(sys.argv[2])
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def doc(batch):
        return {"synthetic": True, "patient": {"id": "CRASH-1"}, "observations": [
            {"id": f"b{batch}-{i}", "time": f"2024-05-01T{i % 24:02d}:00:00Z", "analyte": "ferritin",
             "value": 100 + i, "unit": "ng/mL"} for i in range(n)]}

    factory = session_factory(make_engine(url))
    with transaction(factory) as s:
        record_observations(s, doc(1), source="crash-test", actor=Actor("cli"), now=now)
    print("stored batch 1", flush=True)
    with transaction(factory) as s:
        record_observations(s, doc(2), source="crash-test", actor=Actor("cli"), now=now)
        s.flush()  # every row of batch 2 is written to the database, not committed
        print("mid-batch 2", flush=True)
        time.sleep(120)
""")


def test_kill_9_mid_ingest_keeps_committed_batch_and_no_partial_one(fresh_db_url, tmp_path):
    script = tmp_path / "ingest.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), fresh_db_url, str(N)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "stored batch 1", proc.stderr.read() if proc.poll() else ""
        assert proc.stdout.readline().strip() == "mid-batch 2"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    engine = make_engine(fresh_db_url)
    try:
        with make_factory(engine)() as s:
            assert s.scalar(select(func.count()).select_from(Observation)) == N
            ids = set(s.scalars(select(Observation.record_id)))
            assert all(i.startswith("b1-") for i in ids)
            assert s.scalar(select(func.count()).select_from(IngestBatch)) == 1
            assert [e.action for e in s.scalars(select(AuditEvent))] == ["ingest"]
            p = repo.patient_by_external_id(s, "CRASH-1")
            assert p.pending and p.data_version == 1
    finally:
        engine.dispose()


def test_in_server_monitor_assesses_pending_patients(fresh_db_url):
    """``[monitor] in_server``: the lifespan task runs the same pass as ``maswatch monitor``."""
    import time
    from datetime import datetime, timezone

    from fastapi.testclient import TestClient

    from maswatch.monitoring import Actor, record_observations
    from maswatch.web import create_app
    from maswatch.web.config import parse_config

    engine = make_engine(fresh_db_url)
    try:
        with make_factory(engine)() as s, s.begin():
            record_observations(s, {"synthetic": True, "patient": {"id": "BG-1"}, "observations": [
                {"id": "f1", "time": "2024-05-01T08:00:00Z", "analyte": "ferritin", "value": 900, "unit": "ng/mL"}]},
                source="test", actor=Actor("test"), now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    finally:
        engine.dispose()
    app = create_app(parse_config({"database_url": fresh_db_url, "monitor": {"in_server": True,
                                                                           "interval_seconds": 1}}))
    with TestClient(app):
        rt = app.state.runtime
        deadline = time.time() + 60
        while time.time() < deadline:
            with rt.sessions() as s:
                p = repo.patient_by_external_id(s, "BG-1")
                if not p.pending and repo.latest_assessment(s, p.id) is not None:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("the in-server monitor did not assess the pending patient within 60 s")
