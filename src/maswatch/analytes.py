"""The analyte registry: every laboratory or clinical quantity, its codes and its units.

The registry is data (``data/analytes.toml``); this module loads it and converts values
to canonical units. Nothing downstream ever sees a non-canonical unit. A unit is never
guessed: an unknown, missing or refused unit, or a value implausible for the analyte
in that unit, raises :class:`UnitError` naming the analyte, value, unit and accepted
units. Facts: ``docs/clinical/criteria.md`` §15; plausibility bounds and the likely-slip
hint: ``docs/clinical/plausibility.md`` §1-§3.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

from .errors import UnitError

SIGNIFICANT_DIGITS = 12  # converted values are rounded so that 3.6 g/L is 360 mg/dL exactly


_UNIT_CHARS = str.maketrans({"µ": "u", "μ": "u", "×": "x", "⁹": "^9", "³": "^3", "⁶": "^6", "·": ".", "−": "-"})


def fold_unit(spelling: str) -> str:
    """The form in which unit spellings are compared: no spaces, case-folded, micro as 'u',
    '×10⁹' as 'x10^9' (typographic variants only; no spelling is ever reinterpreted)."""
    return "".join(spelling.split()).translate(_UNIT_CHARS).replace("mcg", "ug").casefold()


@dataclass(frozen=True)
class Conversion:
    """canonical = (value - subtract) * multiply / divide, then rounded."""

    subtract: float = 0.0
    multiply: float = 1.0
    divide: float = 1.0

    @property
    def is_identity(self) -> bool:
        return self.subtract == 0 and self.multiply == 1 and self.divide == 1

    def apply(self, values):
        """Convert a float or an array; NaN stays NaN."""
        if self.is_identity:
            return values
        out = convert(values, self.subtract, self.multiply, self.divide)
        return float(out) if np.ndim(out) == 0 else out


with np.errstate(over="ignore"):
    _POW10 = np.power(10.0, np.arange(400))
"""10**k as ``np.power(10.0, k)`` gives it (inf above 308): looked up, not recomputed per value.
|k| stays below 400 for every double (subnormals reach k = 11 + 324)."""


def round_significant(values, digits: int = SIGNIFICANT_DIGITS):
    """Round to ``digits`` significant digits (vectorised), removing binary noise of a conversion."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mag = np.where((v == 0) | ~np.isfinite(v), 0.0, np.floor(np.log10(np.abs(v))))
        exponent = (digits - 1 - mag).astype(np.int64)
        # Scale by an exact power of ten, round, and scale back by the same power: the last
        # step divides an integer-valued double by 10**k, which is correctly rounded.
        pos = exponent >= 0
        p = _POW10.take(np.abs(exponent), mode="clip")
        rounded = np.where(pos, np.round(v * p) / p, np.round(v / p) * p)
    # Far outside any lab range the scaling overflows: keep the value as it was.
    return np.where(np.isfinite(v) & np.isfinite(rounded), rounded, v)


