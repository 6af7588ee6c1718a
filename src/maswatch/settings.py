"""Settings whose published value is not settled (docs/clinical/criteria.md marks them UNVERIFIED).

Every such setting is configurable and named in the ``unverified`` list of each
result that uses it, so no output presents it as settled. Settled thresholds are
module constants of the instruments, not settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hlh2004_fever_temperature_c: float = Field(
        38.5,
        ge=37.5,
        le=40.0,
        description="HLH-2004 fever item when no fever finding is given: temperature >= this (°C). "
        "UNVERIFIED: reproductions say 'fever', '>= 38.5', '>= 38.3' (docs/clinical/criteria.md §2, conflict 3).",
    )
    mh_score_cutoff: float = Field(
        60,
        ge=0,
        le=123,
        description="MH score >= this favours primary HLH. UNVERIFIED: abstract results truncated (docs/clinical/criteria.md §5).",
    )
    ferritin_esr_cutoff_inclusive: bool = Field(
        True,
        description="Ferritin:ESR met at ratio >= 21.5 (True) or > 21.5 (False). "
        "UNVERIFIED: the abstract says 'a ratio of 21.5' (docs/clinical/criteria.md §6).",
    )
    ms_score_cutoff: Literal["sjia", "aosd"] = Field(
        "sjia",
        description="MS score cut-off: -2.1 (Minoia 2019, sJIA) or -1.74 (Yao 2021, AOSD). Both verified.",
    )
    adult_age_years: float = Field(
        18.0,
        ge=12,
        le=21,
        description="Age (years) from which a patient counts as an adult when checking an instrument's population: "
        "HScore and OHI were derived in adults, the MH score and the jSLE 2009 guidelines in children. "
        "ASSUMPTION/UNVERIFIED: the papers' exact inclusion ages were not retrieved (docs/clinical/criteria.md §3, §5, §7, §12).",
    )

    def unverified(self, instrument_id: str) -> list[str]:
        """The unsettled settings an instrument uses, as 'name = value (why)' strings."""
        if instrument_id == "hlh2004":
            return [
                f"hlh2004_fever_temperature_c = {self.hlh2004_fever_temperature_c:g} "
                "(fever temperature used when no fever finding is given; primary wording not verified, docs/clinical/criteria.md §2)"
            ]
        age = (f"adult_age_years = {self.adult_age_years:g} (age boundary of the population check; the paper's "
               "inclusion age was not retrieved, docs/clinical/criteria.md §{})")
        if instrument_id == "mh_score":
            return [f"mh_score_cutoff = {self.mh_score_cutoff:g} (cut-off not verified in the primary paper, docs/clinical/criteria.md §5)",
                    age.format(5)]
        if instrument_id == "parodi2009":
            return [age.format(7)]
        if instrument_id == "ferritin_esr":
            op = ">=" if self.ferritin_esr_cutoff_inclusive else ">"
            return [
                f"ferritin_esr_direction = '{op} 21.5' (direction at the cut-off not verified, docs/clinical/criteria.md §6)",
                "ferritin_esr_esr_zero = indeterminate (ESR 0 mm/h makes the ratio undefined; not addressed by the paper)",
            ]
        return []


DEFAULT = Settings()
