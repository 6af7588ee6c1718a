"""A batch of evaluation points as columns: what every instrument reads.

A bedside snapshot is a batch of one; a population screen hands thousands at a time.
Labs are :class:`~maswatch.logic.Interval` columns in canonical units; findings and
patient flags are tri-state int8 columns; ``context`` is an int8 code. The batch
is the only input an instrument sees, so there is one implementation of each rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import analytes
from .logic import TRI, UNKNOWN, Interval

CONTEXTS = ("unknown", "sjia", "aosd", "sle", "other_rheumatic", "none")
"""Clinical context codes; index = int8 code in a batch."""
CONTEXT_TEXT = {"sjia": "sJIA", "aosd": "AOSD", "sle": "SLE", "other_rheumatic": "other rheumatic disease",
                "none": "no rheumatic disease", "unknown": "disease not recorded"}
"""Each context as a clinician writes it (every text shown to a user: never the code)."""

FINDING_IDS = (
    "fever", "hepatomegaly", "splenomegaly", "cns_involvement", "hemorrhage",
    "active_arthritis", "marrow_hemophagocytosis", "tissue_hemophagocytosis", "nk_activity_low",
)
PATIENT_FLAGS = ("known_immunosuppression", "hlh_molecular_diagnosis", "malignancy")
QUANTITY_IDS = analytes.LAB_IDS + ("temperature",)
AGE_RANGE = (0.0, 130.0)

COMPARATORS = ("", "<", "<=", ">=", ">")
"""Comparator codes (index) for censored results; "" = exact value."""


def comparator_code(symbol: str | None) -> int:
    return COMPARATORS.index(symbol or "")


def interval_from_values(
    values, plausible: tuple[float, float], comparators=None
) -> Interval:
    """Build an interval column from canonical values (NaN = missing) and comparator codes.

    ``>v`` becomes (v, plausible max], ``>=v`` [v, max], ``<v`` [min, v), ``<=v`` [min, v];
    an open bound is the next representable double, so comparisons stay exact. ``<min``
    is read as [min, min] and ``>max`` as [max, max] (a lower reporting limit at the bound).
    """
    v = np.asarray(values, dtype=np.float64)
    pmin, pmax = plausible
    present = ~np.isnan(v)
    lo = np.where(present, v, pmin)
    hi = np.where(present, v, pmax)
    if comparators is not None:
        # only censored results change (few rows: indexing them beats whole-column passes)
        c = np.asarray(comparators, dtype=np.int8)
        rows = np.flatnonzero((c != 0) & present)
        if rows.size:
            cr, vr = c[rows], v[rows]
            lo[rows] = np.where(cr == 4, np.nextafter(vr, np.inf), np.where((cr == 1) | (cr == 2), pmin, vr))
            hi[rows] = np.where(cr == 1, np.nextafter(vr, -np.inf), np.where((cr == 3) | (cr == 4), pmax, vr))
            # a censored result at a bound of the range ('<0.5' ferritin) is read at that bound
            lo[rows] = np.minimum(lo[rows], pmax)
            hi[rows] = np.maximum(hi[rows], pmin)
    return Interval(lo=lo, hi=hi, present=present)


def tri_from_optional(values) -> np.ndarray:
    """[True, False, None] (or 1.0/0.0/NaN) -> tri-state int8 [YES, NO, UNKNOWN]."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        v = values
    else:
        v = np.array([np.nan if x is None else float(x) for x in values], dtype=np.float64)
    return np.where(np.isnan(v), UNKNOWN, (np.nan_to_num(v) * 2).astype(TRI)).astype(TRI, copy=False)


@dataclass
class SnapshotBatch:
    n: int
    quantities: dict[str, Interval]
    findings: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]
    age: Interval
    context: np.ndarray
    given: list[dict] | None = field(default=None, repr=False)
    """Per row, the inputs as given (for evidence); None for batches built from columns."""

    def lab(self, analyte_id: str) -> Interval:
        return self.quantities[analyte_id]

    def finding(self, name: str) -> np.ndarray:
        return self.findings[name]

    def flag(self, name: str) -> np.ndarray:
        return self.flags[name]

    @classmethod
    def from_columns(
        cls,
        n: int,
        *,
        labs: dict[str, np.ndarray] | None = None,
        comparators: dict[str, np.ndarray] | None = None,
        findings: dict[str, np.ndarray] | None = None,
        flags: dict[str, np.ndarray] | None = None,
        age_years: np.ndarray | None = None,
        context: np.ndarray | None = None,
        given: list[dict] | None = None,
    ) -> "SnapshotBatch":
        """Vectorised constructor: canonical lab values with NaN for missing, findings and
        flags as tri-state int8 (or optional booleans), context as int8 codes or names."""
        labs = labs or {}
        comparators = comparators or {}
        unknown = set(labs) - set(QUANTITY_IDS)
        if unknown:
            raise KeyError(f"unknown quantities {sorted(unknown)}")
        nan = np.full(n, np.nan)
        quantities = {}
        for qid in QUANTITY_IDS:
            a = analytes.get(qid)
            quantities[qid] = interval_from_values(labs.get(qid, nan), a.plausible, comparators.get(qid))
        unknown_tri = np.full(n, UNKNOWN, dtype=TRI)

        def tri(col):
            if col is None:
                return unknown_tri
            col = np.asarray(col)
            return col.astype(TRI) if col.dtype == TRI else tri_from_optional(col)

        findings = findings or {}
        flags = flags or {}
        bad = (set(findings) - set(FINDING_IDS)) | (set(flags) - set(PATIENT_FLAGS))
        if bad:
            raise KeyError(f"unknown findings/flags {sorted(bad)}")
        if context is None:
            ctx = np.zeros(n, dtype=np.int8)
        else:
            ctx = np.asarray(context)
            if ctx.dtype.kind in "US O".replace(" ", ""):
                ctx = np.array([CONTEXTS.index(c) for c in ctx], dtype=np.int8)
            ctx = ctx.astype(np.int8)
        return cls(
            n=n,
            quantities=quantities,
            findings={f: tri(findings.get(f)) for f in FINDING_IDS},
            flags={f: tri(flags.get(f)) for f in PATIENT_FLAGS},
            age=interval_from_values(nan if age_years is None else age_years, AGE_RANGE),
            context=ctx,
            given=given,
        )

    def row(self, i: int) -> "SnapshotBatch":
        """A batch of one (for scalar-vs-array checks)."""
        sl = slice(i, i + 1)
        iv = lambda x: Interval(x.lo[sl], x.hi[sl], x.present[sl])  # noqa: E731
        return SnapshotBatch(
            n=1,
            quantities={k: iv(v) for k, v in self.quantities.items()},
            findings={k: v[sl] for k, v in self.findings.items()},
            flags={k: v[sl] for k, v in self.flags.items()},
            age=iv(self.age),
            context=self.context[sl],
            given=None if self.given is None else self.given[sl],
        )