def convert(values, subtract, multiply, divide):
    """canonical = (value - subtract) * multiply / divide, rounded (:func:`round_significant`).

    The factors may be arrays (one conversion per value, NumPy broadcasting): the screen
    converts a stream of mixed units at once with the same operations as ``Conversion.apply``."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = (np.asarray(values, dtype=np.float64) - subtract) * multiply / divide
    return round_significant(out)


@dataclass(frozen=True)
class Analyte:
    id: str
    label: str
    canonical_unit: str
    loinc: tuple[str, ...]
    omop_concept_ids: tuple[int, ...]
    mimic_itemids: tuple[int, ...]
    bounds: tuple[float, float]
    """Lowest and highest values laboratories report (canonical unit); outside them: refused."""
    decimals: int
    units: dict[str, Conversion] = field(repr=False)
    refused: dict[str, str] = field(repr=False, default_factory=dict)
    zero_reported: bool = False
    """A result of exactly 0 is real (counts in aplasia); non-zero values below the bounds are not."""
    typical: tuple[float, float] | None = None
    """Values commonly seen in patients assessed for MAS: names a likely unit slip."""

    @property
    def plausible(self) -> tuple[float, float]:
        """The range a value may take, over which rules reason when it is missing or censored."""
        lo, hi = self.bounds
        return (0.0 if self.zero_reported else lo), hi

    @property
    def accepted_units(self) -> list[str]:
        return list(self.units)

    def conversion(self, unit: str | None, *, field_path: str | None = None, value=None) -> Conversion:
        """The conversion for a unit spelling, or a UnitError that says what is accepted."""
        where = field_path or self.id
        accepted = ", ".join(self.accepted_units)
        if unit is None or (isinstance(unit, str) and not unit.strip()):
            raise UnitError(
                where,
                f"{self.label} value {value!r} has no unit; a unit is never assumed. "
                f"Accepted units: {accepted}",
            )
        if not isinstance(unit, str):
            raise UnitError(where, f"{self.label} unit must be a string, got {unit!r}")
        folded = fold_unit(unit)
        conv = _folded_units(self.id).get(folded)
        if conv is not None:
            return conv
        reason = _folded_refused(self.id).get(folded)
        if reason is not None:
            raise UnitError(where, f"{self.label} value {value!r} in unit {unit!r} is refused: {reason}")
        raise UnitError(
            where,
            f"{self.label} value {value!r} has unit {unit!r}, which is not an accepted unit for "
            f"{self.label}. Accepted units: {accepted}",
        )

    def to_canonical(self, value: float, unit: str | None, *, field_path: str | None = None) -> float:
        """Convert one value, checking that it is a finite number and plausible."""
        where = field_path or self.id
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnitError(where, f"{self.label} value must be a number, got {value!r}")
        if not math.isfinite(value):
            raise UnitError(where, f"{self.label} value must be finite, got {value!r}")
        conv = self.conversion(unit, field_path=where, value=value)
        canonical = float(conv.apply(float(value)))
        self.check_plausible(canonical, value=value, unit=unit, field_path=where)
        return canonical

    def check_plausible(self, canonical: float, *, value=None, unit=None, field_path=None) -> None:
        """Refuse a value outside the reported bounds, naming the likely unit slip."""
        if bool(self.plausible_mask(np.float64(canonical))):
            return
        raise UnitError(field_path or self.id, self.implausible_message(canonical, value=value, unit=unit))

    def implausible_message(self, canonical: float, *, value=None, unit=None) -> str:
        """Why ``canonical`` (= ``value`` in ``unit``) is refused, and which slip it likely is."""
        lo, hi = self.bounds
        cu = self.canonical_unit
        if value is None or unit is None:
            value, unit = canonical, cu
        shown = f"{self.label} {_num(value)} {unit}"
        if fold_unit(unit) != fold_unit(cu):
            shown += f" (= {_num(canonical)} {cu})"
        if canonical < lo:
            side = f"below any reported value (lowest {_num(lo)} {cu}{', or exactly 0' if self.zero_reported else ''}"
        elif canonical > hi:
            side = f"above any reported value (highest {_num(hi)} {cu}"
        else:
            side = f"not a reportable value (reported values: {_num(lo)}-{_num(hi)} {cu}"
        msg = f"{shown} is implausible: {side}; docs/clinical/plausibility.md §1)"
        hints = self.slip_hints(value, unit)
        msg += ("; did you mean " + " or ".join(hints) + "?") if hints else "."
        return msg + f" Accepted units: {', '.join(self.accepted_units)}"

    def slip_hints(self, value, unit: str) -> list[str]:
        """Readings of ``value`` in another accepted unit that would be typical, as
        "4 g/L = 400 mg/dL" (the alternative, then the same amount in the unit entered)."""
        try:
            entered = self.conversion(unit, value=value)
            v = float(value)
        except (UnitError, TypeError, ValueError):
            return []
        if self.typical is None or not math.isfinite(v):
            return []
        lo, hi = self.typical
        out = []
        for spelling, conv in _unit_groups(self.id):
            if conv == entered:
                continue
            alt = float(conv.apply(v))
            if lo <= alt <= hi and self.is_plausible(alt):
                as_entered = alt * entered.divide / entered.multiply + entered.subtract
                out.append(f"{_num(v)} {spelling} = {_num(as_entered)} {unit}")
        return out

    def is_plausible(self, canonical: float) -> bool:
        return bool(self.plausible_mask(np.float64(canonical)))

    def censored_leaves_nothing(self, canonical, comparator_codes):
        """Where a censored result allows no possible value ('<0' platelets); a censored
        result at a bound ('<0.5' ferritin) is read at that bound (``batch.interval_from_values``).

        Comparator codes as in ``batch.COMPARATORS`` (1 '<', 4 '>'); works on scalars and arrays.
        """
        v, c = np.asarray(canonical, dtype=np.float64), np.asarray(comparator_codes)
        lo, hi = self.plausible
        return ((c == 1) & ((v < lo) | (v <= 0))) | ((c == 4) & (v > hi))

    def plausible_mask(self, canonical: np.ndarray) -> np.ndarray:
        """True where a canonical value is inside the reported bounds (or 0 where zero_reported).
        NaN is False. The screen's SQL twin: ``sources.normalised._plausible_sql``."""
        lo, hi = self.bounds
        inside = (canonical >= lo) & (canonical <= hi)
        return (inside | (canonical == 0)) if self.zero_reported else inside


