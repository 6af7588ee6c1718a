"""Evaluation points (Arrow) -> snapshot batch -> every instrument, trend and alert rule.

One function, :func:`evaluate_points`, used unchanged by DuckDB (record batches of a
streaming result) and by Spark (``mapInArrow``). It only translates columns; the
decisions are taken by ``maswatch.instruments.evaluate_all``, ``maswatch.trends.signals``
and ``maswatch.alerts.alert_levels`` — the functions ``maswatch evaluate``/``assess`` use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import alerts, trends
from ..batch import CONTEXTS, QUANTITY_IDS, SnapshotBatch, tri_from_optional
from ..instruments import INSTRUMENTS, evaluate_all
from ..settings import DEFAULT, Settings
from .columns import floats, integers
from .points import INPUT_IDS, PRELIMINARY_CODE, code_col, ref_col, value_col

US_PER_YEAR = 86_400_000_000 * 365.25
"""Age at t = (t - birth date) in days / 365.25 (docs/evaluation-points.md §4)."""
SCORED = tuple(i for i, m in INSTRUMENTS.items() if m.SPEC.scored)
EXTRAS = {
    "hlh2004": ("criteria_met", "criteria_possible"),
    "hscore": ("probability", "probability_min", "probability_max"),
    "ferritin_esr": ("ratio", "ratio_min", "ratio_max"),
}
"""Instrument extras carried into the screening output (cut-offs are constants, not data)."""


@dataclass(frozen=True)
class Rules:
    """Everything that decides: settings of the instruments and the trend configuration.

    The rule functions themselves are the core ones; this only carries their configuration,
    so that both engines evaluate with the same one.
    """

    settings: Settings = DEFAULT
    trend_config: trends.TrendConfig = trends.DEFAULT_TRENDS
    refs: tuple = field(default=())

    def __post_init__(self):
        if not self.refs:
            object.__setattr__(self, "refs", tuple(trends.reference_columns(self.trend_config)))


def verdict_col(iid: str) -> str:
    return f"{iid}__verdict"


def input_schema(refs: Sequence) -> pa.Schema:
    fields = [
        pa.field("patient_id", pa.string()),
        pa.field("t_us", pa.int64()),
        pa.field("birth_us", pa.int64()),
        pa.field("context", pa.string()),
    ]
    for a in INPUT_IDS:
        fields += [pa.field(value_col(a), pa.float64()), pa.field(code_col(a), pa.int8())]
    fields += [pa.field(ref_col(r.name), pa.float64()) for r in refs]
    return pa.schema(fields)


def output_schema(refs: Sequence) -> pa.Schema:
    """Result columns: the point (for evidence) and every verdict, score, signal and the level."""
    fields = [
        pa.field("patient_id", pa.string()),
        pa.field("time", pa.timestamp("us", tz="UTC")),
        pa.field("age_years", pa.float64()),
        pa.field("context", pa.string()),
        pa.field("preliminary", pa.bool_()),
    ]
    for a in INPUT_IDS:
        fields += [pa.field(value_col(a), pa.float64()), pa.field(code_col(a), pa.int8())]
    fields += [pa.field(ref_col(r.name), pa.float64()) for r in refs]
    for iid in INSTRUMENTS:
        fields += [pa.field(verdict_col(iid), pa.int8()), pa.field(f"{iid}__applicable", pa.int8())]
        if iid in SCORED:
            fields += [pa.field(f"{iid}__score_min", pa.float64()), pa.field(f"{iid}__score_max", pa.float64())]
        for x in EXTRAS.get(iid, ()):
            fields.append(pa.field(f"{iid}__{x}", pa.float64()))
    fields += [pa.field(f"signal__{s}", pa.int8()) for s in trends.SIGNAL_IDS]
    fields.append(pa.field("alert_level", pa.int8()))
    return pa.schema(fields)


def snapshot_batch(rb: pa.RecordBatch | pa.Table) -> tuple[SnapshotBatch, dict]:
    """Translate evaluation-point columns into a ``SnapshotBatch`` (and the per-row extras)."""
    n = rb.num_rows
    labs, comps, findings = {}, {}, {}
    prelim = np.zeros(n, dtype=bool)
    for a in INPUT_IDS:
        v = floats(rb.column(value_col(a)))
        code = integers(rb.column(code_col(a)), 0, np.int8)  # comparator + 8 if preliminary (0..12)
        prelim |= code >= PRELIMINARY_CODE
        comp = code & (PRELIMINARY_CODE - 1)
        if a in QUANTITY_IDS:
            labs[a] = v
            comps[a] = comp
        else:
            findings[a] = tri_from_optional(v)
    t_us = integers(rb.column("t_us"), 0)
    birth = floats(rb.column("birth_us"))
    with np.errstate(invalid="ignore"):
        age = (t_us.astype(np.float64) - birth) / US_PER_YEAR
    # an age outside 0..130 (birth after the result, or a data error) is unknown, not guessed
    age = np.where((age >= 0) & (age <= 130), age, np.nan)
    ctx_names = rb.column("context").cast(pa.string()).fill_null("unknown")
    ctx = pc.index_in(ctx_names, value_set=pa.array(CONTEXTS)).fill_null(0).to_numpy(zero_copy_only=False)
    ctx = ctx.astype(np.int8)
    batch = SnapshotBatch.from_columns(
        n, labs=labs, comparators=comps, findings=findings, age_years=age, context=ctx
    )
    return batch, {"t_us": t_us, "age": age, "ctx_names": ctx_names, "prelim": prelim}


def evaluate_results(rb: pa.RecordBatch | pa.Table, rules: Rules = Rules()) -> pa.RecordBatch:
    """The decisions for each point: age, preliminary flag, every verdict, score, signal and
    the alert level (the columns ``evaluate_points`` adds to the point)."""
    if isinstance(rb, pa.Table):
        rb = rb.combine_chunks().to_batches()[0] if rb.num_rows else pa.RecordBatch.from_pylist([], schema=rb.schema)
    batch, x = snapshot_batch(rb)
    results = evaluate_all(batch, rules.settings)
    reference = {r.name: floats(rb.column(ref_col(r.name))) for r in rules.refs}
    sig = trends.signals(batch, reference, rules.trend_config)
    level = alerts.alert_levels(results, sig, batch)
    cols = {
        "age_years": pa.array(x["age"], pa.float64(), from_pandas=True),
        "context": x["ctx_names"],
        "preliminary": pa.array(x["prelim"]),
    }
    for iid, res in results.items():
        cols[verdict_col(iid)] = pa.array(res.verdict.astype(np.int8, copy=False))
        cols[f"{iid}__applicable"] = pa.array(res.applicable.astype(np.int8, copy=False))
        if iid in SCORED:
            cols[f"{iid}__score_min"] = pa.array(res.score_min.astype(np.float64, copy=False))
            cols[f"{iid}__score_max"] = pa.array(res.score_max.astype(np.float64, copy=False))
        for e in EXTRAS.get(iid, ()):
            cols[f"{iid}__{e}"] = pa.array(np.asarray(res.extras[e], dtype=np.float64))
    for s in trends.SIGNAL_IDS:
        cols[f"signal__{s}"] = pa.array(sig[s].astype(np.int8, copy=False))
    cols["alert_level"] = pa.array(level.astype(np.int8, copy=False))
    return pa.RecordBatch.from_pydict(cols)


def combine(rb: pa.RecordBatch, decided: pa.RecordBatch, rules: Rules) -> pa.RecordBatch:
    """Point columns + decision columns -> one ``output_schema`` batch."""
    cols = {
        "patient_id": rb.column("patient_id"),
        "time": rb.column("t_us").cast(pa.int64()).cast(pa.timestamp("us", tz="UTC")),
    }
    for a in INPUT_IDS:
        cols[value_col(a)] = rb.column(value_col(a))
        cols[code_col(a)] = rb.column(code_col(a))
    for r in rules.refs:
        cols[ref_col(r.name)] = rb.column(ref_col(r.name))
    schema = output_schema(rules.refs)
    return pa.RecordBatch.from_arrays(
        [(cols[f.name] if f.name in cols else decided.column(f.name)).cast(f.type) for f in schema], schema=schema)


def evaluate_points(rb: pa.RecordBatch | pa.Table, rules: Rules = Rules()) -> pa.RecordBatch:
    """Evaluation points in (``points.point_columns``), results out (``output_schema``)."""
    if isinstance(rb, pa.Table):
        rb = rb.combine_chunks().to_batches()[0] if rb.num_rows else pa.RecordBatch.from_pylist([], schema=rb.schema)
    return combine(rb, evaluate_results(rb, rules), rules)


def snapshot_dict(row: dict) -> dict:
    """The snapshot JSON (``maswatch evaluate`` contract) equivalent to one point/result row.

    Used to check that ``screen`` and ``evaluate`` agree; canonical units throughout.
    """
    from .. import analytes
    from ..batch import COMPARATORS

    labs, findings = {}, {}
    for a in INPUT_IDS:
        v = row.get(value_col(a))
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if a in QUANTITY_IDS:
            m = {"value": float(v), "unit": analytes.get(a).canonical_unit}
            comp = COMPARATORS[int(row.get(code_col(a)) or 0) % PRELIMINARY_CODE]
            if comp:
                m["comparator"] = comp
            (findings if a == "temperature" else labs)[a] = m
        elif v in (0.0, 1.0):
            findings[a] = bool(v == 1.0)
    patient: dict = {"context": row.get("context") or "unknown"}
    age = row.get("age_years")
    if age is not None and not (isinstance(age, float) and np.isnan(age)):
        patient["age_years"] = float(age)
    return {"patient": patient, "findings": findings, "labs": labs}


__all__ = ["Rules", "combine", "evaluate_points", "evaluate_results", "input_schema", "output_schema",
           "snapshot_batch", "snapshot_dict", "verdict_col"]
