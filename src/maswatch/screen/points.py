"""Evaluation points built by a data engine (docs/evaluation-points.md), as one SQL query.

The engine does joins and windows only; every clinical decision is taken afterwards by
the instrument, trend and alert functions on the resulting columns (``arrow_eval``).
The same query text (two small dialect differences) runs on DuckDB and on Spark SQL, so
both engines build identical points. No as-of join: per analyte, a
``last_value(... IGNORE NULLS)`` window over the patient's time-ordered points.

Steps (numbers refer to docs/evaluation-points.md):

1. valid observations: per patient and ``obs_id``, drop the observation if any version
   is ``entered-in-error``/``cancelled``; otherwise keep the ``amended``/``corrected``
   version if there is one, the last in source order among equals (``source_row`` when
   the source provides it). Weight and unknown analytes are not evaluation inputs.
   (DuckDB's NumPy path resolves the same rule on its sorted stream:
   ``points_np.resolve_versions``.)
2. pivot: one row per (patient, time) — the evaluation points — with, per input, the
   value at exactly that time (ties: greatest ``obs_id``) and, for trend references,
   the max/min of all values at that time.
3. windows: the latest value at or before t, kept when no older than its look-back
   window (both ends inclusive); trend references over ``[t - window, t)``.
4. context (latest rheumatic condition with onset at or before t) and birth date.

Output columns (one row per evaluation point, sorted by patient and time):
``patient_id``, ``t_us`` (µs since epoch, UTC), ``birth_us``, ``context``, per input
``v__<id>`` (canonical value, NULL = missing) and ``c__<id>`` (comparator code 0..4, +8 if
the value is preliminary), per trend reference ``r__<name>``.
"""

from __future__ import annotations

from typing import Literal, Sequence

from ..batch import FINDING_IDS, QUANTITY_IDS
from ..corrections import REMOVING as REMOVING_STATUSES, REPLACING as REPLACING_STATUSES
from ..timeline.model import RHEUMATIC_CONTEXTS  # condition codes that set the context (§4)
from ..lookback import DEFAULT_LOOKBACK, Lookback

Dialect = Literal["duckdb", "spark"]

INPUT_IDS: tuple[str, ...] = QUANTITY_IDS + FINDING_IDS
"""Every snapshot input an evaluation point carries: 16 labs, temperature, 9 findings."""
PRELIMINARY_CODE = 8
"""Added to the comparator code when the value used is preliminary (flagged in outputs)."""
US_PER_HOUR = 3_600_000_000
MIN_US = -(2**62)
"""Onset of a condition recorded without onset: counts from the start."""


def window_us(hours: float) -> int:
    """A look-back window in whole microseconds (the resolution of every engine's clock)."""
    return int(round(float(hours) * US_PER_HOUR))


def value_col(a: str) -> str:
    return f"v__{a}"


def code_col(a: str) -> str:
    return f"c__{a}"


def ref_col(name: str) -> str:
    return f"r__{name}"


def point_columns(refs: Sequence) -> list[str]:
    cols = ["patient_id", "t_us", "birth_us", "context"]
    for a in INPUT_IDS:
        cols += [value_col(a), code_col(a)]
    cols += [ref_col(r.name) for r in refs]
    return cols


