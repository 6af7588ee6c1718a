"""Readable values: a number with its unit, as the user gave it and in the paper's unit.

Presentation only; the JSON keeps the exact numbers beside these strings. Precision is
clinical, not arithmetic: a value the user typed is shown as typed; a converted value
gets three significant digits (never fewer than its whole part), e.g. triglycerides
250 mg/dL (2.82 mmol/L), fibrinogen 1.2 g/L (120 mg/dL).
"""

from __future__ import annotations

import math
from functools import cache

from . import analytes
from .errors import UnitError

CONVERTED_SIGNIFICANT_DIGITS = 3
"""Digits of a converted value: the precision of the laboratory results themselves."""

UNIT_TEXT = {"10*9/L": "×10⁹/L", "10^9/L": "×10⁹/L", "Cel": "°C", "[degF]": "°F", "ng/mL{FEU}": "ng/mL FEU",
             "ug/L{FEU}": "µg/L FEU", "ug/L": "µg/L", "ug/dL": "µg/dL", "/uL": "/µL"}
"""How a UCUM code reads on a ward (the code stays in the JSON)."""

PAPER_UNITS: dict[str, dict[str, str]] = {
    # the units of each instrument's published table (docs/clinical/criteria.md §1, §2, §3, §5, §7)
    "ravelli2016": {"triglycerides": "mg/dL", "fibrinogen": "mg/dL"},
    "hlh2004": {"hemoglobin": "g/L", "triglycerides": "mmol/L", "fibrinogen": "g/L"},
    "hscore": {"hemoglobin": "g/dL", "triglycerides": "mmol/L", "fibrinogen": "g/L"},
    "mh_score": {"hemoglobin": "g/dL", "fibrinogen": "mg/dL"},
    "parodi2009": {"hemoglobin": "g/L", "triglycerides": "mg/dL", "fibrinogen": "g/L"},
}


def unit_text(unit: str | None) -> str:
    return "" if unit is None else UNIT_TEXT.get(unit, unit)


def number(x: float | int, digits: int | None = None) -> str:
    """``x`` with thousands separators and no exponent; ``digits`` significant digits if given."""
    if isinstance(x, bool) or x is None or not math.isfinite(float(x)):
        return "—"
    if digits is not None and x != 0:
        magnitude = math.floor(math.log10(abs(float(x))))
        decimals = max(digits - 1 - magnitude, 0)
        x = round(float(x), decimals)
        text = f"{x:,.{decimals}f}"
        if "." in text:  # 85.0 -> 85: trailing zeros of a conversion claim a precision nobody measured
            text = text.rstrip("0").rstrip(".")
    elif isinstance(x, int) or float(x).is_integer():
        text = f"{int(x):,}"
    else:
        text = f"{float(x):,}"
    return text


SCORE_DECIMALS = 2
"""Scores with coefficients (MS score) are read to two decimals; point scores are integers."""


def score(x: float | int) -> str:
    return number(x) if float(x).is_integer() else number(round(float(x), SCORE_DECIMALS))


def duration(seconds: float) -> str:
    """A time span to the minute, as a clinician says it: '45 min', '3 h', '23 h 59 min'."""
    minutes = int(seconds // 60)
    h, m = divmod(minutes, 60)
    if not h:
        return f"{m} min"
    return f"{h} h" + (f" {m} min" if m else "")


def in_unit(analyte_id: str, canonical: float, unit: str) -> float | None:
    """The canonical value expressed in ``unit`` (None if the registry does not accept it)."""
    try:
        conv = analytes.get(analyte_id).conversion(unit)
    except (UnitError, KeyError):
        return None
    # canonical = (v - subtract) * multiply / divide
    return canonical * conv.divide / conv.multiply + conv.subtract


def value_text(analyte_id: str, canonical: float | None, given: dict | None = None,
               paper_unit: str | None = None) -> str:
    """'1.2 g/L (120 mg/dL)': as given, then (where different) in the paper's or canonical unit."""
    a = analytes.get(analyte_id)
    target = paper_unit or a.canonical_unit
    if given and isinstance(given.get("value"), (int, float)) and not isinstance(given.get("value"), bool):
        comp = given.get("comparator") or ""
        text = f"{comp}{number(given['value'])} {unit_text(given.get('unit'))}".strip()
        if given.get("unit") == target or canonical is None:
            return text
        if analytes.fold_unit(str(given.get("unit"))) == analytes.fold_unit(target):
            return text
        try:  # the same number in another spelling (ug/L = ng/mL): nothing to add
            if a.conversion(given.get("unit")) == a.conversion(target):
                return text
        except UnitError:
            pass
        other = in_unit(analyte_id, canonical, target)
        if other is None:
            return text
        return f"{text} ({comp}{number(other, CONVERTED_SIGNIFICANT_DIGITS)} {unit_text(target)})"
    if canonical is None:
        return "—"
    shown = canonical if target == a.canonical_unit else in_unit(analyte_id, canonical, target)
    if target == a.canonical_unit:
        return f"{number(round(canonical, a.decimals) if a.decimals else round(canonical))} {unit_text(target)}"
    return f"{number(shown, CONVERTED_SIGNIFICANT_DIGITS)} {unit_text(target)}"


def evidence_text(instrument_id: str, ev: dict) -> str:
    """One input of an item (``report.input_evidence``) as text: 'fibrinogen 1.2 g/L (120 mg/dL)'."""
    section, name = ev["input"].split(".", 1)
    if section == "labs" or name == "temperature":
        canonical = ev.get("value")
        if canonical is None and ev.get("bound") is None:
            return f"{label(ev['input'])} unknown"
        paper = PAPER_UNITS.get(instrument_id, {}).get(name)
        given = ev.get("as_given")
        if canonical is None:  # censored: the bound in canonical units, the comparator from the input
            canonical = ev["bound"]
            if not given:
                given = {"value": canonical, "unit": analytes.get(name).canonical_unit,
                         "comparator": ev.get("censored")}
        return f"{label(ev['input'])} {value_text(name, canonical, given, paper)}"
    if name == "age_years":
        return "age unknown" if ev.get("value") is None else f"age {number(ev['value'], 2)} y"
    v = ev.get("value")
    return f"{label(ev['input'])} {'unknown' if v is None else ('yes' if v else 'no')}"


_LAB_NAMES = {"wbc": "WBC", "ast": "AST", "alt": "ALT", "ldh": "LDH", "esr": "ESR", "crp": "CRP",
              "d_dimer": "D-dimer", "scd25": "sCD25", "il18": "IL-18", "cxcl9": "CXCL9", "hemoglobin": "haemoglobin"}


@cache  # a pure function of the path, called for every input shown
def label(path: str) -> str:
    """A short readable name of a snapshot input ('labs.ast' -> 'AST')."""
    from .reading import input_names  # the names of findings live with the next-step data

    section, name = path.split(".", 1)
    if section == "labs":
        return _LAB_NAMES.get(name, name.replace("_", " "))
    return input_names().get(path, name.replace("_", " "))
