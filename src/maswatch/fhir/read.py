"""FHIR R4 resources -> timeline documents (``maswatch-timeline/1``), one per patient.

The one reader for every FHIR path that assesses a patient: ``maswatch assess bundle.json``,
the CDS Hooks prefetch, the REST client's search results and the web ingest. It translates
and never decides: codes go through the shared tables (``fhir.codes``: the analyte registry's
LOINC codes, condition_codes.toml, fhir_codes.toml), units through the analyte registry
(nothing guessed), and whatever cannot be read is left out *and reported* with its resource
type, id, JSON path and reason — the rest of the document is still read.

Input: a Bundle (``collection``, ``searchset``, ``transaction``, ``batch``, ``batch-response``,
``transaction-response``; a Bundle inside a batch-response entry is read too), a single
resource, or a JSON array of resources. Read (docs/fhir.md lists every field):

- Observation: LOINC (registry) / SNOMED CT finding / maswatch codings; ``valueQuantity``
  (UCUM ``code`` when ``system`` is UCUM, else ``unit``), ``comparator``; ``valueBoolean`` or a
  coded yes/no for findings; time ``effectiveDateTime`` / ``effectivePeriod.start`` /
  ``effectiveInstant``, else ``issued``; ``status`` as the timeline's corrections;
  ``dataAbsentReason`` = missing (never a value); ``referenceRange[0]``. ``interpretation``
  is ignored (maswatch decides from values).
- Condition: maswatch / ICD-10 / SNOMED CT -> context codes; coded findings (hepatomegaly...).
- Patient: ``birthDate``, ``gender``, the synthetic tag.
- MedicationRequest / MedicationAdministration / MedicationStatement: RxNorm / ATC / name ->
  the drug list, dose, frequency, start and end.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Iterator

import orjson

from .. import analytes
from ..batch import comparator_code
from ..errors import InputError
from ..lru import LruCache
from ..timeline.model import FORMAT, ConditionCode, REMOVING, REPLACING
from ..treatment.glucocorticoids import WEIGHT_PLAUSIBLE_KG
from ..treatment.medications import MAX_FREQUENCY_PER_DAY
from . import codes as C

BUNDLE_TYPES = ("collection", "searchset", "transaction", "batch", "batch-response", "transaction-response")
OBS_STATUSES = ("registered", "preliminary", "final", "amended", "corrected", "entered-in-error", "cancelled")
COMPARATORS = ("<", "<=", ">=", ">")
CONDITION_CODES = frozenset(ConditionCode.__args__)
MED_TYPES = ("MedicationRequest", "MedicationAdministration", "MedicationStatement")
MED_SKIPPED_STATUS = {
    "MedicationRequest": {"entered-in-error", "cancelled", "draft"},
    "MedicationAdministration": {"entered-in-error", "not-done"},
    "MedicationStatement": {"entered-in-error", "not-taken", "intended"},
}
ORDER_INTENTS = {"order", "original-order", "reflex-order", "filler-order", "instance-order"}
DOSE_UNITS = {"mg": "mg", "mg/kg": "mg/kg", "g": "g", "g/kg": "g/kg"}
PER_DAY = {"s": 86400.0, "min": 1440.0, "h": 24.0, "d": 1.0, "wk": 1.0 / 7.0}
"""Periods with an exact length in days (UCUM); ``mo`` and ``a`` are not exact and are refused."""
MAX_REPORT = 1000
"""Left-out entries listed in full; beyond that only counted (``counts['report_truncated']``)."""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


@dataclass
class FhirReadResult:
    timelines: dict[str, dict] = field(default_factory=dict)
    """Patient id -> a ``maswatch-timeline/1`` document (pass it to ``timeline.parse``)."""
    report: list[dict] = field(default_factory=list)
    """Left out: ``{"resource_type", "id", "path", "reason"}`` each."""
    counts: dict[str, int] = field(default_factory=dict)

    def left_out(self, rtype: str | None, rid: str | None, path: str, reason: str) -> None:
        self.counts["left_out"] = self.counts.get("left_out", 0) + 1
        if len(self.report) < MAX_REPORT:
            self.report.append({"resource_type": rtype, "id": rid, "path": path, "reason": reason})
        else:
            self.counts["report_truncated"] = self.counts.get("report_truncated", 0) + 1


class _Skip(Exception):
    """Leave this resource (or part) out: ``where`` is relative to the resource."""

    def __init__(self, where: str, reason: str, *, count: str | None = None):
        self.where, self.reason, self.count = where, reason, count
        super().__init__(reason)


def is_fhir(obj: Any) -> bool:
    """A FHIR resource or an array of them (timeline and snapshot documents have no resourceType)."""
    if isinstance(obj, dict):
        return "resourceType" in obj
    return isinstance(obj, list) and bool(obj) and all(isinstance(x, dict) and "resourceType" in x for x in obj)


def read_fhir(doc: Any, *, patient_id: str | None = None) -> FhirReadResult:
    """Read FHIR R4 JSON into one timeline document per patient.

    ``patient_id``: the patient a CDS call is about; resources without a subject are
    attributed to it. Raises InputError only when the document itself is not FHIR (or a
    Bundle type that cannot be read); everything inside is reported, not raised.
    """
    return _Reader(patient_id).read(doc)


class _Reader:
    def __init__(self, patient_id: str | None):
        self.res = FhirReadResult()
        self.counts: Counter = Counter()
        self.default_patient = patient_id
        self.patients: dict[str, dict] = {}
        self.synthetic: set[str] = set()
        self.obs: dict[str, list[dict]] = {}
        self.conds: dict[str, list[dict]] = {}
        self.meds: dict[str, list[dict]] = {}
        self.full_urls: dict[str, tuple[str, dict]] = {}
        self.units: dict[tuple[str, str | None], Any] = {}

    # ------------------------------------------------------------------ entry walk

    def read(self, doc: Any) -> FhirReadResult:
        if isinstance(doc, list):
            items = [(r, f"[{i}]", None) for i, r in enumerate(doc)]
        elif isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
            items = list(self._entries(doc, ""))
        elif isinstance(doc, dict) and isinstance(doc.get("resourceType"), str):
            items = [(doc, "", None)]
        else:
            raise InputError("FILE", "not a FHIR resource: expected a JSON object with resourceType "
                                     "(a Bundle or a single resource) or an array of resources")
        # first pass: who is who (Patient and Medication resources, fullUrls)
        for r, path, full in items:
            if not isinstance(r, dict):
                continue
            if full:
                self.full_urls[full] = (r.get("resourceType"), r)
            if r.get("resourceType") == "Patient":
                self._patient(r, path, full)
        for r, path, full in items:
            self._resource(r, path)
        self._finish()
        return self.res

    def _entries(self, bundle: dict, prefix: str) -> Iterator[tuple[Any, str, str | None]]:
        btype = bundle.get("type")
        if btype not in BUNDLE_TYPES:
            raise InputError(f"{prefix or 'Bundle'}.type",
                             f"Bundle type {btype!r} is not read (read: {', '.join(BUNDLE_TYPES)})")
        entries = bundle.get("entry", [])
        if not isinstance(entries, list):
            raise InputError(f"{prefix}entry", "Bundle.entry must be an array")
        for i, e in enumerate(entries):
            p = f"{prefix}entry[{i}]"
            if not isinstance(e, dict):
                self.res.left_out(None, None, p, "a Bundle entry must be an object")
                continue
            req = e.get("request") if isinstance(e.get("request"), dict) else {}
            if str(req.get("method", "")).upper() == "DELETE":
                self.res.left_out(None, None, p, f"DELETE {req.get('url')!r} is not applied (the reader adds, "
                                                  "never deletes; send entered-in-error instead)")
                continue
            resp = e.get("response") if isinstance(e.get("response"), dict) else None
            r = e.get("resource")
            if resp is not None and not str(resp.get("status", "")).lstrip().startswith("2"):
                why = _outcome_text(r) if isinstance(r, dict) else ""
                self.res.left_out("Bundle", bundle.get("id"), p,
                                  f"the server answered {resp.get('status')!r}{': ' + why if why else ''}")
                self.counts["failed_entries"] += 1
                continue
            if r is None:
                if resp is None:
                    self.res.left_out(None, None, p, "entry without a resource")
                continue
            if isinstance(r, dict) and r.get("resourceType") == "Bundle":
                yield from self._entries(r, f"{p}.resource.")
                continue
            full = e.get("fullUrl") if isinstance(e.get("fullUrl"), str) else None
            yield r, f"{p}.resource", full

    def _resource(self, r: Any, path: str) -> None:
        if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
            self.res.left_out(None, None, path, "not a FHIR resource (no resourceType)")
            return
        rtype, rid = r["resourceType"], r.get("id")
        self.counts["resources"] += 1
        try:
            if rtype == "Observation":
                self.counts["observations"] += 1
                self._observation(r, path)
            elif rtype == "Condition":
                self.counts["conditions"] += 1
                self._condition(r, path)
            elif rtype in MED_TYPES:
                self.counts["medications"] += 1
                self._medication(r, path)
            elif rtype == "OperationOutcome":
                self.counts["operation_outcomes"] += 1
                self.res.left_out(rtype, rid, path, f"the server reported: {_outcome_text(r) or 'an OperationOutcome'}")
            elif rtype not in ("Patient", "Medication"):
                self.counts["other_resources"] += 1
        except _Skip as s:
            if s.count:
                self.counts[s.count] += 1
            self.res.left_out(rtype, _str(rid), path + (("." + s.where) if s.where else ""), s.reason)

    # ------------------------------------------------------------------ subjects

    def _patient(self, r: dict, path: str, full: str | None) -> None:
        pid = _str(r.get("id")) or full
        if pid is None:
            self.res.left_out("Patient", None, path, "a Patient needs an id (or a fullUrl)")
            return
        if full:
            self.full_urls[full] = ("Patient", {**r, "id": pid})
        p = self.patients.setdefault(pid, {"id": pid})
        self.counts["patients"] += 1
        bd = r.get("birthDate")
        if isinstance(bd, str):
            if _DATE.match(bd):
                p["birth_date"] = bd
            else:
                self.res.left_out("Patient", pid, f"{path}.birthDate",
                                  f"birthDate {bd!r} is not a full date: age is unknown")
        g = r.get("gender")
        if g in ("female", "male", "other", "unknown"):
            p["sex"] = g
        tags = (r.get("meta") or {}).get("tag") if isinstance(r.get("meta"), dict) else None
        if isinstance(tags, list) and any(isinstance(t, dict) and t.get("system") == C.MASWATCH_TAG
                                          and t.get("code") == "synthetic" for t in tags):
            self.synthetic.add(pid)

    def _subject(self, r: dict) -> str:
        pid = self._subject_id(r)
        self.obs.setdefault(pid, [])  # the patient has a timeline even if all of this resource is left out
        return pid

    def _subject_id(self, r: dict) -> str:
        ref = r.get("subject", r.get("patient"))
        if ref is None:
            if self.default_patient is not None:
                return self.default_patient
            raise _Skip("subject", "no subject: whose result is it?")
        s = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(s, str) or not s:
            raise _Skip("subject.reference", "the subject has no reference")
        if s in self.full_urls and self.full_urls[s][0] == "Patient":
            return self.full_urls[s][1]["id"]
        head, sep, tail = s.rpartition("Patient/")
        if not sep or not tail:
            raise _Skip("subject.reference", f"{s!r} is not a Patient reference")
        return tail.split("/_history", 1)[0]

    # ------------------------------------------------------------------ Observation

    def _observation(self, r: dict, path: str) -> None:
        rid = _str(r.get("id"))
        status = r.get("status")
        pid = self._subject(r)
        if status in REMOVING:
            if rid is None:
                raise _Skip("id", f"a {status} Observation without id removes nothing")
            self._add_obs(pid, {"id": rid, "status": status})
            self.counts["observations_retracted"] += 1
            return
        try:
            rows = self._observation_rows(r, rid, status)
        except _Skip as s:
            if rid is not None and status in REPLACING:
                # the lab withdrew the earlier version; an unreadable correction leaves it unknown, not the old value
                self._add_obs(pid, {"id": rid, "status": "entered-in-error"})
                s.reason += "; the earlier version of this result is withdrawn too (a correction that cannot be read)"
            raise
        for row in rows:
            self._add_obs(pid, row)
        self.counts["observations_read"] += 1

    def _add_obs(self, pid: str, row: dict) -> None:
        self.obs.setdefault(pid, []).append(row)

    def _observation_rows(self, r: dict, rid: str | None, status: Any) -> list[dict]:
        if status not in OBS_STATUSES:
            raise _Skip("status", f"status {status!r} is not usable (read: {', '.join(OBS_STATUSES)})")
        codings = _codings(r.get("code"))
        if not codings:
            raise _Skip("code", "no code.coding", count="unknown_code")
        analyte, findings, vital = _what(codings)
        if analyte is None and not findings and vital is None:
            shown = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings[:3])
            raise _Skip("code", f"code not in the analyte registry or the code tables ({shown})", count="unknown_code")
        if "dataAbsentReason" in r:
            dar = r["dataAbsentReason"]
            why = (_codings(dar) or [{}])[0].get("code") or (dar.get("text") if isinstance(dar, dict) else None)
            raise _Skip("dataAbsentReason", f"no value (data absent: {why or 'reason not given'}): counted as missing",
                        count="data_absent")
        when, where = _obs_time(r)
        base = {"id": rid, "time": when, "status": status}
        if rid is None:
            del base["id"]
        if findings:
            value = _yes_no(r)
            return [{**base, "finding": f, "value": value} for f in findings]
        vq = r.get("valueQuantity")
        if not isinstance(vq, dict):
            present = [k for k in r if k.startswith("value")]
            raise _Skip(present[0] if present else "valueQuantity",
                        "a measured result needs valueQuantity" + (f" (got {present[0]})" if present else " (no value)"))
        value = vq.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
            raise _Skip("valueQuantity.value", f"value {value!r} is not a number")
        unit = _unit(vq)
        comp = vq.get("comparator")
        if comp is not None and comp not in COMPARATORS:
            raise _Skip("valueQuantity.comparator", f"comparator {comp!r} cannot be read as an interval "
                                                    f"(read: {', '.join(COMPARATORS)})")
        row = {**base, "value": value, "unit": unit}
        if comp is not None:
            row["comparator"] = comp
        if vital == "weight":
            row["vital"] = "weight"
            self._check_weight(row)
            return [row]
        row["analyte"] = analyte
        self._check_quantity(analyte, row)
        rr = self._range(r, unit, analyte)
        if rr:
            row["reference_range"] = rr
        return [row]

    def _check_weight(self, row: dict) -> None:
        if row.get("comparator"):
            raise _Skip("valueQuantity.comparator", "a body weight cannot be censored")
        if (row["unit"] or "").strip().casefold() != "kg":
            raise _Skip("valueQuantity.unit", f"body weight must be in kg, got {row['unit']!r} (nothing is converted "
                                              "by guess)")
        lo, hi = WEIGHT_PLAUSIBLE_KG
        if not lo <= row["value"] <= hi:
            raise _Skip("valueQuantity.value", f"body weight {row['value']!r} kg is implausible "
                                               f"(plausible {lo:g}-{hi:g} kg)")

    def _conversion(self, analyte: str, unit: str | None, value):
        key = (analyte, unit)
        if key not in self.units:
            try:
                self.units[key] = analytes.get(analyte).conversion(unit, field_path="valueQuantity.unit", value=value)
            except InputError as exc:
                self.units[key] = exc
        conv = self.units[key]
        if isinstance(conv, InputError):
            raise _Skip("valueQuantity.unit", conv.message)
        return conv

    def _check_quantity(self, analyte: str, row: dict) -> None:
        a = analytes.get(analyte)
        conv = self._conversion(analyte, row["unit"], row["value"])
        canon = float(conv.apply(float(row["value"])))
        if not a.is_plausible(canon):
            raise _Skip("valueQuantity.value", a.implausible_message(canon, value=row["value"], unit=row["unit"]))
        if row.get("comparator") and bool(a.censored_leaves_nothing(canon, comparator_code(row["comparator"]))):
            raise _Skip("valueQuantity.value", f"{a.label} {row.get('comparator')}{row['value']} {row['unit']} "
                                               "leaves no plausible value")

    def _range(self, r: dict, unit: str | None, analyte: str) -> dict | None:
        rrs = r.get("referenceRange")
        if not isinstance(rrs, list) or not rrs or not isinstance(rrs[0], dict):
            return None
        rr, out = rrs[0], {}
        for side in ("low", "high"):
            q = rr.get(side)
            if not isinstance(q, dict) or not isinstance(q.get("value"), (int, float)) or isinstance(q.get("value"), bool):
                continue
            qunit = _unit(q)
            if qunit is not None and unit is not None and qunit != unit and _fold(qunit) != _fold(unit):
                self.res.left_out("Observation", _str(r.get("id")), f"referenceRange[0].{side}",
                                  f"range in {qunit!r}, result in {unit!r}: the range is not used")
                return None
            out[side] = q["value"]
        if "low" in out and "high" in out and out["low"] > out["high"]:
            self.res.left_out("Observation", _str(r.get("id")), "referenceRange[0]",
                              f"low {out['low']} above high {out['high']}: the range is not used")
            return None
        return out or None

    # ------------------------------------------------------------------ Condition

    def _condition(self, r: dict, path: str) -> None:
        ver = _codings(r.get("verificationStatus"))
        if any(c.get("code") in ("entered-in-error", "refuted") for c in ver):
            raise _Skip("verificationStatus", f"verificationStatus {ver[0].get('code')}: not a diagnosis")
        pid = self._subject(r)
        codings = _codings(r.get("code"))
        onset = _first_str(r.get("onsetDateTime"), (r.get("onsetPeriod") or {}).get("start")
                           if isinstance(r.get("onsetPeriod"), dict) else None, r.get("recordedDate"))
        findings = [f for c in codings if c.get("system") == C.SNOMED
                    for f in C.finding_by_snomed().get(str(c.get("code")), ())]
        if findings:
            self._finding_condition(r, pid, findings, onset)
            return
        code = _condition_code(codings)
        if code is None:
            shown = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings[:3]) or "no coding"
            raise _Skip("code", f"not a condition maswatch uses as context ({shown})", count="conditions_unmapped")
        row: dict[str, Any] = {"code": code}
        if onset is not None:
            row["onset"] = _onset(onset)
        text = (r.get("code") or {}).get("text")
        if isinstance(text, str):
            row["text"] = text
        self.conds.setdefault(pid, []).append(row)
        self.counts["conditions_read"] += 1

    def _finding_condition(self, r: dict, pid: str, findings: list[str], onset: str | None) -> None:
        if onset is None:
            raise _Skip("onsetDateTime", "a coded finding needs its onset time")
        t, _ = _obs_time({"effectiveDateTime": onset}, field_name="onsetDateTime")
        rid = _str(r.get("id"))
        abate = r.get("abatementDateTime")
        t2 = _obs_time({"effectiveDateTime": abate}, field_name="abatementDateTime")[0] if isinstance(abate, str) else None
        for f in findings:
            rows = [({"id": f"{rid}:{f}"} if rid else {}) | {"time": t, "finding": f, "value": True}]
            if t2 is not None:
                rows.append(({"id": f"{rid}:{f}:abated"} if rid else {}) | {"time": t2, "finding": f, "value": False})
            for row in rows:
                self._add_obs(pid, row)
        self.counts["findings_from_conditions"] += 1

    # ------------------------------------------------------------------ medications

    def _medication(self, r: dict, path: str) -> None:
        rtype = r["resourceType"]
        status = r.get("status")
        if status in MED_SKIPPED_STATUS[rtype]:
            raise _Skip("status", f"status {status}: not given")
        if rtype == "MedicationRequest" and r.get("intent") not in ORDER_INTENTS:
            raise _Skip("intent", f"intent {r.get('intent')!r} is not an order")
        pid = self._subject(r)
        drug, name = self._drug(r)
        if drug is None:
            raise _Skip("medication[x]", f"{name or 'the medication'} is not a drug maswatch follows",
                        count="medications_unmapped")
        rid = _str(r.get("id")) or path
        row: dict[str, Any] = {"id": rid, "drug": drug}
        notes: list[tuple[str, str]] = []
        if rtype == "MedicationAdministration":
            dosage = r.get("dosage") if isinstance(r.get("dosage"), dict) else {}
            start = _first_str(r.get("effectiveDateTime"), _get(r, "effectivePeriod", "start"))
            if start is None:
                raise _Skip("effectiveDateTime", "an administration needs its time")
            row["start"] = _obs_time({"effectiveDateTime": start}, field_name="effective[x]")[0]
            row["end"] = _plus_day(row["start"])  # one administration: counted once, in [start, start + 1 day)
            row["frequency_per_day"] = 1.0
            dose_q, dose_where = dosage.get("dose"), "dosage.dose"
        else:
            key = "dosageInstruction" if rtype == "MedicationRequest" else "dosage"
            dl = r.get(key)
            dosage = dl[0] if isinstance(dl, list) and dl and isinstance(dl[0], dict) else {}
            rep = _get(dosage, "timing", "repeat") or {}
            start = _first_str(_get(rep, "boundsPeriod", "start"), _get(r, "effectivePeriod", "start"),
                               r.get("effectiveDateTime"), r.get("authoredOn"))
            end = _first_str(_get(rep, "boundsPeriod", "end"), _get(r, "effectivePeriod", "end"))
            if start is None:
                raise _Skip(f"{key}[0].timing.repeat.boundsPeriod.start", "no start time (boundsPeriod, effective[x] "
                                                                          "or authoredOn)")
            row["start"] = _obs_time({"effectiveDateTime": start}, field_name="start")[0]
            if end is not None:
                row["end"] = _obs_time({"effectiveDateTime": end}, field_name="end")[0]
            freq = _per_day(rep)
            dar = dosage.get("doseAndRate")
            dose_q = _get(dar[0], "doseQuantity") if isinstance(dar, list) and dar and isinstance(dar[0], dict) else None
            dose_where = f"{key}[0].doseAndRate[0].doseQuantity"
            if isinstance(freq, str):
                if dose_q is not None:
                    notes.append((f"{key}[0].timing.repeat", f"{freq}: the dose of this line is not counted"))
                dose_q = None
                freq = None
            if freq is not None:
                row["frequency_per_day"] = freq
        dose = _dose(dose_q)
        if isinstance(dose, str):
            notes.append((dose_where, dose + ": the dose of this line is not counted (exposure unknown)"))
        elif dose is not None:
            row["dose"] = dose
        route = _route(dosage.get("route"))
        if route:
            row["route"] = route
        if "end" in row and row["end"] <= row["start"]:
            raise _Skip("effectivePeriod.end", f"end {row['end']} is not after start {row['start']}")
        for where, why in notes:
            self.res.left_out(rtype, _str(r.get("id")), f"{path}.{where}", why)
        self.meds.setdefault(pid, []).append({**row, "_type": rtype})
        self.counts["medications_read"] += 1

    def _drug(self, r: dict) -> tuple[str | None, str | None]:
        cc = r.get("medicationCodeableConcept")
        if cc is None and isinstance(r.get("medicationReference"), dict):
            cc = self._medication_code(r, r["medicationReference"].get("reference"))
        if not isinstance(cc, dict):
            return None, None
        for c in _codings(cc):
            d = C.drug_by_code().get((c.get("system"), str(c.get("code", "")).strip().upper()
                                      if c.get("system") == C.ATC else str(c.get("code", "")).strip()))
            if d:
                return d, None
        names = [cc.get("text")] + [c.get("display") for c in _codings(cc)]
        for n in names:
            d = C.drug_of_name(n) if isinstance(n, str) else None
            if d:
                return d, n
        return None, next((n for n in names if isinstance(n, str)), None)

    def _medication_code(self, r: dict, ref: Any) -> dict | None:
        if not isinstance(ref, str):
            return None
        if ref.startswith("#"):
            for c in r.get("contained", []) or []:
                if isinstance(c, dict) and c.get("id") == ref[1:]:
                    return c.get("code")
            return None
        hit = self.full_urls.get(ref)
        if hit is None:
            tail = ref.rpartition("Medication/")[2]
            hit = next(((t, m) for t, m in self.full_urls.values() if t == "Medication" and m.get("id") == tail), None)
        return hit[1].get("code") if hit else None

    # ------------------------------------------------------------------ output

    def _finish(self) -> None:
        pids = list(dict.fromkeys([*self.patients, *self.obs, *self.conds, *self.meds]))
        for pid in pids:
            meds = self.meds.get(pid, [])
            seen = Counter(m["id"] for m in meds)
            for m in meds:
                t = m.pop("_type")
                if seen[m["id"]] > 1:
                    m["id"] = f"{t}/{m['id']}"
            doc = {"format": FORMAT, "synthetic": pid in self.synthetic, "patient": self.patients.get(pid, {"id": pid}),
                   "conditions": self.conds.get(pid, []), "observations": self.obs.get(pid, []), "medications": meds}
            self.res.timelines[pid] = doc
        self.res.counts.update({k: v for k, v in self.counts.items()})
        self.res.counts["timelines"] = len(pids)


# ---------------------------------------------------------------------- helpers (pure)


@lru_cache(maxsize=512)
def _fold(unit: str) -> str:
    return analytes.fold_unit(unit)


def _str(x: Any) -> str | None:
    return x if isinstance(x, str) and x else None


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _first_str(*xs: Any) -> str | None:
    return next((x for x in xs if isinstance(x, str) and x), None)


def _codings(cc: Any) -> list[dict]:
    if not isinstance(cc, dict) or not isinstance(cc.get("coding"), list):
        return []
    return [c for c in cc["coding"] if isinstance(c, dict)]


def _what(codings: list[dict]) -> tuple[str | None, tuple[str, ...], str | None]:
    """(analyte, findings, vital) named by an Observation's codings; LOINC first."""
    for c in codings:
        sys, code = c.get("system"), str(c.get("code", "")).strip()
        if sys == C.LOINC:
            if code == C.BODY_WEIGHT_LOINC:
                return None, (), "weight"
            a = C.analyte_of_loinc(code)
            if a:
                return a, (), None
    for c in codings:
        sys, code = c.get("system"), str(c.get("code", "")).strip()
        if sys == C.SNOMED and code in C.finding_by_snomed():
            return None, C.finding_by_snomed()[code], None
        if sys == C.MASWATCH_FINDING:
            from ..batch import FINDING_IDS

            if code in FINDING_IDS:
                return None, (code,), None
        if sys == C.MASWATCH_ANALYTE and code in analytes.registry():
            return code, (), None
    return None, (), None