def _lit(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def micros_sql(expr: str, dialect: Dialect) -> str:
    """Microseconds since the epoch (UTC) of a DATE/TIMESTAMP expression.

    Both engines run with their session time zone set to UTC, so a naive TIMESTAMP and a
    DATE are read as UTC. (DuckDB: a cast to TIMESTAMP, not TIMESTAMPTZ — the same instants,
    without a per-row time-zone calculation that cost ~15% of the screening scan.)
    """
    if dialect == "duckdb":
        return f"epoch_us(CAST({expr} AS TIMESTAMP))"
    return f"unix_micros(CAST({expr} AS TIMESTAMP))"


def _last(expr: str, dialect: Dialect) -> str:
    if dialect == "duckdb":
        return f"last_value({expr} IGNORE NULLS)"
    return f"last_value({expr}) IGNORE NULLS"


def points_sql(
    dialect: Dialect,
    *,
    lookback: Lookback = DEFAULT_LOOKBACK,
    refs: Sequence = (),
    source_order: str | None = "source_row",
    has_patients: bool = True,
    has_conditions: bool = True,
    valid_table: str | None = None,
) -> str:
    """The evaluation-points query over views ``obs``, ``patients`` and ``conditions``.

    ``source_order`` names the column giving the source row order used to pick the last
    of equal-rank versions of an observation; None falls back to (time, value, comparator),
    deterministic but not "source order" (say so when the source lacks row numbers).
    ``valid_table`` names an already materialised table of valid observations
    (``valid_sql``) instead of computing it inline.
    """
    refs = list(refs)
    for r in refs:
        if r.analyte not in QUANTITY_IDS or r.agg not in ("max", "min"):
            raise ValueError(f"reference column {r.name!r}: unsupported analyte/aggregate {r.analyte}/{r.agg}")
    valid = f"(SELECT * FROM {valid_table})" if valid_table else f"({valid_sql(dialect, source_order=source_order)})"
    pivot = []
    for a in INPUT_IDS:
        f = f"FILTER (WHERE analyte = '{a}')"
        pivot.append(f"max_by(value, obs_id) {f} AS x__{a}")
        pivot.append(f"max_by(code, obs_id) {f} AS k__{a}")
    extremes = sorted({(r.analyte, r.agg) for r in refs})
    for a, agg in extremes:
        pivot.append(f"{agg}(value) FILTER (WHERE analyte = '{a}') AS {agg}__{a}")
    win = []
    for a in INPUT_IDS:
        win.append(f"{_last(f'CASE WHEN x__{a} IS NOT NULL THEN t_us END', dialect)} OVER fw AS lt__{a}")
        win.append(f"{_last(f'x__{a}', dialect)} OVER fw AS lx__{a}")
        win.append(f"{_last(f'k__{a}', dialect)} OVER fw AS lk__{a}")
    for r in refs:
        w = window_us(r.window_hours)
        win.append(
            f"{r.agg}({r.agg}__{r.analyte}) OVER (PARTITION BY patient_id ORDER BY t_us "
            f"RANGE BETWEEN {w} PRECEDING AND 1 PRECEDING) AS {ref_col(r.name)}"
        )
    out = []
    for a in INPUT_IDS:
        w = window_us(lookback.window_hours(a))
        keep = f"w.t_us - lt__{a} <= {w}"
        out.append(f"CASE WHEN {keep} THEN lx__{a} END AS {value_col(a)}")
        out.append(f"CASE WHEN {keep} THEN lk__{a} END AS {code_col(a)}")
    out += [ref_col(r.name) for r in refs]
    if has_conditions:
        cond = (
            f"SELECT patient_id, {micros_sql(f'onset', dialect)} AS t_us, 0 AS kind, code FROM conditions "
            f"WHERE code IN ({_lit(RHEUMATIC_CONTEXTS)})"
        )
        ctx = f"""ctx AS (
  SELECT patient_id, t_us, context FROM (
    SELECT patient_id, t_us, kind,
      {_last('code', dialect)} OVER (PARTITION BY patient_id ORDER BY t_us, kind, code
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS context
    FROM (
      SELECT patient_id, t_us, 1 AS kind, CAST(NULL AS STRING) AS code FROM a
      UNION ALL
      SELECT patient_id, coalesce(t_us, {MIN_US}) AS t_us, kind, code FROM ({cond}) c0
    ) u
  ) q WHERE kind = 1
)"""
        ctx_join = "LEFT JOIN ctx ON ctx.patient_id = w.patient_id AND ctx.t_us = w.t_us"
        ctx_col = "ctx.context"
    else:
        ctx, ctx_join, ctx_col = "", "", "CAST(NULL AS STRING)"
    if has_patients:
        pat = f"pat AS (SELECT patient_id, max({micros_sql('birth_date', dialect)}) AS birth_us FROM patients GROUP BY patient_id)"
        pat_join = "LEFT JOIN pat ON pat.patient_id = w.patient_id"
        birth_col = "pat.birth_us"
    else:
        pat, pat_join, birth_col = "", "", "CAST(NULL AS BIGINT)"
    ctes = [
        f"v AS {valid}",
        "a AS (\n  SELECT patient_id, t_us,\n    " + ",\n    ".join(pivot) + "\n  FROM v GROUP BY patient_id, t_us\n)",
        "w AS (\n  SELECT patient_id, t_us,\n    " + ",\n    ".join(win) + "\n  FROM a\n"
        "  WINDOW fw AS (PARTITION BY patient_id ORDER BY t_us ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)\n)",
    ]
    ctes += [c for c in (ctx, pat) if c]
    string = "VARCHAR" if dialect == "duckdb" else "STRING"
    sql = (
        "WITH " + ",\n".join(ctes) + "\n"
        f"SELECT w.patient_id AS patient_id, w.t_us AS t_us, {birth_col} AS birth_us, {ctx_col} AS context,\n  "
        + ",\n  ".join(out)
        + f"\nFROM w {ctx_join} {pat_join}\nORDER BY patient_id, t_us"
    )
    return sql.replace("STRING", string)


TIE_WITHOUT_SOURCE_ORDER = "t_us DESC, value DESC, code DESC, analyte DESC"
"""Deterministic (not "source order") choice among equal-rank versions when a source has no row order."""


def versions_sql(dialect: Dialect, source_order: str | None, where: str = "", *, relation: str = "obs",
                 extra: str = "") -> str:
    """Every version of every input observation, with its rank for the correction rule.

    ``relation``: ``obs``, or ``obs_rows`` (its rows plus the defective ones, with ``reason``)
    when the caller counts the defective rows itself; ``extra``: more select items."""
    seq = source_order if source_order else "0"
    return f"""
      SELECT patient_id, {micros_sql('time', dialect)} AS t_us, obs_id, analyte, value,
        CAST(coalesce(comparator, 0) AS INT) + CASE WHEN status = 'preliminary' THEN {PRELIMINARY_CODE} ELSE 0 END AS code,
        CASE WHEN status IN ({_lit(REPLACING_STATUSES)}) THEN 1 ELSE 0 END AS rnk,
        CASE WHEN status IN ({_lit(REMOVING_STATUSES)}) THEN 1 ELSE 0 END AS removes,
        {seq} AS seq{extra}
      FROM {relation} WHERE analyte IN ({_lit(INPUT_IDS)}){where}"""


def _resolved_sql(versions: str, source_order: str | None) -> str:
    """docs/evaluation-points.md §1 on ``versions``: one row per kept observation.

    An observation is (patient_id, obs_id): the same id in two patients' records names
    two observations, as it does in two timelines given to ``assess``."""
    tie = "" if source_order else f", {TIE_WITHOUT_SOURCE_ORDER}"
    return f"""
  SELECT patient_id, t_us, obs_id, analyte, value, code FROM (
    SELECT patient_id, t_us, obs_id, analyte, value, code,
      max(removes) OVER (PARTITION BY patient_id, obs_id) AS removed,
      row_number() OVER (PARTITION BY patient_id, obs_id ORDER BY rnk DESC, seq DESC{tie}) AS rn
    FROM ({versions}
    ) o
  ) r
  WHERE removed = 0 AND rn = 1 AND value IS NOT NULL AND NOT isnan(value)"""


def valid_sql(dialect: Dialect, *, source_order: str | None = "source_row") -> str:
    """Valid observations (docs/evaluation-points.md §1) with the comparator/preliminary code."""
    return _resolved_sql(versions_sql(dialect, source_order), source_order)
