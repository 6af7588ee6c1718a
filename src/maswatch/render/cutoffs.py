"""The published cut-offs drawn on each lab chart, read from the instrument modules.

Nothing is retyped here: every number is the instrument's own module constant, converted
to the analyte's canonical unit by the registry. Labels name the instrument and the paper's
direction, so a line on a chart can be traced back to its table: docs/clinical/criteria.md §1 (2016
sJIA-MAS), §2 (HLH-2004), §3 (HScore), §4 (MS score), §6 (ferritin:ESR) and §7 (jSLE 2009).
"""

from __future__ import annotations

from ..analytes import get
from ..display import in_unit, number
from ..instruments import ferritin_esr, hlh2004, hscore, ms_score, parodi2009, ravelli2016
from .model import Threshold

R16, HLH, HS, JSLE = "2016 sJIA-MAS", "HLH-2004", "HScore", "jSLE 2009"


def _to_canonical(analyte: str, value: float, unit: str) -> float:
    return float(get(analyte).conversion(unit).apply(float(value)))


ALT_UNITS = {"fibrinogen": "g/L", "triglycerides": "mg/dL", "hemoglobin": "g/L"}
"""Analytes whose cut-offs are also written in the other unit labs commonly report."""


def _with_alt(analyte: str, th: Threshold) -> Threshold:
    unit = ALT_UNITS.get(analyte)
    if unit is None:
        return th
    return Threshold(th.value, th.label, f"{number(in_unit(analyte, th.value, unit), 3)} {unit}")


_CUTOFFS: dict[str, tuple[Threshold, ...]] = {
    "ferritin": (Threshold(ravelli2016.FERRITIN_GT_NG_ML, f"{R16} (>)"),
                 Threshold(hlh2004.FERRITIN_GE_UG_L, f"{HLH} (≥)")),
    "platelets": (Threshold(ravelli2016.PLATELETS_LE_1E9_L, f"{R16} (≤)"),
                  Threshold(hlh2004.PLATELETS_LT_1E9_L, f"{HLH} (<)")),
    "fibrinogen": (Threshold(ravelli2016.FIBRINOGEN_LE_MG_DL, f"{R16} (≤)"),
                   Threshold(_to_canonical("fibrinogen", hscore.FIBRINOGEN_LE_G_L, "g/L"), f"{HS} (≤)"),
                   Threshold(hlh2004.FIBRINOGEN_LE_MG_DL, f"{HLH} (≤)")),
    "ast": (Threshold(ravelli2016.AST_GT_U_L, f"{R16} (>)"), Threshold(hscore.AST_GE_U_L, f"{HS} (≥)")),
    "triglycerides": (Threshold(_to_canonical("triglycerides", ravelli2016.TRIGLYCERIDES_GT_MG_DL, "mg/dL"),
                                f"{R16} (>)"),
                      Threshold(hlh2004.TRIGLYCERIDES_GE_MMOL_L, f"{HLH} (≥)")),
    "hemoglobin": (Threshold(hlh2004.HEMOGLOBIN_LT_G_DL, f"{HLH} (<)"),),
    "neutrophils": (Threshold(hlh2004.NEUTROPHILS_LT_1E9_L, f"{HLH} (<)"),),
    "wbc": (Threshold(hscore.CYTOPENIA_WBC_LE_1E9_L, f"{HS} (≤)"),),
    "ldh": (Threshold(parodi2009.LDH_GT_U_L, f"{JSLE} (>)"),),
}
CUTOFFS = {a: tuple(_with_alt(a, t) for t in ths) for a, ths in _CUTOFFS.items()}
"""Analyte id -> cut-offs in the analyte's canonical unit (registry), most-used instrument first."""

HSCORE = (Threshold(hscore.CUTOFF, f"{HS} cut-off (≥)"),)
"""The HScore's own cut-off, for a chart of the score."""

SCORE_CUTOFFS: dict[str, tuple[Threshold, ...]] = {
    "hscore": HSCORE,
    "ms_score": (Threshold(ms_score.CUTOFF_SJIA, "sJIA cut-off (≥)"),),
    "ferritin_esr": (Threshold(ferritin_esr.CUTOFF, "cut-off (direction UNVERIFIED)"),),
}
"""Each score's published cut-off (the MH-score cut-off is an UNVERIFIED setting, drawn by the caller)."""


def cutoffs(analyte: str) -> tuple[Threshold, ...]:
    """Cut-offs to draw on ``analyte``'s chart (empty when no instrument sets one)."""
    return CUTOFFS.get(analyte, ())