def _yes_no(r: dict) -> bool:
    if isinstance(r.get("valueBoolean"), bool):
        return r["valueBoolean"]
    for c in _codings(r.get("valueCodeableConcept")):
        v = C.answers().get((c.get("system"), str(c.get("code"))))
        if v is not None:
            return v
    vq = r.get("valueQuantity")
    if isinstance(vq, dict) and vq.get("value") in (0, 1) and not isinstance(vq.get("value"), bool):
        return vq["value"] == 1
    raise _Skip("value[x]", "a finding needs valueBoolean or a coded yes/no answer (no value: not assumed either way)")


def _unit(q: dict) -> str | None:
    if q.get("system") == C.UCUM and isinstance(q.get("code"), str) and q["code"].strip():
        return q["code"]
    if isinstance(q.get("unit"), str) and q["unit"].strip():
        return q["unit"]
    return None


def _obs_time(r: dict, field_name: str | None = None) -> tuple[str, str]:
    """(ISO time with offset, the field used); a date without a time of day is refused."""
    for key in ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"):
        v = r.get(key)
        if key == "effectivePeriod":
            v = v.get("start") if isinstance(v, dict) else None
            key = "effectivePeriod.start"
        if not isinstance(v, str):
            continue
        name = field_name or key
        if "T" not in v:
            raise _Skip(name, f"{v!r} has no time of day: a result is placed in time by its hour (look-back windows)")
        try:
            t = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise _Skip(name, f"{v!r} is not a FHIR dateTime") from None
        if t.tzinfo is None:
            raise _Skip(name, f"{v!r} has no UTC offset")
        return t.isoformat(), key
    raise _Skip(field_name or "effective[x]", "no time (effectiveDateTime, effectivePeriod.start, effectiveInstant "
                                             "or issued)")


