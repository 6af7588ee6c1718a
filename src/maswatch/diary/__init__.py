"""The family symptom watch, pure part: what a family records at home, the advice each
entry gets (tier rules as reviewed data, ``tiers.toml``), the entry as timeline
observations reported by the family, and the family guide's text (message catalogues).

No I/O beyond reading the package's own data files, no clock of its own, no web or
database library (docs/family.md).
"""

from .entries import DiaryEntry, DiaryInputError, parse_entry, to_observations
from .signs import FAMILY_SIGN_LOOKBACK_HOURS, RED_FLAG_SIGNS, SIGN_IDS
from .tiers import Advice, advise

__all__ = ["Advice", "DiaryEntry", "DiaryInputError", "FAMILY_SIGN_LOOKBACK_HOURS", "RED_FLAG_SIGNS", "SIGN_IDS",
           "advise", "parse_entry", "to_observations"]