def _num(x) -> str:
    """A number as a clinician reads it: 3 significant digits but at least one decimal, the
    integer part kept whole, no exponent, no trailing zeros (0.0316, 2.82, 38.3, 101.3, 400, 150000)."""
    x = float(x)
    if not math.isfinite(x):
        return repr(x)
    if x == 0:
        return "0"
    decimals = max(1, 2 - math.floor(math.log10(abs(x))))
    return np.format_float_positional(round(x, decimals), trim="-")


def _conversion_from(spec: dict) -> Conversion:
    unknown = set(spec) - {"subtract", "multiply", "divide"}
    if unknown:
        raise ValueError(f"unknown conversion keys {sorted(unknown)}")
    return Conversion(
        subtract=float(spec.get("subtract", 0)),
        multiply=float(spec.get("multiply", 1)),
        divide=float(spec.get("divide", 1)),
    )


@cache
def registry() -> dict[str, Analyte]:
    """All analytes by id, loaded once from the packaged TOML."""
    text = resources.files("maswatch").joinpath("data/analytes.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)["analytes"]
    out: dict[str, Analyte] = {}
    for aid, a in raw.items():
        units = {spelling: _conversion_from(spec) for spelling, spec in a["units"].items()}
        folded = [fold_unit(u) for u in units] + [fold_unit(u) for u in a.get("refused", {})]
        clashes = sorted({f for f in folded if folded.count(f) > 1})
        if clashes:
            raise ValueError(f"analyte {aid}: unit spellings collide after folding: {clashes}")
        if not units[a["canonical_unit"]].is_identity:
            raise ValueError(f"analyte {aid}: canonical unit must convert by identity")
        bounds = _range(aid, "plausible", a["plausible"])
        typical = _range(aid, "typical", a["typical"]) if "typical" in a else None
        if typical and not bounds[0] <= typical[0] < typical[1] <= bounds[1]:
            raise ValueError(f"analyte {aid}: typical {list(typical)} must lie inside plausible {list(bounds)}")
        out[aid] = Analyte(
            id=aid,
            label=a["label"],
            canonical_unit=a["canonical_unit"],
            loinc=tuple(a["loinc"]),
            omop_concept_ids=tuple(a["omop_concept_ids"]),
            mimic_itemids=tuple(a["mimic_itemids"]),
            bounds=bounds,
            decimals=int(a["decimals"]),
            units=units,
            refused=dict(a.get("refused", {})),
            zero_reported=bool(a.get("zero_reported", False)),
            typical=typical,
        )
    return out


def _range(aid: str, key: str, pair) -> tuple[float, float]:
    lo, hi = float(pair[0]), float(pair[1])
    if not lo < hi:
        raise ValueError(f"analyte {aid}: {key} must be [low, high] with low < high, got {pair}")
    return lo, hi


@cache
def _unit_groups(aid: str) -> list[tuple[str, Conversion]]:
    """One spelling per distinct conversion (the canonical unit's group named by it)."""
    a = registry()[aid]
    groups: dict[Conversion, str] = {}
    for spelling, conv in a.units.items():
        if spelling == a.canonical_unit or conv not in groups:
            groups[conv] = spelling
    return [(s, c) for c, s in groups.items()]


@cache
def _folded_units(aid: str) -> dict[str, Conversion]:
    return {fold_unit(u): c for u, c in registry()[aid].units.items()}


@cache
def _folded_refused(aid: str) -> dict[str, str]:
    return {fold_unit(u): r for u, r in registry()[aid].refused.items()}


def get(analyte_id: str) -> Analyte:
    try:
        return registry()[analyte_id]
    except KeyError:
        raise KeyError(f"unknown analyte {analyte_id!r}; known: {', '.join(registry())}") from None


@cache
def by_loinc() -> dict[str, str]:
    """LOINC code -> analyte id."""
    return {code: a.id for a in registry().values() for code in a.loinc}


@cache
def by_omop_concept() -> dict[int, str]:
    return {cid: a.id for a in registry().values() for cid in a.omop_concept_ids}


@cache
def by_mimic_itemid() -> dict[int, str]:
    return {iid: a.id for a in registry().values() for iid in a.mimic_itemids}


LAB_IDS = (
    "ferritin", "platelets", "wbc", "neutrophils", "hemoglobin", "ast", "alt", "ldh",
    "triglycerides", "fibrinogen", "esr", "crp", "scd25", "d_dimer", "il18", "cxcl9",
)
"""Lab keys of the snapshot contract, in display order."""