def _onset(v: str) -> str:
    """Condition onset: a full date or dateTime as given; a year or year-month counts from its first day."""
    m = _PARTIAL_DATE.match(v)
    if m:
        return f"{m.group(1)}-{m.group(2) or '01'}-01"
    if _DATE.match(v):
        return v
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise _Skip("onsetDateTime", f"{v!r} is not a FHIR dateTime") from None
    if t.tzinfo is None:
        return t.date().isoformat()
    return t.isoformat()


def _condition_code(codings: list[dict]) -> str | None:
    for c in codings:
        if c.get("system") == C.MASWATCH_CONDITION and c.get("code") in CONDITION_CODES:
            return c["code"]
    for sys in (*C.ICD10, C.SNOMED):
        for c in codings:
            if c.get("system") == sys:
                code = C.condition_of(sys, str(c.get("code", "")))
                if code in CONDITION_CODES:
                    return code
    return None


def _per_day(rep: dict) -> float | str | None:
    """Administrations a day from timing.repeat; a reason string when it cannot be read exactly."""
    if not rep:
        return None
    freq, period, unit = rep.get("frequency"), rep.get("period"), rep.get("periodUnit")
    if freq is None and period is None:
        return None
    if freq is None:
        freq = 1
    if not isinstance(freq, (int, float)) or not isinstance(period, (int, float)) or period <= 0 or freq <= 0:
        return f"frequency {freq!r} per {period!r} {unit or ''} cannot be read"
    if unit not in PER_DAY:
        return f"period unit {unit!r} has no exact length in days"
    per_day = float(freq) / float(period) * PER_DAY[unit]
    if per_day > MAX_FREQUENCY_PER_DAY:
        return f"{per_day:g} administrations a day is above the {MAX_FREQUENCY_PER_DAY:g} accepted"
    return per_day


