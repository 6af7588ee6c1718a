"""The snapshot contract: one patient at one time, as JSON (schema: ``schemas/snapshot.schema.json``).

Parsing is strict: unknown keys, wrong types and unknown units are refused with the
dotted path of the field, so a typo can never silently drop a result. Absent or
``null`` means unknown. Values are converted to canonical units by the analyte
registry; the value as given is kept for the evidence.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError,
                      field_validator)

from . import analytes
from .batch import CONTEXTS, FINDING_IDS, PATIENT_FLAGS, QUANTITY_IDS, SnapshotBatch, comparator_code
from .errors import InputError
from .jsondoc import FiniteNumber, parse_time, shorten

Comparator = Literal["<", "<=", ">=", ">"]
Context = Literal["sjia", "aosd", "sle", "other_rheumatic", "none", "unknown"]
assert set(Context.__args__) == set(CONTEXTS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measurement(_Strict):
    """A numeric result with its unit; a censored result carries a comparator."""

    value: FiniteNumber = Field(description="The number as reported.")
    unit: StrictStr | None = Field(
        None, description="Unit as reported (UCUM or a common lab spelling). Required: a unit is never assumed."
    )
    comparator: Comparator | None = Field(
        None, description="For censored results, e.g. '>' for ferritin '>40000'. Absent = exact value."
    )


class Patient(_Strict):
    age_years: StrictFloat | StrictInt | None = Field(default=None, ge=0, le=130, description="Age in years.")
    context: Context = Field(
        "unknown",
        description="sjia = known or suspected systemic JIA / Still's in a child; aosd; sle; other_rheumatic; "
        "none; unknown. Sets 'applicable' on each result; every instrument is still computed.",
    )
    known_immunosuppression: StrictBool | None = Field(
        None, description="HIV or long-term immunosuppressive therapy (HScore item)."
    )
    hlh_molecular_diagnosis: StrictBool | None = Field(
        None, description="Pathogenic variant in an HLH-associated gene (HLH-2004 criterion 1)."
    )
    malignancy: StrictBool | None = Field(
        None, description="Evidence of malignancy. True: HLH-2004 criterion 5 (haemophagocytosis) is not counted; "
        "absent/null: not known (stated in the result); also the OHI index's population."
    )


class Findings(_Strict):
    fever: StrictBool | None = Field(None, description="The clinician's fever finding (2016 criteria, HLH-2004).")
    temperature: Measurement | None = Field(
        None, description="Measured body temperature (grades the HScore and the jSLE fever item); Cel or [degF]."
    )
    hepatomegaly: StrictBool | None = None
    splenomegaly: StrictBool | None = None
    cns_involvement: StrictBool | None = None
    hemorrhage: StrictBool | None = None
    active_arthritis: StrictBool | None = None
    marrow_hemophagocytosis: StrictBool | None = None
    tissue_hemophagocytosis: StrictBool | None = None
    nk_activity_low: StrictBool | None = None


Labs = _Strict.__class__(
    "Labs",
    (_Strict,),
    {"__annotations__": {k: Measurement | None for k in analytes.LAB_IDS}, **{k: None for k in analytes.LAB_IDS}},
)


class Snapshot(_Strict):
    id: StrictStr | StrictInt | None = None
    time: StrictStr | None = Field(None, description="ISO 8601 date-time with a UTC offset (docs/limits.md).")
    patient: Patient = Patient()

    @field_validator("time")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        if v is not None:
            parse_time(v)  # the one time rule: offset required, inside the accepted years
        return v
    findings: Findings = Findings()
    labs: Labs = Labs()  # type: ignore[valid-type]


assert set(Findings.model_fields) - {"temperature"} == set(FINDING_IDS)
assert set(Patient.model_fields) >= set(PATIENT_FLAGS)


_UNION_TAGS = {"float", "int", "str", "bool", "none", "Measurement", "Labs", "Findings", "Patient"}


def _path(loc: tuple) -> str:
    """Dotted field path from a pydantic location, without union-member tags."""
    return ".".join(str(p) for p in loc if str(p) not in _UNION_TAGS)


def parse(obj) -> Snapshot:
    """Validate one snapshot object; raise InputError naming the first bad field."""
    if not isinstance(obj, dict):
        raise InputError("snapshot", f"must be a JSON object, got {type(obj).__name__}")
    try:
        snap = Snapshot.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _path(err["loc"]) or "snapshot"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "is not a field of the snapshot contract (see schemas/snapshot.schema.json)"
        elif err["type"] == "model_type" and where.startswith(("labs.", "findings.temperature")):
            msg = f'must be an object with value and unit, e.g. {{"value": 5400, "unit": "ng/mL"}} (got {shorten(repr(err["input"]), 80)})'
        elif "input" in err and err["type"] != "missing":
            msg = f"{msg} (got {shorten(repr(err['input']), 80)})"
        raise InputError(where, msg) from None
    # Units and plausibility: the registry refuses, naming analyte, value, unit, accepted units.
    for qid, m in _measurements(snap):
        where = f"findings.{qid}" if qid == "temperature" else f"labs.{qid}"
        a = analytes.get(qid)
        v = a.to_canonical(m.value, m.unit, field_path=where)
        if a.censored_leaves_nothing(v, comparator_code(m.comparator)):
            lo, hi = a.plausible
            raise InputError(where, f"{a.label} {m.comparator}{m.value} {m.unit} leaves no plausible value "
                                    f"(plausible {lo:g}-{hi:g} {a.canonical_unit})")
    return snap


def _measurements(snap: Snapshot):
    if snap.findings.temperature is not None:
        yield "temperature", snap.findings.temperature
    for qid in analytes.LAB_IDS:
        m = getattr(snap.labs, qid)
        if m is not None:
            yield qid, m


def to_batch(snaps: list[Snapshot]) -> SnapshotBatch:
    """Columns for a list of validated snapshots (canonical units)."""
    n = len(snaps)
    labs = {q: [math.nan] * n for q in QUANTITY_IDS}
    comps = {q: [0] * n for q in QUANTITY_IDS}
    given: list[dict] = []
    for i, s in enumerate(snaps):
        row = {}
        for qid, m in _measurements(s):
            labs[qid][i] = analytes.get(qid).to_canonical(m.value, m.unit)
            comps[qid][i] = comparator_code(m.comparator)
            row[qid] = {"value": m.value, "unit": m.unit, **({"comparator": m.comparator} if m.comparator else {})}
        given.append(row)
    return SnapshotBatch.from_columns(
        n,
        labs=labs,
        comparators=comps,
        findings={f: [getattr(s.findings, f) for s in snaps] for f in FINDING_IDS},
        flags={f: [getattr(s.patient, f) for s in snaps] for f in PATIENT_FLAGS},
        age_years=[math.nan if s.patient.age_years is None else float(s.patient.age_years) for s in snaps],
        context=[CONTEXTS.index(s.patient.context) for s in snaps],
        given=given,
    )
