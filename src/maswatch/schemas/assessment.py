"""The contract of ``maswatch assess --json`` (``maswatch-assessment/1``) as pydantic models.

Four consumers read this object: the CLI, the JSON API, the CDS Hooks cards and the web
pages. The JSON Schema is generated from these models (``maswatch schema assessment``)
and checked in as ``assessment.schema.json``; a test asserts the two are equal and that
real outputs validate. The parts every consumer reads (level, reading, next steps,
freshness, instrument rows, history rows) are closed (no unknown keys); treatment,
response, trends and settings are described by their own documents and stay open.

Version: bump ``ASSESSMENT_SCHEMA`` (``maswatch-assessment/N``) when a field is removed or
changes meaning; adding an optional field keeps the version.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

ASSESSMENT_SCHEMA = "maswatch-assessment/1"

Level = Literal["none", "watch", "concern", "alert"]
Verdict = Literal["met", "not_met", "indeterminate"]
Number = Union[int, float]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Reading(_Closed):
    """The one line a clinician can act on, and what it was built from."""

    text: str = Field(description="The headline: level (assess), sets met among the instruments that apply, "
                                  "or the work-up entry and the sets still open.")
    met: list[str] = Field(description="Core sets met in a patient they apply to (instrument ids).")
    open: list[str] = Field(description="Core sets that apply and are not met (open or not met).")
    outside_population: list[str] = Field(description="Sets met although the patient is outside their population: "
                                                      "never in the headline.")
    supporting: list[str] = Field(description="Differential instruments that apply and are met (MS score, ferritin:ESR).")
    hlh2004_clinical_route: Optional[Literal["met", "not_met", "indeterminate"]] = None
    hlh2004_molecular_route: Optional[str] = Field(None, description="'not assessed' when no molecular diagnosis "
                                                                     "is recorded, else met / not_met.")


class NextStep(_Closed):
    rank: int = Field(description="1 = first; bedside, then routine labs, then specialised tests.")
    group: Literal["bedside", "routine", "specialised"]
    group_title: str
    step: str = Field(description="Step id in data/next_steps.toml.")
    text: str
    inputs: list[str] = Field(description="Snapshot inputs the step provides (labs.ferritin, findings.splenomegaly).")
    why: str = Field(description="'not yet recorded', 'stale', 'overdue', and/or 'can change: <instruments>'.")
    settles: list[str] = Field(description="Applicable instruments whose open verdict the step can change.")


class StaleResult(_Closed):
    input: str = Field(description="Series key (analyte or finding id).")
    last_time: str
    age_hours: Number
    lookback_hours: Number


class OverdueLab(_Closed):
    input: str
    last_time: Optional[str] = Field(description="None: never measured.")
    age_hours: Optional[Number]
    due_every_hours: Number


class Freshness(_Closed):
    stale: list[StaleResult] = Field(description="Results of the current monitoring segment that aged out of their "
                                                 "look-back window and are no longer used.")
    overdue: list[OverdueLab] = Field(description="Labs older than their interval while an episode is active.")
    episode_active: bool
    level_from_fresh_results: Level = Field(description="The level from results inside their windows alone.")
    level_carried: bool = Field(description="True when alert_level is above level_from_fresh_results because "
                                            "results are stale (or overdue in an active episode).")
    reason: Optional[str] = Field(description="Why the level was carried; null when it was not.")


class Explanation(_Closed):
    reason: str
    level: Level
    text: str
    evidence: list[str]


class InputUsed(_Closed):
    input: str
    id: Optional[str] = None
    time: str
    status: Optional[str] = None
    preliminary: bool
    age_hours: Number = Field(description="Hours between the result and the assessment time.")


class Evidence(_Open):
    input: str
    display: str = Field(description="Readable: as entered, and in the paper's unit where it differs "
                                     "('fibrinogen 1.2 g/L (120 mg/dL)').")
    value: Optional[Union[Number, bool]] = Field(None, description="Exact value in the canonical unit (labs) or "
                                                                   "true/false (findings); null = unknown.")
    unit: Optional[str] = None


class Item(_Open):
    id: str
    label: str
    threshold: str
    status: Literal["met", "not_met", "unknown", "scored"]
    inputs: list[Evidence]


class InstrumentRow(_Open):
    """One instrument at the assessment time (``maswatch evaluate`` gives the same object)."""

    verdict: Verdict
    applicable: Optional[bool]
    title: str
    items: list[Item]
    missing: list[str]
    reference: str
    population: str
    intended_use: str
    cutoff: Union[str, Number] = Field(description="The cut-off as published (text); for the MS and MH scores the "
                                                   "number in use (a setting).")
    unverified: list[str]
    score_display: str = Field(description="The score, count or ratio as read: exact, '≥ X' / '≤ X' when the "
                                           "verdict is settled, or 'cannot be scored without ...'. Exact bounds "
                                           "stay in score_min/score_max, criteria_met/criteria_possible, ratio_*.")


class Episode(_Open):
    state: Literal["active", "remission", "in remission", "no episode"]
    current: Optional[int]
    recurrence: bool
    episodes: list[dict[str, Any]]


class Current(_Closed):
    alert_level: Level = Field(description="The level shown (carried when results are stale; see freshness).")
    alert_levels: Optional[list[Level]] = None
    notify: Optional[bool] = None
    reading: Optional[Reading] = None
    next_steps: Optional[list[NextStep]] = None
    freshness: Optional[Freshness] = None
    explanation: list[Explanation]
    note: Optional[str] = Field(None, description="Present only when there is nothing to assess.")
    context: Optional[str] = None
    age_years: Optional[Number] = None
    inputs: Optional[list[InputUsed]] = None
    uses_preliminary: Optional[bool] = None
    instruments: Optional[dict[str, InstrumentRow]]
    differential: Optional[dict[str, dict[str, Any]]] = None
    trends: Optional[dict[str, dict[str, Any]]] = None
    tests_to_order: Optional[list[dict[str, Any]]] = None
    treatment: Optional[dict[str, Any]] = None
    response: Optional[dict[str, Any]] = None
    episode: Optional[Episode] = None


class HistoryRow(_Closed):
    time: str
    alert_level: Level
    level_from_fresh_results: Level
    stale: list[str]
    overdue: list[str]
    notify: bool
    episode: Optional[int]
    segment: int
    result_time: bool
    uses_preliminary: bool
    labs: dict[str, Union[Number, Literal["censored"], None]] = Field(description="Key labs in canonical units.")
    verdicts: dict[str, Verdict]
    scores: dict[str, Union[Number, list[Optional[Number]], None]]
    explanation: Optional[list[Explanation]] = None
    tests_to_order: Optional[list[str]] = None


class AssessmentDocument(_Closed):
    """``maswatch assess --json``; the same object from ``GET /api/patients/{id}/assessment``."""

    schema_: Literal["maswatch-assessment/1"] = Field(alias="schema", description="Format and version.")
    patient: dict[str, Any]
    synthetic: bool
    label: Optional[str] = Field(None, description="'SYNTHETIC data — not a real patient' on synthetic data.")
    at: str
    assessment: Current
    history: list[HistoryRow] = Field(
        None, description="One row per evaluation time. Always present in `maswatch assess --json`; absent only "
        "when the caller asked for the assessment at `at` alone (`Assessment.to_json(history=False)`).",
        json_schema_extra=lambda s: s.pop("default"))  # optional, but never null
    first_met: dict[str, Optional[str]]
    first_indeterminate: dict[str, Optional[str]]
    peak_scores: dict[str, dict[str, Any]]
    corrections: dict[str, list[str]]
    settings: dict[str, Any]
    disclaimer: str


def assessment_schema() -> dict:
    schema = AssessmentDocument.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://maswatch.example/schemas/assessment.schema.json"
    schema["title"] = "maswatch assessment (maswatch-assessment/1)"
    schema["description"] = (
        "Output of `maswatch assess --json` and of the assessment API: the alert level (carried while results "
        "are stale, see freshness), the one-line reading and the ordered next steps, every instrument with the "
        "values used (exact numbers and readable display strings), the history at every result time, treatment "
        "and response. docs/assessment.md describes every field."
    )
    return schema
