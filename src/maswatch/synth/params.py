"""Every number the synthetic-cohort generator draws from, with its source and status.

Sources are sections of ``docs/clinical/distributions.md`` (``D§``) and
``docs/clinical/criteria.md`` (``C§``). Status follows that file:

- ``VERIFIED``   a published number used as printed (median, frequency, time);
- ``derived``    a parameter computed from published numbers (e.g. log-normal sigma from
                 an IQR, D§7.1) or a published shape borrowed from a related population;
- ``ASSUMPTION`` our own number (nothing published was found); tune freely.

Lab values are in the registry's canonical units (``maswatch.analytes``): ferritin ng/mL,
counts 10*9/L, Hb g/dL, enzymes U/L, TG mmol/L, fibrinogen mg/dL, ESR mm/h, CRP mg/L,
D-dimer ng/mL{FEU}, sCD25 U/mL, IL-18/CXCL9 pg/mL. A distribution is log-normal
(D§7.1): ``median`` and log-scale ``sigma_low``/``sigma_high`` (two-piece when they differ).
The data these parameters produce are SYNTHETIC and must be labelled so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..analytes import LAB_IDS

GENERATOR_VERSION = "maswatch-synth/1"

VERIFIED, DERIVED, ASSUMPTION = "VERIFIED", "derived", "ASSUMPTION"


@dataclass(frozen=True)
class Dist:
    """Log-normal (two-piece when sigma_low != sigma_high), canonical unit."""

    median: float
    sigma_low: float
    sigma_high: float
    status: str
    source: str

    @property
    def mu(self) -> float:
        return math.log(self.median)


def iqr(median: float, q1: float, q3: float, status: str, source: str) -> Dist:
    """Median + IQR -> two-piece log-normal (D§7.1: sigma = ln(median/Q1)/0.6745 ...)."""
    return Dist(median, math.log(median / q1) / 0.6745, math.log(q3 / median) / 0.6745, status, source)


def mean_sd(mean: float, sd: float, status: str, source: str) -> Dist:
    """Mean ± SD -> log-normal (D§7.1: sigma^2 = ln(1 + sd^2/mean^2), mu = ln(mean) - sigma^2/2)."""
    s2 = math.log(1 + sd * sd / (mean * mean))
    return Dist(math.exp(math.log(mean) - s2 / 2), math.sqrt(s2), math.sqrt(s2), status, source)


def sym(median: float, sigma: float, status: str, source: str) -> Dist:
    return Dist(median, sigma, sigma, status, source)


# ---------------------------------------------------------------------------
# Reference ranges (D§5). (max_age_years_exclusive, sex or None, low, high, status, source).
# low None = one-sided range ("< high"). First matching row wins.
# ---------------------------------------------------------------------------
_IOWA = "D§5 Univ. Iowa paediatric appendix"
_ADULT_DE = "D§5 German hospital ranges (PMC7573668 Table 2)"
_ADULT_UK = "D§5 UK HLH case-series ranges"
REFERENCE_RANGES: dict[str, list[tuple]] = {
    "ferritin": [(18, None, 15, 150, ASSUMPTION, "paediatric ferritin interval MISSING (D§5)"),
                 (200, None, 15, 400, VERIFIED, _ADULT_UK)],
    "platelets": [(18, None, 160, 380, VERIFIED, "D§5 ALSF guide (children > 4 y)"),
                  (200, None, 150, 400, VERIFIED, _ADULT_DE)],
    "wbc": [(4, None, 5.5, 15.5, VERIFIED, _IOWA), (18, None, 5.0, 15.0, VERIFIED, "D§5 ALSF guide"),
            (200, None, 4.0, 10.0, VERIFIED, _ADULT_DE)],
    "neutrophils": [(5, None, 1.5, 8.5, VERIFIED, _IOWA), (18, None, 1.7, 7.5, VERIFIED, _IOWA),
                    (200, None, 1.8, 7.5, ASSUMPTION, "adult ANC interval not in D§5")],
    "hemoglobin": [(18, None, 11.5, 13.5, VERIFIED, "D§5 ALSF guide"),
                   (200, "male", 14.0, 18.0, VERIFIED, _ADULT_DE), (200, "female", 12.0, 16.0, VERIFIED, _ADULT_DE)],
    "ast": [(18, None, 10, 36, DERIVED, "D§5 ALSF guide 0-36 (lower limit 10 ASSUMPTION)"),
            (200, None, 10, 35, DERIVED, _ADULT_DE + " (< 35; lower 10 ASSUMPTION)")],
    "alt": [(4, None, 5, 45, VERIFIED, "D§5 Harriet Lane 27-1"), (7, None, 10, 25, VERIFIED, "D§5 Harriet Lane"),
            (10, None, 10, 35, VERIFIED, "D§5 Harriet Lane"), (16, "female", 10, 30, VERIFIED, "D§5 Harriet Lane"),
            (16, "male", 10, 45, VERIFIED, "D§5 Harriet Lane"), (200, "female", 5, 35, VERIFIED, "D§5 Harriet Lane"),
            (200, "male", 10, 40, VERIFIED, "D§5 Harriet Lane")],
    "ldh": [(11, None, 165, 430, VERIFIED, "D§5 PeaceHealth 18 mo-10 y"), (17, None, 135, 310, VERIFIED, "D§5 PeaceHealth"),
            (200, None, 105, 230, VERIFIED, "D§5 PeaceHealth >= 17 y")],
    "triglycerides": [(18, None, 0.4, 1.7, ASSUMPTION, "paediatric TG interval MISSING (D§5)"),
                      (200, None, 0.5, 2.3, VERIFIED, _ADULT_UK)],
    "fibrinogen": [(18, None, 200, 400, ASSUMPTION, "paediatric fibrinogen interval MISSING (D§5)"),
                   (200, None, 238, 498, VERIFIED, _ADULT_DE)],
    "esr": [(18, None, 2, 15, DERIVED, "D§5 child 2-15 (SECONDARY)"), (200, None, None, 20, VERIFIED, "D§5 Westergren adult < 20")],
    "crp": [(200, None, None, 5.0, ASSUMPTION, "CRP interval not in D§5")],
    "d_dimer": [(200, None, None, 500, VERIFIED, _ADULT_DE + " (< 500 ng/mL; FEU assumed)")],
    "scd25": [(200, None, 241, 846, VERIFIED, "D§5 / D§2.7 Hayden 2017 assay")],
    "il18": [], "cxcl9": [],  # send-out assays: no interval emitted (nullable ref_low/ref_high)
}

# Baseline (inactive disease / healthy) values for analytes without a usable range.
BASELINE_WITHOUT_RANGE = {
    "il18": sym(300, 0.5, ASSUMPTION, "healthy IL-18 not in D§"),
    "cxcl9": sym(80, 0.5, ASSUMPTION, "healthy CXCL9 not in D§"),
}
BASELINE_BETWEEN_SIGMA_FRACTION = 0.6  # ASSUMPTION: person-to-person spread as a share of the range width
WITHIN_PERSON_CV = {  # ASSUMPTION: day-to-day analytical + biological log-scale noise
    "ferritin": 0.10, "platelets": 0.08, "wbc": 0.10, "neutrophils": 0.12, "hemoglobin": 0.04,
    "ast": 0.10, "alt": 0.10, "ldh": 0.08, "triglycerides": 0.12, "fibrinogen": 0.07, "esr": 0.12,
    "crp": 0.15, "d_dimer": 0.15, "scd25": 0.10, "il18": 0.15, "cxcl9": 0.15,
}

# ---------------------------------------------------------------------------
# Disease-state lab distributions (canonical units). "active" = flare without MAS;
# "mas" = values at MAS onset/peak. Missing analytes in a state fall back as noted.
# ---------------------------------------------------------------------------
_CHENG = "D§2.4 Cheng et al. AOSD-MAS at onset (low-weight source)"
STILL_ACTIVE = {
    "ferritin": sym(2060, 0.97, DERIVED, "D§2.2 Cakan 2019 median; sigma from GIRRCS AOSD without MAS (D§7.1)"),
    "platelets": sym(480, 0.35, ASSUMPTION, "D§2.2: 30% > 600 (Front Pediatr 2023) matched approximately"),
    "wbc": sym(12.6, 0.35, DERIVED, "D§2.4 Japanese AOSD median 12.6; sigma ASSUMPTION"),
    "neutrophils": sym(9.5, 0.40, ASSUMPTION, "not in D§"),
    "hemoglobin": sym(10.0, 0.149, DERIVED, "D§2.2 Hb < 9 in 24% (Front Pediatr 2023) with median 10 ASSUMPTION"),
    "ast": sym(40, 0.24, DERIVED, "D§7.1 Gillispie 2017 active sJIA"),
    "alt": sym(30, 0.40, ASSUMPTION, "not in D§"),
    "ldh": iqr(341, 251, 419, VERIFIED, "D§2.4 Cheng AOSD without MAS"),
    "triglycerides": sym(1.1, 0.35, ASSUMPTION, "not in D§"),
    "fibrinogen": sym(558, 0.19, DERIVED, "D§7.1 Gillispie 2017 active sJIA"),
    "esr": sym(120, 0.35, DERIVED, "D§2.2 Front Pediatr 2023 median 120 (range 10-170 used as clip); sigma ASSUMPTION"),
    "crp": sym(95, 0.80, DERIVED, "D§2.2 Front Pediatr 2023 median 95 mg/L (range 5-400); sigma ASSUMPTION"),
    "d_dimer": sym(1500, 0.70, ASSUMPTION, "D-dimer distributions MISSING (D§2.7)"),
    "scd25": sym(1500, 0.50, ASSUMPTION, "active-sJIA sCD25 published only in pg/mL (D§2.2), not convertible"),
    "il18": sym(20000, 0.9, ASSUMPTION, "between AOSD diagnosis (> 5000) and MAS-risk cut-offs (C§14)"),
    "cxcl9": sym(800, 0.7, ASSUMPTION, "below the MAS cut-off 3130 pg/mL (C§14 Mizuta 2019)"),
}
STILL_MAS = {
    "ferritin": mean_sd(23957, 15525, DERIVED, "D§7.1 sJIA-MAS PMID 26884689 (children)"),
    "platelets": iqr(137.5, 87.3, 197.3, VERIFIED, _CHENG),
    "wbc": sym(5.0, 0.5, ASSUMPTION, "relative WBC fall (D§3); Assari cut-off < 8.2"),
    "neutrophils": sym(3.0, 0.6, DERIVED, "D§2.6 Lehmberg 2013: ~85% of sJIA-MAS above 1.8 x10^9/L"),
    "hemoglobin": sym(9.0, 0.15, ASSUMPTION, "anaemia in 90% (D§1 Turkish cohort)"),
    "ast": iqr(143.25, 66.25, 370, VERIFIED, _CHENG),
    "alt": sym(120, 1.1, ASSUMPTION, "shaped like AST (Cheng)"),
    "ldh": iqr(1194, 542, 1591, VERIFIED, _CHENG),
    "triglycerides": iqr(2.02, 1.22, 3.53, VERIFIED, _CHENG),
    "fibrinogen": iqr(246, 128, 380, VERIFIED, _CHENG + " (g/L x 100)"),
    "esr": iqr(20.5, 6.75, 32, VERIFIED, _CHENG),
    "crp": iqr(23, 10.91, 58.37, VERIFIED, _CHENG),
    "d_dimer": sym(5000, 0.8, ASSUMPTION, "raised in MAS (D§2.7); distribution MISSING"),
    "scd25": mean_sd(5008, 3000, DERIVED, "D§2.7 Hayden 2017 mean 5008 U/mL in MAS; SD ASSUMPTION"),
    "il18": sym(80000, 0.8, ASSUMPTION, "above the MAS cut-offs 47,750-69,250 pg/mL (C§14)"),
    "cxcl9": sym(6000, 0.9, ASSUMPTION, "above the MAS cut-off 3130 pg/mL (C§14 Mizuta 2019)"),
}
ADULT_STILL_MAS_OVERRIDES = {
    "ferritin": iqr(24740.5, 12837, 45152, VERIFIED, _CHENG),
}
# D§7.1: assemble sJIA-MAS from AOSD-MAS shapes "rescaled to paediatric normal ranges":
# enzymes scale with the ratio of paediatric to adult upper limits.
PAEDIATRIC_RESCALE_BY_ULN = ("ldh",)

SLE_ACTIVE = {
    "ferritin": sym(250, 1.0, ASSUMPTION, "SLE-flare ferritin not in D§"),
    "platelets": sym(190, 0.40, ASSUMPTION, "SLE lower platelets (D§2.5 Indian comparison, qualitative)"),
    "wbc": sym(4.5, 0.35, ASSUMPTION, "SLE lower WBC (D§2.5, qualitative)"),
    "neutrophils": sym(3.0, 0.45, ASSUMPTION, "not in D§"),
    "hemoglobin": sym(10.5, 0.15, ASSUMPTION, "not in D§"),
    "ast": sym(32, 0.4, ASSUMPTION, "not in D§"),
    "alt": sym(30, 0.5, ASSUMPTION, "not in D§"),
    "ldh": sym(280, 0.3, ASSUMPTION, "not in D§"),
    "triglycerides": sym(1.5, 0.4, ASSUMPTION, "SLE dyslipidaemia; not in D§"),
    "fibrinogen": sym(400, 0.25, ASSUMPTION, "not in D§"),
    "esr": sym(60, 0.5, ASSUMPTION, "not in D§"),
    "crp": sym(8, 1.0, ASSUMPTION, "CRP often low in SLE flares (not in D§)"),
    "d_dimer": sym(1000, 0.7, ASSUMPTION, "not in D§"),
    "scd25": sym(1000, 0.5, ASSUMPTION, "not in D§"),
    "il18": sym(1500, 0.8, ASSUMPTION, "not in D§"),
    "cxcl9": sym(500, 0.7, ASSUMPTION, "not in D§"),
}
# SLE-MAS lab medians are MISSING (D§2.5): Still's-MAS shapes with these changes.
SLE_MAS_OVERRIDES = {
    "ferritin": sym(3500, 1.0, ASSUMPTION, "SLE-MAS medians MISSING; above the SLE cut-offs 607-1107 (D§2.5)"),
    "platelets": sym(95, 0.6, ASSUMPTION, "lower baseline platelets in SLE-MAS (D§2.5 Indian comparison)"),
    "wbc": sym(3.0, 0.5, ASSUMPTION, "lower baseline WBC in SLE-MAS (D§2.5)"),
    "crp": sym(15, 1.0, ASSUMPTION, "sJIA-MAS had higher CRP than SLE-MAS (D§2.5)"),
}
OTHER_ACTIVE = {
    "ferritin": sym(150, 0.8, ASSUMPTION, "other rheumatic disease, not in D§"),
    "platelets": sym(380, 0.3, ASSUMPTION, ""), "wbc": sym(10, 0.3, ASSUMPTION, ""),
    "neutrophils": sym(6.5, 0.35, ASSUMPTION, ""), "hemoglobin": sym(11.5, 0.1, ASSUMPTION, ""),
    "ast": sym(28, 0.3, ASSUMPTION, ""), "alt": sym(25, 0.4, ASSUMPTION, ""), "ldh": sym(250, 0.25, ASSUMPTION, ""),
    "triglycerides": sym(1.2, 0.35, ASSUMPTION, ""), "fibrinogen": sym(480, 0.2, ASSUMPTION, ""),
    "esr": sym(35, 0.5, ASSUMPTION, ""), "crp": sym(20, 0.9, ASSUMPTION, ""), "d_dimer": sym(600, 0.6, ASSUMPTION, ""),
    "scd25": sym(700, 0.4, ASSUMPTION, ""), "il18": sym(600, 0.7, ASSUMPTION, ""), "cxcl9": sym(200, 0.6, ASSUMPTION, ""),
}
# Systemic-infection controls: MAS-study control values are MISSING (D§2.3). The only
# published proxy (hyperferritinaemic non-HLH children, median 1175) is selected on high
# ferritin, so the median below is an ASSUMPTION for febrile infection in general.
INFECTION = {
    "ferritin": sym(300, 1.0, ASSUMPTION, "D§2.3 proxy median 1175 is selected on ferritin > 500; general febrile infection lower"),
    "platelets": sym(270, 0.40, ASSUMPTION, ""), "wbc": sym(13, 0.4, ASSUMPTION, ""),
    "neutrophils": sym(9, 0.5, ASSUMPTION, ""), "hemoglobin": sym(11.5, 0.1, ASSUMPTION, ""),
    "ast": sym(30, 0.4, ASSUMPTION, ""), "alt": sym(25, 0.5, ASSUMPTION, ""), "ldh": sym(300, 0.3, ASSUMPTION, ""),
    "triglycerides": sym(1.3, 0.35, ASSUMPTION, ""), "fibrinogen": sym(540, 0.22, ASSUMPTION, "acute-phase rise"),
    "esr": sym(40, 0.5, ASSUMPTION, ""), "crp": sym(60, 0.9, ASSUMPTION, ""), "d_dimer": sym(900, 0.7, ASSUMPTION, ""),
    "scd25": sym(1200, 0.5, ASSUMPTION, ""), "il18": sym(800, 0.8, ASSUMPTION, ""), "cxcl9": sym(600, 0.8, ASSUMPTION, ""),
}
EPISODE_SCATTER_SIGMA = 0.25  # ASSUMPTION: per-episode spread of the pre-MAS/MAS ratio
SEVERITY_LOADING = 0.6  # ASSUMPTION: share of MAS log-variance shared across analytes (one severity axis)
SEVERITY_DIRECTION = {  # sign of each analyte's move with severity (MAS: ferritin up, platelets down ...)
    "ferritin": 1, "platelets": -1, "wbc": -1, "neutrophils": -1, "hemoglobin": -1, "ast": 1, "alt": 1, "ldh": 1,
    "triglycerides": 1, "fibrinogen": -1, "esr": -1, "crp": 1, "d_dimer": 1, "scd25": 1, "il18": 1, "cxcl9": 1,
}

# D§7.3: pre-MAS -> MAS multiplicative change (median), Cheng et al.; others ASSUMPTION.
MAS_CHANGE = {
    "platelets": (0.53, VERIFIED), "fibrinogen": (0.42, VERIFIED), "esr": (0.50, VERIFIED), "crp": (0.16, VERIFIED),
    "ast": (2.9, VERIFIED), "ldh": (2.8, VERIFIED), "triglycerides": (1.8, VERIFIED), "ferritin": (3.4, VERIFIED),
    "wbc": (0.6, ASSUMPTION), "neutrophils": (0.6, ASSUMPTION), "hemoglobin": (0.88, ASSUMPTION),
    "alt": (2.5, ASSUMPTION), "d_dimer": (3.0, ASSUMPTION), "scd25": (2.5, ASSUMPTION), "il18": (2.0, ASSUMPTION),
    "cxcl9": (5.0, ASSUMPTION),
}

# Physiological clip (canonical) applied before rounding; inside the registry's plausible range.
CLIP = {
    "ferritin": (3, 300000), "platelets": (3, 1500), "wbc": (0.3, 60), "neutrophils": (0.05, 45),
    "hemoglobin": (3.5, 20), "ast": (5, 15000), "alt": (3, 12000), "ldh": (60, 30000),
    "triglycerides": (0.2, 25), "fibrinogen": (30, 1200), "esr": (1, 170), "crp": (0.2, 400),
    "d_dimer": (50, 100000), "scd25": (50, 60000), "il18": (20, 1500000), "cxcl9": (10, 200000),
}
# Lower reporting limits (canonical): a smaller result is reported "<" limit. ASSUMPTION.
LOWER_LIMIT = {"crp": 0.5, "d_dimer": 190}

# ---------------------------------------------------------------------------
# Archetypes, demographics and episode process
# ---------------------------------------------------------------------------
ARCHETYPES = ("sjia", "aosd", "sle_child", "sle_adult", "other_rheumatic", "febrile_infection")
ARCHETYPE_MIX = (0.30, 0.12, 0.08, 0.15, 0.15, 0.20)  # ASSUMPTION: a rheumatology-heavy screening cohort


@dataclass(frozen=True)
class ArchetypeParams:
    condition: str | None  # conditions.code of the underlying disease
    context: str  # maswatch.batch.CONTEXTS name
    age_median: float
    age_sigma: float
    age_clip: tuple[float, float]
    female: float
    mas_ever: float  # probability that the patient has >= 1 MAS episode
    mas_at_onset: float  # P(first MAS at disease onset | MAS)
    flare_rate_per_year: float
    flare_admission: float
    infection_rate_per_year: float
    infection_admission: float
    recurrence: float  # P(another MAS after a resolved MAS)
    death_given_mas: float
    visit_gap_days: tuple[float, float]
    active: str  # state-table name for flares
    mas: str  # state-table name for MAS
    sources: str = ""


ARCHETYPE_PARAMS = {
    "sjia": ArchetypeParams(
        "sjia", "sjia", 5.0, 0.7, (0.5, 16), 0.5, 0.10, 0.22, 0.6, 0.35, 0.8, 0.25, 0.20, 0.08, (30, 120),
        "still_active", "still_mas",
        "age D§3 (median 5, VERIFIED; sigma ASSUMPTION); MAS ever 10% D§7.3 (sensitivity 25-35%); "
        "at onset 22% D§3 Minoia 2014 VERIFIED; recurrence 20% D§4.3 (10-26%); death 8% D§4.4 Minoia 2014; "
        "visits every 1-4 months D§6; flare/infection rates ASSUMPTION"),
    "aosd": ArchetypeParams(
        "aosd", "aosd", 36.0, 0.35, (16, 80), 0.65, 0.123, 0.60, 0.35, 0.5, 0.6, 0.25, 0.15, 0.20, (30, 120),
        "still_active", "still_mas",
        "MAS 12.3% D§2.4 Wang 2020; inaugural 12/20 D§3 Lyon; relapse 35.1% D§2.4 (disease; MAS ASSUMPTION 15%); "
        "death 20% D§7.3 (20-56%); age and sex ASSUMPTION"),
    "sle_child": ArchetypeParams(
        "sle", "sle", 13.0, 0.2, (5, 17.9), 0.85, 0.09, 0.68, 0.5, 0.3, 0.8, 0.25, 0.0, 0.07, (60, 120),
        "sle_active", "sle_mas",
        "MAS 9% and 68% within 7 days of diagnosis D§2.5 Borgia 2018; no relapses D§4.3; death 7% ASSUMPTION "
        "(PHIS SLE 11%, D§4.4)"),
    "sle_adult": ArchetypeParams(
        "sle", "sle", 32.0, 0.35, (18, 80), 0.88, 0.05, 0.46, 0.4, 0.25, 0.6, 0.2, 0.15, 0.056, (60, 120),
        "sle_active", "sle_mas",
        "median age 32, inaugural 46%, relapse 13/89, death 5/89 D§2.5/D§4 Gavand 2017; MAS ever 5% ASSUMPTION"),
    "other_rheumatic": ArchetypeParams(
        "other_rheumatic", "other_rheumatic", 12.0, 0.9, (1, 80), 0.6, 0.01, 0.0, 0.3, 0.15, 0.6, 0.15, 0.0, 0.07,
        (90, 180), "other_active", "still_mas", "all ASSUMPTION"),
    "febrile_infection": ArchetypeParams(
        None, "none", 4.0, 1.0, (0.3, 75), 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, (120, 240),
        "infection", "still_mas",
        "hospitalised febrile controls of the 2016 criteria (D§2.3); values ASSUMPTION"),
}
STATE_TABLES = {"still_active": STILL_ACTIVE, "still_mas": STILL_MAS, "sle_active": SLE_ACTIVE,
                "other_active": OTHER_ACTIVE, "infection": INFECTION}

# MAS trigger mix given MAS outside disease onset (D§4.2 RMD Open Table 1, VERIFIED:
# active disease 48.3%, infection 39.6%, treatment 1.7%, other/unknown 10.4%).
TRIGGERS = ("active_disease", "infection", "drug", "unknown")
TRIGGER_MIX = (0.483, 0.396, 0.017, 0.104)
DISEASE_DURATION_AT_MAS = sym(365.25 * 1.2, 1.0, DERIVED,
                              "D§3 median 0.9 y (IQR 0.1-2.4) incl. MAS at onset; non-onset median 1.2 y ASSUMPTION")
RECURRENCE_GAP_DAYS = sym(180, 0.8, ASSUMPTION, "time to MAS recurrence not in D§")
TRIGGER_TO_MAS_DAYS = (2.0, 14.0)  # ASSUMPTION: time from flare/infection to MAS onset is MISSING (D§3)
MAS_RAMP_DAYS = (3.0, 10.0)  # ASSUMPTION D§7.3: pre-MAS ramp 3-10 days, log-linear
DIAGNOSIS_FRACTION_OF_RAMP = (0.55, 1.0)  # ASSUMPTION: treatment starts late in the ramp
ICU_SHARE = 0.35  # D§4.4 VERIFIED 33-45%: the most severe third is labelled "severe"
FLARE_RAMP_DAYS = (1.0, 3.0)  # ASSUMPTION
FLARE_PLATEAU_DAYS = (3.0, 10.0)  # ASSUMPTION
INFECTION_PLATEAU_DAYS = (2.0, 7.0)  # ASSUMPTION
FLARE_RECOVERY_TAU_DAYS = (2.5, 6.0)  # ASSUMPTION
INCIDENT_SHARE = 0.5  # ASSUMPTION: share followed from disease onset
PREVALENT_DURATION_DAYS = sym(2 * 365.25, 0.8, ASSUMPTION, "")
FOLLOW_UP_DAYS = sym(2.5 * 365.25, 0.5, ASSUMPTION, "")
FOLLOW_UP_CLIP_DAYS = (90.0, 8 * 365.25)
CONTROL_FOLLOW_UP_DAYS = (20.0, 120.0)  # ASSUMPTION: febrile controls seen around one admission
CALENDAR_START = "2016-01-01"
CALENDAR_SPAN_DAYS = 9 * 365

# Clinical features per episode (D§1, % of patients).
FEATURES = ("hepatomegaly", "splenomegaly", "cns_involvement", "hemorrhage", "active_arthritis")
FEATURE_FREQ = {
    # Minoia 2014 (n=362) VERIFIED; active arthritis Ravelli 2016 RMD Open (60.9%).
    "still_mas": (0.70, 0.58, 0.35, 0.20, 0.609),
    # GIRRCS AOSD presenting with MAS (n=12) VERIFIED; CNS/haemorrhage from Minoia (sJIA).
    "aosd_mas": (0.916, 0.916, 0.35, 0.20, 0.833),
    # Borgia 2018 cSLE-MAS (SECONDARY); arthritis ASSUMPTION.
    "sle_mas": (0.18, 0.10, 0.18, 0.13, 0.30),
    # Front Pediatr 2023 active sJIA at diagnosis VERIFIED (CNS/haemorrhage ASSUMPTION).
    "still_active": (0.14, 0.22, 0.02, 0.01, 0.80),
    "sle_active": (0.05, 0.05, 0.05, 0.02, 0.40),  # ASSUMPTION
    "other_active": (0.02, 0.02, 0.01, 0.01, 0.60),  # ASSUMPTION
    "infection": (0.05, 0.08, 0.03, 0.01, 0.02),  # ASSUMPTION
}
FEVER_IN_MAS = 0.96  # D§1 Minoia 2014 VERIFIED (Boston: 2/27 afebrile)
FEVER_IN_FLARE = {"still_active": 1.0, "sle_active": 0.6, "other_active": 0.3, "infection": 0.95}  # D§2.2 / ASSUMPTION
MARROW_DONE_IN_MAS = 54 / 70  # D§1 Ravelli 2016 RMD Open: 54 of 70 sampled
MARROW_HEMOPHAGOCYTOSIS_IN_MAS = 0.60  # D§1 Minoia 2014 VERIFIED
MARROW_DONE_IN_FLARE = 0.05  # ASSUMPTION
MARROW_HEMOPHAGOCYTOSIS_IN_FLARE = 0.2  # ASSUMPTION (subclinical MAS, D§4.1 Behrens 2007)

# ---------------------------------------------------------------------------
# Treatment and response (D§4.5, D§4.6; regimens ASSUMPTION where marked)
# ---------------------------------------------------------------------------
MP_PULSE_MG_PER_KG = 30.0  # ASSUMPTION regimen (common practice): 30 mg/kg/day, max 1 g, 3 days
MP_PULSE_MAX_G = 1.0
MP_PULSE_DAYS = 3
PREDNISONE_MG_PER_KG = 2.0  # ASSUMPTION regimen: 2 mg/kg/day (max 60 mg), taper
PREDNISONE_MAX_MG = 60.0
PREDNISONE_TAPER = ((14, 1.0), (14, 0.75), (14, 0.5), (28, 0.25))  # (days, fraction) ASSUMPTION
P_ANAKINRA = {"still_mas": 0.6, "sle_mas": 0.25}  # ASSUMPTION (biologics 15-25% in 2014-2016, D§4.5)
ANAKINRA_MG_PER_KG_DAY = (2.0, 10.0)  # D§4.6 Sonmez 2018 started at 2 mg/kg/day; high-dose ASSUMPTION
P_CICLOSPORIN = 0.61  # D§4.5 Minoia 2014 VERIFIED
CICLOSPORIN_MG_PER_KG_DAY = 4.0  # ASSUMPTION, given in 2 doses
P_GC_REFRACTORY = 0.35  # D§4.6 Gavand 2017: GC alone remission 65% (adult SLE) -> 35% refractory
EMAPALUMAB_MG_PER_KG = 1.0  # ASSUMPTION regimen (1 mg/kg, twice weekly)
P_ETOPOSIDE = 0.05  # ASSUMPTION "rarely" today (Minoia 2014: 12%)
ETOPOSIDE_MG_PER_M2 = 150.0  # ASSUMPTION (HLH-94 dose; given here as mg/kg equivalent below)
P_IVIG = 0.397  # D§4.5 RMD Open VERIFIED
# Recovery time constant tau (days): lab component falls to 10% at tau*ln(10).
TAU_ANAKINRA = 6.0 / math.log(10)  # D§4.6 Sonmez: lab normalisation median 6 days (derived)
TAU_CICLOSPORIN = 10.0 / math.log(10)  # ASSUMPTION (liver enzymes up to 5 weeks, Mouy 1996)
TAU_GC_ALONE = 9.0 / math.log(10)  # ASSUMPTION (time to GC response MISSING, D§4.6)
TAU_EMAPALUMAB = 25.0 / math.log(10)  # D§4.6 De Benedetti 2023: remission median 25 days (derived)
FERRITIN_TAU_FACTOR = 1.8  # derived: ferritin -57% by day 15 on anakinra (Eloseily 2020), slower than other labs
FEVER_STOP_DAYS = (1.0, 2.0)  # D§4.6 anakinra/CsA: fever resolves in 1-2 days (VERIFIED)
MAINTENANCE = {  # (drug, P, dose mg/kg, per day) for chronic therapy; ASSUMPTION
    "sjia": (("tocilizumab", 0.35, 12.0, 1 / 14), ("canakinumab", 0.15, 4.0, 1 / 28), ("anakinra", 0.2, 2.0, 1.0)),
    "aosd": (("anakinra", 0.3, 1.5, 1.0), ("tocilizumab", 0.2, 8.0, 1 / 28)),
}

# ---------------------------------------------------------------------------
# Sampling (D§6, D§7.4)
# ---------------------------------------------------------------------------
# Probability that each lab is drawn: (outpatient visit, inpatient daily round, admission panel).
DRAW_PROBABILITY = {  # ASSUMPTION, shaped on D§7.4 (daily panel; TG, fibrinogen, D-dimer, sCD25 rarer)
    "ferritin": (0.45, 0.80, 0.95), "platelets": (0.92, 0.97, 0.99), "wbc": (0.92, 0.97, 0.99),
    "neutrophils": (0.85, 0.92, 0.97), "hemoglobin": (0.92, 0.97, 0.99), "ast": (0.85, 0.85, 0.95),
    "alt": (0.85, 0.85, 0.95), "ldh": (0.3, 0.6, 0.85), "triglycerides": (0.08, 0.3, 0.6),
    "fibrinogen": (0.12, 0.55, 0.8), "esr": (0.7, 0.5, 0.85), "crp": (0.8, 0.85, 0.95),
    "d_dimer": (0.04, 0.45, 0.7), "scd25": (0.0, 0.0, 0.0), "il18": (0.0, 0.0, 0.0), "cxcl9": (0.0, 0.0, 0.0),
}
# Send-out tests, drawn when MAS is suspected (on the MAS diagnosis day) and rarely otherwise.
SEND_OUT_P_MAS = {"scd25": 0.55, "il18": 0.2, "cxcl9": 0.2}  # ASSUMPTION (D§7.4 once at presentation)
SEND_OUT_P_OTHER_ADMISSION = {"scd25": 0.04, "il18": 0.03, "cxcl9": 0.01}  # ASSUMPTION
SEND_OUT_REPEAT_WEEKLY = 0.3  # ASSUMPTION
TAPER_AFTER_DAYS = 5  # inpatient panels taper (every other day) once the episode settles (D§6)
TAPER_DRAW_FACTOR = 0.45
TEMPERATURE_EVERY_HOURS = (4.0, 8.0)  # ASSUMPTION: nursing observations
EXAM_FINDINGS_P_PER_DAY = 0.35  # ASSUMPTION: organomegaly etc. documented on admission then every few days
OUTPATIENT_ARTHRITIS_EXAM = 0.7  # ASSUMPTION: joint count recorded at rheumatology visits
POST_DISCHARGE_VISITS_DAYS = (7, 28)  # D§6 treat-to-target day 7 and week 4 (SECONDARY)
TWICE_DAILY_SHARE = 0.0  # D§7.4: no source; stress-test option only

# Data-quality events (configurable; ASSUMPTION rates) - see README.txt of each cohort.
@dataclass(frozen=True)
class DataQuality:
    preliminary: float = 0.01
    amended: float = 0.003
    entered_in_error: float = 0.002


DEFAULT_DATA_QUALITY = DataQuality()


# ---------------------------------------------------------------------------
# Lab "sites": unit conventions and assay ceilings (per patient). ASSUMPTION mix.
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    name: str
    weight: float
    units: dict[str, str]
    ferritin_ceiling: float | None  # ng/mL; above it results are reported ">" ceiling
    temperature_unit: str = "Cel"


_BASE_UNITS = {a: None for a in LAB_IDS}
SITES = (
    Site("us_childrens", 0.30, {"platelets": "10*3/uL", "wbc": "10*3/uL", "neutrophils": "10*3/uL",
                                "hemoglobin": "g/dL", "triglycerides": "mg/dL", "fibrinogen": "mg/dL",
                                "crp": "mg/dL", "d_dimer": "ug/mL{FEU}", "ferritin": "ng/mL"}, 40000, "[degF]"),
    Site("us_adult", 0.15, {"platelets": "K/uL", "wbc": "K/uL", "neutrophils": "K/uL", "hemoglobin": "g/dL",
                            "triglycerides": "mg/dL", "fibrinogen": "mg/dL", "crp": "mg/L",
                            "d_dimer": "ng/mL{FEU}", "ast": "IU/L", "alt": "IU/L", "ldh": "IU/L"}, 100000, "[degF]"),
    Site("uk", 0.20, {"platelets": "10*9/L", "wbc": "10*9/L", "neutrophils": "10*9/L", "hemoglobin": "g/L",
                      "triglycerides": "mmol/L", "fibrinogen": "g/L", "ferritin": "ug/L", "d_dimer": "mg/L FEU"},
         None, "Cel"),
    Site("eu", 0.25, {"platelets": "10^9/L", "wbc": "10^9/L", "neutrophils": "10^9/L", "hemoglobin": "g/dL",
                      "triglycerides": "mmol/L", "fibrinogen": "g/L", "d_dimer": "ng/mL{FEU}"}, 40000, "Cel"),
    Site("legacy_counts", 0.10, {"platelets": "/uL", "wbc": "/uL", "neutrophils": "/uL", "hemoglobin": "g/dL",
                                 "triglycerides": "mg/dL", "fibrinogen": "mg/dL", "crp": "mg/L"}, None, "Cel"),
)
# Reporting precision in non-canonical units (decimals; negative = tens/hundreds).
# Canonical units use the registry's ``decimals``.
UNIT_DECIMALS = {
    ("platelets", "/uL"): -3, ("wbc", "/uL"): -1, ("neutrophils", "/uL"): -1,
    ("hemoglobin", "g/L"): 0, ("triglycerides", "mg/dL"): 0, ("fibrinogen", "g/L"): 2,
    ("crp", "mg/dL"): 2, ("d_dimer", "ug/mL{FEU}"): 2, ("d_dimer", "mg/L FEU"): 2,
    ("temperature", "[degF]"): 1,
}
FERRITIN_CEILINGS = (40000, 100000)


@dataclass(frozen=True)
class SynthOptions:
    """Knobs exposed through the API/CLI (everything else is a module constant above)."""

    archetype_mix: tuple[float, ...] = ARCHETYPE_MIX
    mas_ever_scale: float = 1.0  # multiply every archetype's MAS probability (enriched cohorts)
    data_quality: DataQuality = field(default_factory=DataQuality)
    twice_daily_share: float = TWICE_DAILY_SHARE

    def __post_init__(self):
        if len(self.archetype_mix) != len(ARCHETYPES) or any(p < 0 for p in self.archetype_mix) \
                or not math.isclose(sum(self.archetype_mix), 1.0, abs_tol=1e-6):
            raise ValueError(f"archetype_mix must be {len(ARCHETYPES)} non-negative shares summing to 1 "
                             f"(order {ARCHETYPES}), got {self.archetype_mix}")
        if not (0 <= self.mas_ever_scale):
            raise ValueError(f"mas_ever_scale must be >= 0, got {self.mas_ever_scale}")
        dq = self.data_quality
        for name in ("preliminary", "amended", "entered_in_error"):
            v = getattr(dq, name)
            if not (0 <= v <= 0.2):
                raise ValueError(f"data_quality.{name} must be between 0 and 0.2, got {v}")
