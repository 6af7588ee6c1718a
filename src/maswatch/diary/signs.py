"""The home checklist: the signs a family can tick, as timeline ``symptom`` ids.

A ticked sign is recorded as ``{"symptom": id, "value": true, "reporter": "family"}``; an
unticked one is not recorded at all (a box left empty is not "absent": missing is never
normal). Which tier each sign belongs to is data (``tiers.toml``), with its source.
"""

from __future__ import annotations

SIGN_IDS = (
    "seizure",          # a fit / seizure
    "hard_to_wake",     # very sleepy, hard to wake (alertness)
    "confused",         # confused, not making sense
    "bleeding",         # bleeding that will not stop
    "breathing",        # breathing fast or hard
    "listless",         # more tired or listless than usual
    "not_eating",       # not eating or drinking (appetite)
    "bruising",         # new bruises or tiny red-purple spots
    "rash",             # a new rash
    "yellow_skin",      # yellow skin or eyes
    "other_worry",      # something else worries me (free text)
)

RED_FLAG_SIGNS = SIGN_IDS
"""Every checklist sign is a family-reported red flag for the care team (alerts.py
``family_red_flag``): the checklist holds only the signs the guide tells families to call about."""

FAMILY_SIGN_LOOKBACK_HOURS = 24.0
"""How long a family-reported sign keeps the ``family_red_flag`` reason active after it was
seen (ASSUMPTION, maswatch's own: a new entry renews it; docs/family.md)."""
