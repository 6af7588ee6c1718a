"""``serve --demo``: a SYNTHETIC cohort (maswatch.synth) loaded and assessed, and two demo
accounts with random passwords (printed once by the CLI)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import synth, timeline
from ..synth.params import SynthOptions
from ..rules import Rules
from . import accounts
from .actors import Actor, Clock
from .ingest import record_observations
from .monitor import run_once

if TYPE_CHECKING:  # the store owns SQLAlchemy; services only pass its Session on
    from sqlalchemy.orm import Session, sessionmaker

DEMO_PATIENTS = 30
DEMO_SEED = 2024
WARDS = ("Rheumatology A", "Rheumatology B", "PICU")
TEAMS = ("sJIA", "Lupus", "Adult rheum")


def _in_hospital(doc: dict, rules: Rules, i: int) -> dict:
    """Two in three patients whose course reached 'concern' or 'alert' are shown as they were a day
    after it (the data after that cut off), so the ward list has patients in an active episode now."""
    out = rules.assess(timeline.parse(doc)).to_json()
    worst = [h for h in out["history"] if h["notify"] and h["alert_level"] in ("concern", "alert")]
    if not worst or i % 3 == 2:
        return doc
    cut = (datetime.fromisoformat(worst[-1]["time"]) + timedelta(hours=24)).isoformat()
    keep = lambda t: t is None or datetime.fromisoformat(t.replace("Z", "+00:00")) <= datetime.fromisoformat(cut)  # noqa: E731
    return {**doc, "observations": [o for o in doc["observations"] if keep(o.get("time"))],
            "medications": [m for m in doc.get("medications", []) if keep(m.get("start"))]}


@dataclass(frozen=True)
class DemoAccounts:
    clinician: tuple[str, str]
    admin: tuple[str, str]


def load_demo(sessions: sessionmaker[Session], rules: Rules, clock: Clock, patients: int = DEMO_PATIENTS,
              seed: int = DEMO_SEED) -> DemoAccounts:
    actor = Actor("demo-loader")
    docs = [_in_hospital(d, rules, i) for i, d in
            enumerate(synth.cohort(patients, seed, SynthOptions(mas_ever_scale=3.0), timelines=True)["timelines"])]
    creds = {role: (f"demo-{role}", secrets.token_urlsafe(12)) for role in accounts.ROLES}
    with sessions() as s, s.begin():
        for role, (name, pw) in creds.items():
            accounts.create_user(s, name, pw, role, actor, clock())
        for i, doc in enumerate(docs):
            record_observations(s, doc, source="demo (SYNTHETIC)", actor=actor, now=clock())
            from ..store import repo

            p = repo.patient_by_external_id(s, str(doc["patient"]["id"]))
            p.ward, p.team = WARDS[i % len(WARDS)], TEAMS[i % len(TEAMS)]
    run_once(sessions, rules, clock)
    return DemoAccounts(creds["clinician"], creds["admin"])