def _dose(q: Any) -> dict | str | None:
    if q is None:
        return None
    if not isinstance(q, dict):
        return "dose is not a Quantity"
    v = q.get("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v == float("inf"):
        return f"dose {v!r} is not a positive number"
    unit = _unit(q)
    if unit is None or unit.strip().casefold() not in DOSE_UNITS:
        return f"dose unit {unit!r} is not one of mg, mg/kg, g, g/kg"
    return {"value": float(v), "unit": DOSE_UNITS[unit.strip().casefold()]}


def _route(cc: Any) -> str | None:
    if not isinstance(cc, dict):
        return None
    if isinstance(cc.get("text"), str) and cc["text"].strip():
        return cc["text"].strip().lower()
    for c in _codings(cc):
        for k in ("display", "code"):
            if isinstance(c.get(k), str) and c[k].strip():
                return c[k].strip().lower()
    return None


def _plus_day(iso: str) -> str:
    return (datetime.fromisoformat(iso) + timedelta(days=1)).isoformat()


def _outcome_text(r: dict) -> str:
    if r.get("resourceType") != "OperationOutcome":
        return ""
    parts = []
    for i in r.get("issue", []) or []:
        if isinstance(i, dict):
            parts.append(" ".join(str(x) for x in (i.get("severity"), i.get("code"),
                                                   i.get("diagnostics") or _get(i, "details", "text")) if x))
    return "; ".join(parts)[:500]


def parse_timeline(doc: dict, result: FhirReadResult | None = None, *, memo: LruCache | None = None):
    """``timeline.parse`` on a document the reader built, leaving out (and reporting) any
    observation or medication the timeline's own strict rules still refuse.

    ``memo`` (a service's :class:`~maswatch.lru.LruCache`, shared between calls): observation rows already
    validated, by their exact content. A row's validation depends on nothing but the row, and
    the model takes a validated instance as it is, so a chart opened again validates only its
    new rows; the document's own checks still run every time."""
    from .. import timeline

    rows = list(doc.get("observations", []))
    keys: list[bytes | None] = [None] * len(rows)
    if memo is not None:
        for i, row in enumerate(rows):
            if isinstance(row, dict):
                keys[i] = k = orjson.dumps(row)
                rows[i] = memo.get(k, row)
    doc = {**doc, "observations": rows, "medications": list(doc.get("medications", []))}
    for _ in range(len(doc["observations"]) + len(doc["medications"]) + 1):
        try:
            tl = timeline.parse(doc)
        except InputError as exc:
            m = re.match(r"^(observations|medications)\[(\d+)\]", exc.field)
            if m is None:
                raise
            kind, i = m.group(1), int(m.group(2))
            item = doc[kind].pop(i)
            if kind == "observations":
                keys.pop(i)
            if result is not None:
                result.left_out("Observation" if kind == "observations" else "Medication*", _str(item.get("id")),
                                exc.field, exc.message)
            continue
        if memo is not None:
            for k, row, validated in zip(keys, doc["observations"], tl.observations):
                if k is not None and row is not validated:
                    memo[k] = validated
        return tl
    raise InputError("timeline", "could not be read")  # pragma: no cover - the loop always ends by returning


def single_timeline(doc: Any, *, patient_id: str | None = None):
    """The one patient's Timeline in a FHIR document, and the reader's result (what was left out).

    Refuses a document with no patient data or with several patients (naming them): a
    timeline is one patient's."""
    res = read_fhir(doc, patient_id=patient_id)
    tls = res.timelines
    if patient_id is not None:
        tls = {k: v for k, v in tls.items() if k == patient_id}
    if not tls:
        reasons = "; ".join(sorted({r["reason"] for r in res.report})[:3])
        raise InputError("FILE", "no patient data in this FHIR document" + (f" ({reasons})" if reasons else ""))
    if len(tls) > 1:
        ids = ", ".join(list(tls)[:5]) + (" ..." if len(tls) > 5 else "")
        raise InputError("FILE", f"{len(tls)} patients in this FHIR document ({ids}); send one patient's resources")
    (doc1,) = tls.values()
    return parse_timeline(doc1, res), res


def summary(res: FhirReadResult, limit: int = 5) -> str:
    """One short paragraph for a terminal: what was read, what was left out and why."""
    c = res.counts
    head = (f"FHIR: {c.get('observations_read', 0)} observations, {c.get('conditions_read', 0)} conditions, "
            f"{c.get('medications_read', 0)} medications read; {c.get('left_out', 0)} left out")
    extra = [f"{k.replace('_', ' ')} {c[k]}" for k in ("unknown_code", "data_absent", "conditions_unmapped",
                                                        "medications_unmapped", "operation_outcomes") if c.get(k)]
    lines = [head + (f" ({', '.join(extra)})" if extra else "")]
    for r in res.report[:limit]:
        lines.append(f"  {r['resource_type'] or '-'}/{r['id'] or '-'} {r['path']}: {r['reason']}")
    if len(res.report) > limit:
        lines.append(f"  ... {c.get('left_out', 0) - limit} more")
    return "\n".join(lines)


__all__ = ["FhirReadResult", "is_fhir", "parse_timeline", "read_fhir", "single_timeline", "summary"]
