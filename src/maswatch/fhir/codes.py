"""FHIR code systems and code -> timeline vocabulary, from data (``data/fhir_codes.toml``).

One table for every FHIR path: the R4 reader (bundles, the REST client, CDS Hooks prefetch)
and the Bulk Data NDJSON reader of the population screen (``maswatch.sources.fhir``).
Laboratory quantities go through the analyte registry (``analytes.by_loinc``), diagnoses
through ``sources/condition_codes.toml`` (``sources.codes.diagnosis_prefixes``).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from .. import analytes
from ..batch import FINDING_IDS


@cache
def _data() -> dict:
    text = resources.files("maswatch").joinpath("data/fhir_codes.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    for row in data["findings"]:
        names = row["finding"] if isinstance(row["finding"], list) else [row["finding"]]
        bad = [f for f in names if f not in FINDING_IDS]
        if bad:
            raise ValueError(f"fhir_codes.toml: unknown finding(s) {bad}")
    return data


_S = _data()["systems"]
LOINC: str = _S["loinc"]
UCUM: str = _S["ucum"]
SNOMED: str = _S["snomed"]
ICD10: tuple[str, ...] = tuple(_S["icd10"])
RXNORM: str = _S["rxnorm"]
ATC: str = _S["atc"]
V2_YESNO: str = _S["v2_yesno"]
DATA_ABSENT_REASON: str = _S["data_absent_reason"]
MASWATCH_ANALYTE: str = _S["maswatch_analyte"]
MASWATCH_FINDING: str = _S["maswatch_finding"]
MASWATCH_CONDITION: str = _S["maswatch_condition"]
MASWATCH_TAG: str = _S["maswatch_tag"]
BODY_WEIGHT_LOINC: str = _data()["vitals"]["weight"]


@cache
def finding_by_snomed() -> dict[str, tuple[str, ...]]:
    """SNOMED CT concept id -> the timeline finding(s) it records."""
    out = {}
    for row in _data()["findings"]:
        names = row["finding"] if isinstance(row["finding"], list) else [row["finding"]]
        out[row["snomed"]] = tuple(names)
    return out


@cache
def answers() -> dict[tuple[str, str], bool]:
    """(system, code) of a coded yes/no answer -> True/False."""
    a = _data()["answers"]
    return {**{tuple(x): True for x in a["yes"]}, **{tuple(x): False for x in a["no"]}}


@cache
def drug_by_code() -> dict[tuple[str, str], str]:
    """(system, code) of an RxNorm ingredient or ATC code -> the timeline drug id."""
    out = {}
    for drug, row in _data()["drugs"].items():
        for code in row.get("rxnorm", []):
            out[(RXNORM, code)] = drug
        for code in row.get("atc", []):
            out[(ATC, code.upper())] = drug
    return out


@cache
def drug_by_name() -> dict[str, str]:
    from ..sources.codes import drug_names

    return drug_names()


def drug_of_name(name: str | None) -> str | None:
    """The drug id for a medication's text: the whole name, else its first word ("prednisone 5 mg tablet")."""
    if not name:
        return None
    n = name.strip().casefold()
    names = drug_by_name()
    return names.get(n) or names.get(n.split(" ", 1)[0])


@cache
def diagnosis_prefixes() -> dict[str, list[tuple[str, str]]]:
    """'icd10' / 'snomed' -> [(prefix without dots, condition code)], longest prefix first."""
    from ..sources.codes import diagnosis_prefixes as rows

    out: dict[str, list[tuple[str, str]]] = {"icd10": [], "snomed": []}
    for system, prefix, code in rows():
        if system in out:
            out[system].append((prefix, code))
    for v in out.values():
        v.sort(key=lambda pc: -len(pc[0]))
    return out


def condition_of(system: str | None, code: str | None) -> str | None:
    """Condition code for an ICD-10 (longest prefix) or SNOMED CT (whole id) diagnosis code."""
    if not code:
        return None
    clean = code.strip().replace(".", "").upper()
    if system in ICD10:
        return next((c for p, c in diagnosis_prefixes()["icd10"] if clean.startswith(p)), None)
    if system == SNOMED:
        return next((c for p, c in diagnosis_prefixes()["snomed"] if clean == p), None)
    return None


def analyte_of_loinc(code: str | None) -> str | None:
    return analytes.by_loinc().get(code.strip()) if code else None
