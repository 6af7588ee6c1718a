"""The monitor polls a real FHIR server (sekmet-fhir, tests/fhir_fixtures.py) for new results."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from dbfix import *  # noqa: F401,F403  (fixtures)
from fhir_fixtures import fhir_server  # noqa: F401
from maswatch import synth
from maswatch.fhir.client import FhirClient
from maswatch.fhir.export import timeline_to_resources
from maswatch.monitoring import Actor, record_observations, run_once
from maswatch.monitoring.full import assessment_text
from maswatch.monitoring.stored import stored_data
from maswatch.monitoring.poll import poll_fhir
from maswatch.rules import DEFAULT_RULES
from maswatch.store import repo

DOC = synth.cohort(1, 31, timelines=True)["timelines"][0]  # SYNTHETIC


class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self):
        return self.now


def test_poll_stores_new_results_then_only_updates(session, session_factory, fhir_server, tmp_path, backend):  # noqa: F811
    pid = f"{DOC['patient']['id']}-{backend}"
    doc = {**DOC, "patient": {**DOC["patient"], "id": pid},
           "observations": [{**o, "id": f"{o['id']}-{backend}"} for o in DOC["observations"]]}
    fhir_server.put(timeline_to_resources(doc))
    record_observations(session, {"patient": {"id": pid}}, source="registration", actor=Actor("test"),
                        now=datetime.now(timezone.utc))  # the patient is put under watch
    session.flush()
    clock = Clock()
    with FhirClient(fhir_server.base_url) as client:
        first = poll_fhir(session_factory, client, clock, lookback_days=365 * 30)
        assert first.failed == {} and first.stored > len(doc["observations"]) // 2
        # (the server keeps one version per id, so corrected versions arrive as one)
        run_once(session_factory, DEFAULT_RULES, clock)
        session.expire_all()
        p = repo.patient_by_external_id(session, pid)
        stored = repo.latest_assessment(session, p.id).data
        full = assessment_text(stored_data(session, p), DEFAULT_RULES)
        bundle = client.patient_data(pid, since=clock.now - timedelta(days=365 * 30))
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    r = subprocess.run([sys.executable, "-m", "maswatch", "assess", str(path), "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    cli = json.loads(r.stdout)
    assert stored == {k: v for k, v in cli.items() if k != "history"}  # the row: the assessment less its history
    assert json.loads(full) == cli  # the history: recomputed from the stored rows

    last = doc["observations"][-1]
    new = {**last, "id": f"new-{backend}", "time": last["time"]}
    fhir_server.put([r for r in timeline_to_resources({**doc, "observations": [new]})
                     if r["resourceType"] == "Observation"])
    clock.now += timedelta(minutes=10)
    with FhirClient(fhir_server.base_url) as client:
        second = poll_fhir(session_factory, client, clock)
    assert second.failed == {} and second.stored == 1  # the new result; re-sent unchanged versions are skipped
    session.expire_all()
    assert repo.patient_by_external_id(session, pid).pending
