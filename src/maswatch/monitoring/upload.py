"""An upload (page or API) by content type: a FHIR Bundle / resource(s), a timeline, or a
long-format CSV (docs/sources.md) -> the one strict reader -> :func:`record_document`.

The size was bounded before this point (the route counts the bytes as they arrive).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import TYPE_CHECKING

from .. import jsondoc
from ..batch import FINDING_IDS
from ..errors import InputError
from ..fhir.read import is_fhir
from .actors import Actor
from .ingest import IngestReport, record_document, record_observations

if TYPE_CHECKING:  # the store owns SQLAlchemy; services only pass its Session on
    from sqlalchemy.orm import Session

JSON_TYPES = ("application/json", "application/fhir+json")
CSV_TYPES = ("text/csv", "application/csv")
LONG_COLUMNS = ("patient_id", "time", "value", "unit")
OPTIONAL = ("analyte", "loinc", "status", "obs_id", "comparator", "ref_low", "ref_high", "note")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def ingest_upload(session: Session, data: bytes, content_type: str | None, *, source: str, actor: Actor,
                  now: datetime) -> IngestReport:
    kind = media_type(content_type)
    if kind in JSON_TYPES:
        doc = jsondoc.read_json_bytes(data, what="upload")
        fhir = kind == "application/fhir+json" or is_fhir(doc)
        return record_document(session, doc, kind="fhir" if fhir else "timeline", source=source, actor=actor,
                               now=now)
    if kind in CSV_TYPES:
        return _record_long_csv(session, data, source=source, actor=actor, now=now)
    raise InputError("Content-Type", f"{kind or 'none'!r} is not accepted: send application/fhir+json (a FHIR "
                     "Bundle), application/json (a timeline) or text/csv (long format, docs/sources.md)")


def _number(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(where, f"not a number: {jsondoc.shorten(text, 40)!r}") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise InputError(where, "not a finite number")
    return v


def _kind(obs: dict, where: str) -> None:
    """The long format names findings and body weight in its ``analyte`` column (docs/sources.md);
    the timeline names them ``finding`` (value true/false, from 1/0) and ``vital``."""
    name = obs.get("analyte")
    if name in FINDING_IDS:
        if obs["value"] not in (0.0, 1.0):
            raise InputError(f"{where}.value", f"a finding ({name}) is 1 (present) or 0 (absent), got {obs['value']:g}")
        obs.pop("analyte")
        obs.pop("loinc", None)
        obs["finding"], obs["value"] = name, obs["value"] == 1.0
        if obs.get("unit") in (None, "", "1", "{boolean}"):
            obs.pop("unit", None)
    elif name == "weight":
        obs.pop("analyte")
        obs["vital"] = "weight"


def long_csv_timelines(data: bytes, report: IngestReport) -> dict[str, dict]:
    """Long-format rows -> one timeline document per patient; a bad row is refused with its line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("upload", f"not UTF-8 (byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise InputError("upload.header", str(exc)) from None
    missing = [c for c in LONG_COLUMNS if c not in header]
    if missing or not ({"analyte", "loinc"} & set(header)):
        raise InputError("upload.header", f"missing column(s) {', '.join(missing or ['analyte or loinc'])}; "
                         f"expected {', '.join(LONG_COLUMNS)}, analyte or loinc, optional {', '.join(OPTIONAL[2:])}")
    unknown = [c for c in header if c not in LONG_COLUMNS + OPTIONAL]
    if unknown:
        raise InputError("upload.header", f"unknown column(s) {', '.join(map(repr, unknown))} (docs/sources.md)")
    docs: dict[str, dict] = {}
    try:
        for row in reader:
            line = reader.line_num
            where = f"upload line {line}"
            if None in row or any(v is None for v in row.values()):
                report.refuse(where, "wrong number of fields")
                continue
            pid = row["patient_id"].strip()
            try:
                if not pid:
                    raise InputError(f"{where}.patient_id", "is empty")
                if not row["value"].strip():
                    raise InputError(f"{where}.value", "is empty (a missing value is not stored)")
                obs = {"time": row["time"].strip(), "value": _number(row["value"].strip(), f"{where}.value"),
                       "unit": row["unit"].strip() or None}
                for k in ("analyte", "loinc"):
                    if row.get(k, "").strip():
                        obs[k] = row[k].strip()
                _kind(obs, where)
                for k in ("status", "comparator", "note"):
                    if row.get(k, "").strip():
                        obs[k] = row[k].strip()
                obs["id"] = row.get("obs_id", "").strip() or f"{pid}-line-{line}"
                if row.get("ref_low", "").strip() or row.get("ref_high", "").strip():
                    obs["reference_range"] = {k: _number(row[f"ref_{k}"].strip(), f"{where}.ref_{k}")
                                              for k in ("low", "high") if row.get(f"ref_{k}", "").strip()}
            except InputError as exc:
                report.refuse(exc.field, exc.message)
                continue
            docs.setdefault(pid, {"patient": {"id": pid}, "observations": []})["observations"].append(obs)
    except csv.Error as exc:
        raise InputError(f"upload line {reader.line_num}", str(exc)) from None
    return docs


def _record_long_csv(session: Session, data: bytes, *, source: str, actor: Actor, now: datetime) -> IngestReport:
    report = IngestReport()
    docs = long_csv_timelines(data, report)
    if not docs:
        raise InputError("upload", "no storable rows" + (f" ({report.refused[0]['reason']})" if report.refused else ""))
    for pid, doc in docs.items():
        record_observations(session, doc, source=source, actor=actor, now=now, report=report, label=f"patient {pid}")
    return report
