"""Look-back windows: how old a result may be and still stand for "now".

An evaluation at time t uses, for each analyte or finding, the latest valid value
observed at or before t and no older than its window. The same windows are used by
``maswatch assess`` (one patient) and ``maswatch screen`` (a population), so that both
give the same answer. The defaults are ASSUMPTIONS (no paper sets them): MAS evolves
over hours to days and inpatient panels are drawn daily (docs/clinical/distributions.md §6), so
fast-moving labs look back 72 h, blood counts 48 h, slow or send-out tests longer.
They are configurable and shown with every assessment.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_LOOKBACK_HOURS: dict[str, float] = {
    # blood counts: drawn daily when MAS is suspected; change within a day
    "platelets": 48, "wbc": 48, "neutrophils": 48, "hemoglobin": 48,
    # inflammation and liver/cell-injury markers
    "ferritin": 72, "ast": 72, "alt": 72, "ldh": 72, "fibrinogen": 72, "d_dimer": 72,
    "esr": 72, "crp": 72,
    # drawn rarely (fasting lipids) or sent out (cytokines: results take days)
    "triglycerides": 168, "scd25": 336, "il18": 336, "cxcl9": 336,
    # vital sign and bedside findings
    "temperature": 24, "fever": 24,
    "hepatomegaly": 168, "splenomegaly": 168, "cns_involvement": 48, "hemorrhage": 72,
    "active_arthritis": 168,
    # tissue and functional tests stand for the episode
    "marrow_hemophagocytosis": 720, "tissue_hemophagocytosis": 720, "nk_activity_low": 720,
}

MAX_LOOKBACK_HOURS = 87_660.0
"""Ten years: a longer window (or inf) is a slip, and time arithmetic must stay in range."""


class Lookback(BaseModel):
    """Look-back windows in hours, by analyte or finding id (ASSUMPTION defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hours: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_LOOKBACK_HOURS))

    def window_hours(self, key: str) -> float:
        try:
            return self.hours[key]
        except KeyError:
            raise KeyError(f"no look-back window for {key!r}") from None

    def with_overrides(self, overrides: dict[str, float]) -> "Lookback":
        unknown = set(overrides) - set(self.hours)
        if unknown:
            raise KeyError(f"unknown look-back keys {sorted(unknown)}")
        bad = {k: v for k, v in overrides.items() if not (0 < v <= MAX_LOOKBACK_HOURS)}
        if bad:
            raise ValueError(f"look-back windows must be > 0 and at most {MAX_LOOKBACK_HOURS:g} hours "
                             f"(10 years): {bad}")
        return Lookback(hours={**self.hours, **overrides})


DEFAULT_LOOKBACK = Lookback()
