"""Polling a FHIR server for new results of the patients under watch (``[fhir]`` of the
service file): the registry's LOINC codes, ``_lastUpdated`` after the last poll, paging
followed by the client (maswatch.fhir.client). One transaction per patient; what arrives
is stored by :func:`record_document` like any upload, and the monitor assesses it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import MaswatchError
from ..store import repo
from .actors import Actor, Clock
from .ingest import record_document

if TYPE_CHECKING:  # the store owns SQLAlchemy
    from sqlalchemy.orm import Session, sessionmaker

    from ..fhir.client import FhirClient
    from .monitor import RunReport

log = logging.getLogger(__name__)
POLLER = Actor("fhir-poll")
OVERLAP = timedelta(minutes=2)
"""Each poll re-asks this much before the last one (clocks differ); a re-sent version changes nothing."""
KEY = "fhir.last_polled:"


@dataclass
class PollReport:
    polled: int = 0
    stored: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def client_from_config(fhir) -> "FhirClient":
    """A FhirClient from the ``[fhir]`` table (web.config.FhirConfig)."""
    from ..fhir.client import FhirClient, SmartBackend

    smart = None
    if fhir.smart is not None:
        s = fhir.smart
        smart = SmartBackend.from_file(s.token_url, s.client_id, s.private_key_file, s.kid, s.alg, s.scope)
    return FhirClient(fhir.base_url, bearer_token=fhir.bearer_token, smart=smart, timeout=fhir.timeout_seconds)


def poll_fhir(sessions: "sessionmaker[Session]", client: "FhirClient", clock: Clock, *,
              lookback_days: float = 30) -> PollReport:
    report = PollReport()
    with sessions() as s:
        ids = [r.external_id for r in repo.ward_rows(s)]
    for pid in ids:
        started = clock()
        try:
            with sessions() as s, s.begin():
                last = repo.server_setting(s, KEY + pid)
                if last is None:  # first poll: the patient, conditions, medications and a window of results
                    bundle = client.patient_data(pid, since=started - timedelta(days=lookback_days))
                else:
                    after = datetime.fromisoformat(last) - OVERLAP
                    obs = client.observations(pid, last_updated_after=after)
                    bundle = {"resourceType": "Bundle", "type": "collection",
                              "entry": [{"resource": r} for r in obs]}
                if bundle["entry"]:
                    rep = record_document(s, bundle, kind="fhir", source=f"fhir:{client.base_url}", actor=POLLER,
                                          now=started)
                    report.stored += sum(rep.stored.values())
                repo.set_server_setting(s, KEY + pid, started.isoformat())
            report.polled += 1
        except MaswatchError as exc:  # one patient's failure (e.g. 404) does not stop the others
            report.failed[pid] = str(exc)[:300]
            log.warning("FHIR poll failed for one patient: %s", type(exc).__name__)
    return report


def monitor_pass(rt) -> tuple[PollReport | None, "RunReport"]:
    """One pass of the monitor (``maswatch monitor`` and the in-server loop): poll the FHIR
    server when ``[fhir]`` is configured, then assess every patient with new data."""
    from .monitor import run_once

    polled = None
    fhir = rt.config.fhir
    if fhir is not None:
        with client_from_config(fhir) as client:
            polled = poll_fhir(rt.sessions, client, rt.clock, lookback_days=fhir.lookback_days)
    return polled, run_once(rt.sessions, rt.rules, rt.clock)
