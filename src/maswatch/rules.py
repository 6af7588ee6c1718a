"""The clinical rules an assessment runs under, loaded once: instrument settings, look-back
windows, overdue intervals and trend thresholds (docs/settings.md).

One loader for every caller — ``maswatch evaluate`` / ``assess``, the monitor and the web
service — so the same file means the same thing everywhere. A :class:`Rules` is frozen
and carries a stable ``fingerprint`` (sha256 of the canonical JSON of every value), stored
with each assessment so a reader can tell which rules produced it.

The TOML form (``[clinical]`` of the service file, or a whole ``--config`` file)::

    ms_score_cutoff = "aosd"          # any key of maswatch.settings.Settings
    [lookback]                        # hours, by analyte or finding (maswatch.lookback)
    ferritin = 48
    [overdue]                         # hours, by analyte (maswatch.freshness)
    ferritin = 12
    [trends.rising_ferritin]          # any field of a trend rule (maswatch.trends)
    relative = 0.4

Pure: no I/O except :func:`read_toml`.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from . import analytes, freshness, trends
from .errors import InputError
from .lookback import DEFAULT_LOOKBACK, Lookback
from .settings import Settings

TABLES = ("lookback", "overdue", "trends")
"""Sub-tables of the clinical configuration besides the instrument settings."""


@dataclass(frozen=True)
class Rules:
    """Everything an assessment depends on besides the data."""

    settings: Settings = field(default_factory=Settings)
    lookback: Lookback = DEFAULT_LOOKBACK
    overdue: freshness.Freshness = freshness.DEFAULT_FRESHNESS
    trends: trends.TrendConfig = trends.DEFAULT_TRENDS

    def to_json(self) -> dict:
        return {
            "settings": self.settings.model_dump(mode="json"),
            "lookback_hours": dict(sorted(self.lookback.hours.items())),
            "overdue_hours": dict(sorted(self.overdue.overdue_hours.items())),
            "trends": {k: r.model_dump(mode="json") for k, r in sorted(self.trends.rules().items())},
        }

    @cached_property  # rules are built once and never changed (frozen): computed once per instance
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of every value: equal rules, equal fingerprint."""
        canon = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canon.encode("ascii")).hexdigest()

    def describe(self) -> list[str]:
        """One line per value that differs from the defaults, then the fingerprint."""
        base = Rules().to_json()
        mine = self.to_json()
        lines = []
        for group, values in mine.items():
            for key, value in values.items():
                if base[group].get(key) != value:
                    lines.append(f"{group}.{key} = {json.dumps(value, sort_keys=True)} "
                                 f"(default {json.dumps(base[group].get(key), sort_keys=True)})")
        return (lines or ["all defaults (docs/settings.md)"]) + [f"fingerprint {self.fingerprint[:16]}"]

    def assess(self, tl, at=None):
        """``timeline.assess`` under these rules (the one code path of ``maswatch assess``)."""
        from . import timeline

        return timeline.assess(tl, at, settings=self.settings, lookback=self.lookback,
                               trend_config=self.trends, overdue=self.overdue)


DEFAULT_RULES = Rules()


def _first_error(exc: ValidationError, where: str) -> InputError:
    err = exc.errors()[0]
    return InputError(".".join([where, *map(str, err["loc"])]), err["msg"])


def settings_from(values: Mapping[str, Any], where: str = "settings") -> Settings:
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise _first_error(exc, where) from None


def _hours(values: Any, where: str) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise InputError(where, "must be a table of KEY = HOURS")
    out = {}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"{where}.{k}", f"must be a number of hours, got {v!r}")
        out[str(k)] = float(v)
    return out


def lookback_from(overrides: Any, where: str = "lookback") -> Lookback:
    hours = _hours(overrides, where)
    try:
        return DEFAULT_LOOKBACK.with_overrides(hours)
    except (KeyError, ValueError) as exc:
        raise InputError(where, str(exc).strip('"')) from None


def overdue_from(overrides: Any, where: str = "overdue") -> freshness.Freshness:
    hours = _hours(overrides, where)
    try:
        return freshness.DEFAULT_FRESHNESS.with_overrides(hours, set(analytes.LAB_IDS))
    except (KeyError, ValueError) as exc:
        raise InputError(where, str(exc).strip('"')) from None


def trends_from(raw: Any, where: str = "trends") -> trends.TrendConfig:
    if not isinstance(raw, Mapping):
        raise InputError(where, "must be a table of trend rules")
    base = trends.DEFAULT_TRENDS.model_dump()
    for name, rule in raw.items():
        if not isinstance(rule, Mapping) or name not in base:
            raise InputError(f"{where}.{name}", f"unknown trend rule (known: {', '.join(base)})")
        base[name] = {**base[name], **rule}
    try:
        return trends.TrendConfig.model_validate(base)
    except ValidationError as exc:
        raise _first_error(exc, where) from None
    except ValueError as exc:
        raise InputError(where, str(exc)) from None


def build_rules(values: Mapping[str, Any] | None = None, *, where: str = "clinical") -> Rules:
    """Rules from one mapping: the settings keys plus optional ``lookback``/``overdue``/``trends`` tables.

    Raises :class:`InputError` naming the first bad key (``clinical.lookback.ferritin``).
    """
    values = dict(values or {})
    tables = {t: values.pop(t) for t in TABLES if t in values}
    return Rules(
        settings=settings_from(values, where),
        lookback=lookback_from(tables["lookback"], f"{where}.lookback") if "lookback" in tables else DEFAULT_LOOKBACK,
        overdue=overdue_from(tables["overdue"], f"{where}.overdue") if "overdue" in tables
        else freshness.DEFAULT_FRESHNESS,
        trends=trends_from(tables["trends"], f"{where}.trends") if "trends" in tables else trends.DEFAULT_TRENDS,
    )


def read_toml(path: str | Path, where: str = "--config") -> dict:
    """A TOML file as a dict; an unreadable or malformed file is an InputError naming ``where``."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(where, f"{path}: {getattr(exc, 'strerror', None) or exc}") from None


def load_rules(config: str | Path | None = None, *, settings: Mapping[str, Any] | None = None,
               lookback: Mapping[str, float] | None = None, overdue: Mapping[str, float] | None = None,
               trend_file: str | Path | None = None) -> Rules:
    """The CLI's form: a ``--config`` file, then command-line overrides on top of it.

    ``settings``/``lookback``/``overdue`` override single keys; ``trend_file`` is a TOML of
    trend rules (the ``--trend-config`` file) applied over the file's ``[trends]``.
    """
    values = read_toml(config) if config is not None else {}
    values.update(settings or {})
    for name, extra, where in (("lookback", lookback, "--lookback"), ("overdue", overdue, "--overdue")):
        if extra:
            base = values.get(name, {})
            if not isinstance(base, Mapping):
                raise InputError(f"--config.{name}", "must be a table of KEY = HOURS")
            # check the overrides on their own first, so an error names the option
            (lookback_from if name == "lookback" else overdue_from)(extra, where)
            values[name] = {**base, **extra}
    if trend_file is not None:
        raw = read_toml(trend_file, "--trend-config")
        trends_from(raw, "--trend-config")
        base = values.get("trends", {})
        values["trends"] = {**base, **{k: {**base.get(k, {}), **v} for k, v in raw.items()}}
    return build_rules(values, where="settings")
