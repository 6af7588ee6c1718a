"""The advice an entry gets at once: the most urgent tier any of its parts reaches.

Pure: ``advise(entry)`` reads only the entry and the rules in ``tiers.toml`` (loaded once).
The advice names what led to it and its sources; it is never a diagnosis.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .signs import SIGN_IDS

TIERS = ("emergency", "call_team", "next_visit")
NO_TIER = "keep_watching"


@dataclass(frozen=True)
class SignRule:
    tier: str
    sources: tuple[str, ...]
    verified: bool


@dataclass(frozen=True)
class TierRules:
    signs: dict[str, SignRule]
    fever_c: float
    fever_tier: str
    fever_sources: tuple[str, ...]
    fever_verified: bool
    accepted_c: tuple[float, float]


def _check(rules: TierRules) -> TierRules:
    missing = set(SIGN_IDS) - set(rules.signs)
    extra = set(rules.signs) - set(SIGN_IDS)
    bad = {k: r.tier for k, r in rules.signs.items() if r.tier not in TIERS}
    if missing or extra or bad or rules.fever_tier not in TIERS:
        raise ValueError(f"tiers.toml: signs missing {sorted(missing)}, unknown {sorted(extra)}, bad tiers {bad}")
    lo, hi = rules.accepted_c
    if not lo < rules.fever_c < hi:
        raise ValueError("tiers.toml: fever_c must lie inside accepted_c")
    return rules


def parse_rules(data: dict) -> TierRules:
    t = data["temperature"]
    signs = {k: SignRule(v["tier"], tuple(v["sources"]), bool(v["verified"])) for k, v in data["signs"].items()}
    return _check(TierRules(signs, float(t["fever_c"]), t["fever_tier"], tuple(t["fever_sources"]),
                            bool(t["fever_verified"]), (float(t["accepted_c"][0]), float(t["accepted_c"][1]))))


@lru_cache(maxsize=1)
def rules() -> TierRules:
    return parse_rules(tomllib.loads(resources.files(__package__).joinpath("tiers.toml").read_text("utf-8")))


@dataclass(frozen=True)
class Advice:
    tier: str
    """emergency | call_team | next_visit | keep_watching"""
    because: tuple[str, ...]
    """What in the entry led to the tier: sign ids, or ``fever`` (the temperature reached fever_c)."""
    sources: tuple[str, ...]
    verified: bool
    """False when any rule behind the tier lacks a source that supports it (shown as UNVERIFIED)."""


def advise(signs: frozenset[str] | set[str], temperature_c: float | None, r: TierRules | None = None) -> Advice:
    """The most urgent tier reached by the ticked signs and the temperature (in °C, already converted)."""
    r = r or rules()
    hits: list[tuple[str, str, tuple[str, ...], bool]] = [
        (s, r.signs[s].tier, r.signs[s].sources, r.signs[s].verified) for s in SIGN_IDS if s in signs]
    if temperature_c is not None and temperature_c >= r.fever_c:
        hits.append(("fever", r.fever_tier, r.fever_sources, r.fever_verified))
    for tier in TIERS:
        at = [h for h in hits if h[1] == tier]
        if at:
            sources = tuple(dict.fromkeys(s for h in at for s in h[2]))
            return Advice(tier, tuple(h[0] for h in at), sources, all(h[3] for h in at))
    return Advice(NO_TIER, (), (), True)
