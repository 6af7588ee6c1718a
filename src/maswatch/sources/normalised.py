"""The normalised observation table every source lands in, and unit normalisation in SQL.

Contract (docs/sources.md): ``obs(patient_id, time, obs_id, analyte, value, comparator,
status, ref_low, ref_high, source, source_code, source_unit, seq)`` with values in the
registry's canonical unit. Readers translate their format into a *staged* relation (the
same columns with the value as reported, the source's code columns ``code_a``/``code_b``
instead of ``analyte``, and ``unit``: the unit to convert from) and call
:func:`normalise`, which

1. resolves the few distinct ``(code_a, code_b, unit)`` keys in Python: codes through
   the registry, units with ``analytes.fold_unit`` and ``Analyte.conversion`` — one small
   lookup table, never a guess;
2. converts in SQL with the same arithmetic and 12-significant-digit rounding as
   ``Conversion.apply`` (bit-for-bit; tested against the Python conversion);
3. drops, and counts by (source, source_code, source_unit, reason), every row that
   cannot be used: unmapped code, missing/unknown/refused unit, missing value,
   implausible value, invalid time, comparator or status, missing patient.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import duckdb
import numpy as np
import pyarrow as pa

from .. import analytes
from ..batch import COMPARATORS, FINDING_IDS

OBS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("patient_id", "VARCHAR"), ("time", "TIMESTAMP"), ("obs_id", "VARCHAR"), ("analyte", "VARCHAR"),
    ("value", "DOUBLE"), ("comparator", "TINYINT"), ("status", "VARCHAR"), ("ref_low", "DOUBLE"),
    ("ref_high", "DOUBLE"), ("source", "VARCHAR"), ("source_code", "VARCHAR"), ("source_unit", "VARCHAR"),
    ("seq", "BIGINT"),
)
"""``seq`` (source order, ascending = later in the file) is an addition to the 12
contract columns: the correction rule needs "last in source order" (evaluation-points.md)."""

PATIENT_COLUMNS = (("patient_id", "VARCHAR"), ("birth_date", "DATE"), ("sex", "VARCHAR"))
CONDITION_COLUMNS = (("patient_id", "VARCHAR"), ("code", "VARCHAR"), ("onset", "TIMESTAMP"))
MEDICATION_COLUMNS = (
    ("patient_id", "VARCHAR"), ("drug", "VARCHAR"), ("start", "TIMESTAMP"), ("end", "TIMESTAMP"),
    ("dose_value", "DOUBLE"), ("dose_unit", "VARCHAR"), ("frequency_per_day", "DOUBLE"), ("route", "VARCHAR"),
)

STATUSES = ("registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown")
"""FHIR R4 ObservationStatus codes; a row with any other status is dropped ('invalid status')."""
_STATUS_LIST = ", ".join("'" + x + "'" for x in STATUSES)

WEIGHT = "weight"
# Body weight is not in the analyte registry (no rule reads it; dosing per kg does).
# 1 lb = 0.45359237 kg exactly (international yard and pound agreement, 1959).
WEIGHT_UNITS = {"kg": analytes.Conversion(), "g": analytes.Conversion(divide=1000.0),
                "[lb_av]": analytes.Conversion(multiply=0.45359237), "lb": analytes.Conversion(multiply=0.45359237)}
WEIGHT_PLAUSIBLE = (0.2, 700.0)  # kg; ASSUMPTION: outside it the unit is almost surely wrong

REASONS = (
    "unmapped code", "missing value", "missing unit", "unknown unit", "refused unit",
    "missing patient", "invalid time", "invalid comparator", "invalid status", "implausible value",
)
"""Why a row is dropped, in precedence order: a code that cannot be used, no value (a
result given as text has no unit either), a unit that cannot be used, then the row's other
defects. The code and unit reasons hold for every row of a (code, unit) key, so they are
counted per key at load; the rest are per row."""

KNOWN_IDS = tuple(analytes.registry()) + FINDING_IDS + (WEIGHT,)
"""Every value of ``obs.analyte``."""


def comparator_sql(col: str) -> str:
    """Comparator text -> TINYINT code (0 '' … 4 '>'); NULL for an unknown comparator."""
    whens = " ".join(f"WHEN {_lit(c)} THEN {i}" for i, c in enumerate(COMPARATORS) if c)
    # one trim per row, and none on the (usual) NULL: 12% of the screening scan otherwise
    return (f"(CASE WHEN {col} IS NULL THEN 0::TINYINT "
            f"ELSE (CASE trim({col}) WHEN '' THEN 0 WHEN '=' THEN 0 {whens} ELSE NULL END)::TINYINT END)")


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


_OFFSET_RE = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"


def time_sql(col: str, duck_type: str) -> str:
    """A source time column -> TIMESTAMP in UTC (microseconds).

    TIMESTAMPTZ and ISO strings with an offset are converted to UTC. A time without an
    offset (OMOP, MIMIC, naive Parquet/CSV) is taken as already UTC — documented in
    docs/sources.md; the engine compares times only within one patient's record.
    """
    t = duck_type.upper()
    # epoch_us of a TIMESTAMPTZ counts from 1970-01-01 UTC whatever the session time
    # zone, and is ~7x cheaper than timezone('UTC', ...) (no ICU call per row).
    if t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        return f"make_timestamp(epoch_us({col}))"
    if t.startswith("TIMESTAMP"):
        return f"CAST({col} AS TIMESTAMP)"
    if t == "DATE":
        return f"CAST({col} AS TIMESTAMP)"
    s = f"trim(CAST({col} AS VARCHAR))"
    return (f"(CASE WHEN regexp_matches({s}, '{_OFFSET_RE}') "
            f"THEN make_timestamp(epoch_us(TRY_CAST({s} AS TIMESTAMPTZ))) ELSE TRY_CAST({s} AS TIMESTAMP) END)")


def double_sql(col: str, duck_type: str) -> str:
    if duck_type.upper() == "BOOLEAN":
        return f"CAST({col} AS DOUBLE)"
    return f"TRY_CAST({col} AS DOUBLE)"


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """SQL macro ``_mw_pow10(k)``: the very doubles NumPy's ``np.power(10.0, k)`` gives.

    NumPy's power is not correctly rounded for some k (e.g. 10**284 is one ulp off) and
    DuckDB's ``pow`` differs there, so the table is taken from NumPy itself; k > 308 is
    +inf, as in NumPy."""
    table = ", ".join(f"{float(p):.17e}" for p in analytes._POW10[:309])  # k > 308: +inf below
    con.execute(f"CREATE OR REPLACE TEMP MACRO _mw_pow10(k) AS "
                f"coalesce(CAST([{table}] AS DOUBLE[])[CAST(k AS BIGINT) + 1], CAST('inf' AS DOUBLE))")


def round_significant_sql(x: str, digits: int = analytes.SIGNIFICANT_DIGITS) -> str:
    """SQL twin of ``analytes.round_significant`` (same steps, same IEEE operations).

    mag = floor(log10|x|); k = digits - 1 - mag; p = 10^|k| (NumPy's doubles, see
    :func:`register_functions`, which must have run on the connection);
    k >= 0: round_half_even(x * p) / p, else round_half_even(x / p) * p; a non-finite result keeps x.
    """
    mag = f"(CASE WHEN {x} = 0 OR NOT isfinite({x}) THEN 0 ELSE floor(log10(abs({x}))) END)"
    k = f"(CAST({digits - 1} AS DOUBLE) - {mag})"
    p = f"_mw_pow10(abs({k}))"
    r = f"(CASE WHEN {k} >= 0 THEN round_even({x} * {p}, 0) / {p} ELSE round_even({x} / {p}, 0) * {p} END)"
    # as in Python: far outside any lab range the scaling overflows and the value is kept
    return f"(CASE WHEN NOT isfinite({x}) THEN {x} WHEN NOT isfinite({r}) THEN {x} ELSE {r} END)"


UNIT_MAP_SCHEMA = pa.schema([
    ("a_key", pa.string()), ("b_key", pa.string()), ("unit_key", pa.string()), ("analyte", pa.string()),
    ("subtract", pa.float64()), ("multiply", pa.float64()), ("divide", pa.float64()), ("is_identity", pa.bool_()),
    ("value_low", pa.float64()), ("value_high", pa.float64()), ("zero_low", pa.float64()), ("zero_high", pa.float64()),
    ("is_binary", pa.bool_()), ("reason", pa.string()),
    ("key_id", pa.int32()), ("analyte_code", pa.int16()),
])


def _key(x: float) -> int:
    """Doubles -> integers in the same order (IEEE 754 bit trick)."""
    i = struct.unpack("<q", struct.pack("<d", x))[0]
    return i if i >= 0 else -(i & 0x7FFFFFFFFFFFFFFF)


def _unkey(i: int) -> float:
    return struct.unpack("<d", struct.pack("<q", i if i >= 0 else (-i) | -0x8000000000000000))[0]


def raw_bounds(conv: analytes.Conversion, lo: float, hi: float) -> tuple[float, float]:
    """The source-unit interval [v_lo, v_hi] of values whose canonical form is in [lo, hi].

    ``Conversion.apply`` (including its rounding) is monotone non-decreasing, so a
    binary search over the ordered doubles finds the exact ends: a row is plausible
    in SQL iff ``v_lo <= value <= v_hi``, the same decision as ``Analyte.check_plausible``
    on the converted value (tested at both ends), without converting in the filter."""
    def f(v: float) -> float:
        with np.errstate(all="ignore"):
            out = float(conv.apply(v))
            # Below ~1e-297 the rounding overflows to NaN (refused as implausible by both
            # paths, see _TINY); ordering those values by the unrounded result keeps the
            # search monotone.
            return out if math.isfinite(out) else float((np.float64(v) - conv.subtract) * conv.multiply / conv.divide)

    big = _key(1.7976931348623157e308)

    def first(pred) -> float:  # smallest double v with pred(v), pred monotone False..True
        a, b = -big, big
        while a < b:
            m = (a + b) // 2
            if pred(_unkey(m)):
                b = m
            else:
                a = m + 1
        return _unkey(a)

    def last(pred) -> float:  # largest double v with pred(v), pred monotone True..False
        a, b = -big, big
        while a < b:
            m = (a + b + 1) // 2
            if pred(_unkey(m)):
                a = m
            else:
                b = m - 1
        return _unkey(a)

    return first(lambda v: f(v) >= lo), last(lambda v: f(v) <= hi)


def unit_rule(analyte: str, unit: str | None) -> tuple[analytes.Conversion | None, tuple[float, float], bool, str | None]:
    """(conversion, reported bounds (``Analyte.bounds``), values must be 0/1, drop reason) for one pair."""
    missing = unit is None or not unit.strip()
    if analyte in FINDING_IDS:
        # A finding is a yes/no; a unit on it means the row is not what we think it is.
        return (analytes.Conversion(), (0.0, 1.0), True, None if missing else "unknown unit")
    if analyte == WEIGHT:
        if missing:
            return None, WEIGHT_PLAUSIBLE, False, "missing unit"
        folded = {analytes.fold_unit(u): c for u, c in WEIGHT_UNITS.items()}
        conv = folded.get(analytes.fold_unit(unit))
        return conv, WEIGHT_PLAUSIBLE, False, None if conv else "unknown unit"
    a = analytes.get(analyte)
    if missing:
        return None, a.bounds, False, "missing unit"
    folded = analytes.fold_unit(unit)
    conv = analytes._folded_units(analyte).get(folded)
    if conv is not None:
        return conv, a.bounds, False, None
    if folded in analytes._folded_refused(analyte):
        return None, a.bounds, False, "refused unit"
    return None, a.bounds, False, "unknown unit"


@lru_cache(maxsize=None)
def _rule(analyte: str, unit: str | None) -> dict:
    conv, (lo, hi), binary, reason = unit_rule(analyte, unit)
    c = conv or analytes.Conversion()
    v_lo, v_hi = raw_bounds(c, lo, hi) if reason is None and not c.is_identity else (lo, hi)
    # where a count of 0 is reported (Analyte.zero_reported), the source values that convert
    # to exactly 0 are accepted too: an interval of its own (empty otherwise)
    zero_ok = reason is None and analyte in analytes.registry() and analytes.get(analyte).zero_reported
    z_lo, z_hi = raw_bounds(c, 0.0, 0.0) if zero_ok else (math.inf, -math.inf)
    return {"analyte": analyte, "subtract": c.subtract, "multiply": c.multiply, "divide": c.divide,
            "is_identity": c.is_identity, "value_low": v_lo, "value_high": v_hi, "zero_low": z_lo,
            "zero_high": z_hi, "is_binary": binary, "reason": reason}


def unit_map_table(keys) -> pa.Table:
    """The lookup joined to the staged rows: one row per distinct (code_a, code_b, unit),
    with the analyte the reader mapped the codes to (None: 'unmapped code') and its rule."""
    rows = []
    for key_id, (code_a, code_b, unit, analyte) in enumerate(keys):
        # as found (NULL too): matched by IS NOT DISTINCT FROM
        key = {"a_key": code_a, "b_key": code_b, "unit_key": unit, "key_id": key_id,
               "analyte_code": None if analyte is None else KNOWN_IDS.index(analyte)}
        if analyte is None:
            rows.append({**key, "analyte": None, "subtract": 0.0, "multiply": 1.0, "divide": 1.0,
                         "is_identity": True, "value_low": None, "value_high": None, "zero_low": None,
                         "zero_high": None, "is_binary": False,
                         "reason": "unmapped code"})
        else:
            rows.append({**key, **_rule(analyte, unit)})
    return pa.Table.from_pylist(rows, schema=UNIT_MAP_SCHEMA)


def _convert_sql(x: str, m: str = "m") -> str:
    """The registry conversion of ``x`` with the factors of the joined unit-map row ``m``."""
    raw = f"((({x}) - {m}.subtract) * {m}.multiply) / {m}.divide"
    return f"(CASE WHEN {m}.is_identity THEN {x} ELSE {round_significant_sql(raw)} END)"


# |value - subtract| under which a conversion may round to NaN (numpy's 10**k overflows
# for k > 308, i.e. converted values below ~1e-297): only such rows are converted in
# the filter — the CASE keeps it off every other row — to drop them exactly as
# Analyte.check_plausible drops a NaN.
_TINY = 1e-250


def _plausible_sql(s: str = "s", m: str = "m") -> str:
    """Plausible, tested on the source value against the exact source-unit bounds (the SQL
    twin of ``Analyte.plausible_mask``: inside the reported bounds, or 0 where zero_reported)."""
    return (f"({s}.value BETWEEN {m}.value_low AND {m}.value_high OR {s}.value BETWEEN {m}.zero_low AND {m}.zero_high) "
            f"AND (NOT {m}.is_binary OR {s}.value IN (0.0, 1.0)) "
            f"AND (CASE WHEN {m}.is_identity OR abs({s}.value - {m}.subtract) >= {_TINY} THEN true "
            f"ELSE isfinite({_convert_sql(s + '.value', m)}) END)")


def _reason_sql(s: str = "s", m: str = "m") -> str:
    """Why a staged row is dropped (NULL = kept), in the order of ``REASONS``. The obs
    view keeps exactly the rows for which this is NULL (:func:`_keep_sql` is its negation)."""
    return f"""CASE
        WHEN {m}.analyte IS NULL THEN 'unmapped code'
        WHEN {_MISSING_VALUE.format(s=s)} THEN 'missing value'
        WHEN {m}.reason IS NOT NULL THEN {m}.reason
        ELSE {_row_reason_sql(s, m)} END"""


_MISSING_VALUE = "{s}.value IS NULL OR NOT isfinite({s}.value)"


def _row_checks(s: str, m: str) -> list[tuple[str, str]]:
    """(condition, reason): the row's own defects, for a usable code and unit, in order."""
    return [
        (_MISSING_VALUE.format(s=s), "missing value"),
        (f"{s}.patient_id IS NULL OR {s}.patient_id = ''", "missing patient"),
        (f"{s}.time IS NULL", "invalid time"),
        (f"{s}.comparator IS NULL", "invalid comparator"),
        (f"{s}.status IS NULL OR {s}.status NOT IN ({_STATUS_LIST})", "invalid status"),
        (f"NOT ({_plausible_sql(s, m)})", "implausible value"),
    ]


def _row_reason_sql(s: str = "s", m: str = "m") -> str:
    """The row's own defect (for a usable code and unit), NULL if none."""
    return "CASE " + " ".join(f"WHEN {c} THEN '{r}'" for c, r in _row_checks(s, m)) + " ELSE NULL END"


def _row_reason_code_sql(s: str = "s", m: str = "m") -> str:
    """:func:`_row_reason_sql` as its index in ``REASONS`` (TINYINT; NULL if none)."""
    return ("CAST(CASE " + " ".join(f"WHEN {c} THEN {REASONS.index(r)}" for c, r in _row_checks(s, m))
            + " ELSE NULL END AS TINYINT)")


def _keep_sql(s: str = "s", m: str = "m") -> str:
    """:func:`_reason_sql` IS NULL as a plain conjunction (``m`` holds usable pairs only)."""
    return (f"{s}.patient_id <> '' AND {s}.time IS NOT NULL AND isfinite({s}.value) "
            f"AND {s}.comparator IS NOT NULL AND {s}.status IN ({_STATUS_LIST}) AND {_plausible_sql(s, m)}")


@dataclass
class LoadedSource:
    """What :func:`maswatch.sources.load` registered in ``con``, with lazy counts."""

    kind: str
    path: str
    con: duckdb.DuckDBPyConnection = field(repr=False)
    checked_view: str
    extra_counts: dict = field(default_factory=dict)
    patient_ranges: list[str] = field(default_factory=list)
    """Boundaries of patient ranges the engine may screen one after another (``_files.patient_ranges``)."""
    defects: list[tuple] = field(default_factory=list)
    """Rows refused outside the observation checks, as unit-report rows (source, source_code,
    source_unit, reason, rows): ``malformed row`` (a CSV row with the wrong number of fields;
    source_code = the file) and ``invalid date`` (source_code = ``patients.birth_date``)."""

    def _with_defects(self, report: pa.Table) -> pa.Table:
        if not self.defects:
            return report
        extra = pa.table({name: [row[i] for row in self.defects] for i, name in enumerate(
            ("source", "source_code", "source_unit", "reason", "rows"))}, schema=report.schema)
        return pa.concat_tables([report, extra])

    @cached_property
    def _summary(self) -> pa.Table:
        return self.con.sql(
            f"SELECT source, source_code, source_unit, reason, count(*) AS rows FROM {self.checked_view} "
            "GROUP BY ALL ORDER BY source, source_code NULLS FIRST, source_unit NULLS FIRST, reason NULLS FIRST"
        ).to_arrow_table()

    @property
    def unit_report(self) -> pa.Table:
        """Dropped rows by (source, source_code, source_unit, reason) with counts (computed on first use)."""
        t = self._summary
        import pyarrow.compute as pc
        return self._with_defects(t.filter(pc.is_valid(t["reason"])))

    def unit_report_from(self, row_drops: pa.Table) -> pa.Table:
        """:attr:`unit_report` without a scan of its own: rows of unusable codes and units
        from the per-key counts taken at load, plus ``row_drops`` — the defective rows of
        usable keys a screen's scan of ``obs_rows`` counted (``key_id``, ``reason`` index in
        REASONS, ``rows``). A key reported under two (source, source_code, source_unit)
        spellings cannot be split from its key alone: then the report scans after all."""
        prefix = self.checked_view.removesuffix("_checked")
        keys = f"""{prefix}_keyrows k JOIN {prefix}_unitmap m
                    ON m.a_key IS NOT DISTINCT FROM k.code_a AND m.b_key IS NOT DISTINCT FROM k.code_b
                   AND m.unit_key IS NOT DISTINCT FROM k.unit"""
        drops = pa.table({"key_id": row_drops.column("key_id").cast(pa.int32()),
                          "reason": pa.array(REASONS).take(row_drops.column("reason").cast(pa.int32())),
                          "rows": row_drops.column("rows").cast(pa.int64())})
        self.con.register("_mw_row_drops", drops)
        try:
            ambiguous = self.con.sql(f"""SELECT count(*) FROM (SELECT m.key_id FROM {keys}
                WHERE m.key_id IN (SELECT key_id FROM _mw_row_drops) GROUP BY m.key_id HAVING count(*) > 1)""")
            if ambiguous.fetchall()[0][0]:
                return self.unit_report
            return self.con.sql(f"""
                SELECT source, source_code, source_unit, reason, CAST(sum(rows) AS BIGINT) AS rows FROM (
                  SELECT k.source, k.source_code, k.source_unit, x.reason, x.rows
                  FROM {keys},
                  LATERAL (SELECT * FROM (VALUES  -- REASONS order: code, then no value, then unit
                      ('unmapped code', CASE WHEN m.analyte IS NULL THEN k.rows ELSE 0 END),
                      ('missing value', CASE WHEN m.analyte IS NOT NULL THEN k.missing_value_rows ELSE 0 END),
                      (m.reason, CASE WHEN m.analyte IS NOT NULL THEN k.rows - k.missing_value_rows ELSE 0 END)
                    ) v(reason, rows)) x
                  WHERE (m.analyte IS NULL OR m.reason IS NOT NULL) AND x.reason IS NOT NULL AND x.rows > 0
                  UNION ALL
                  SELECT k.source, k.source_code, k.source_unit, d.reason, d.rows
                  FROM _mw_row_drops d JOIN {keys} ON m.key_id = d.key_id)
                GROUP BY ALL ORDER BY source, source_code NULLS FIRST, source_unit NULLS FIRST, reason NULLS FIRST
            """).to_arrow_table()
        finally:
            self.con.unregister("_mw_row_drops")

    def report_units(self, row_drops: pa.Table | None = None) -> pa.Table:
        """The unit report: from a screen's counted ``row_drops`` when it has them, else by its own scan."""
        return self.unit_report if row_drops is None else self._with_defects(self.unit_report_from(row_drops))

    @cached_property
    def counts(self) -> dict[str, int]:
        """Rows read, kept and dropped (by reason); patients, conditions, medications."""
        out = {"observations_read": 0, "observations_kept": 0, "observations_dropped": 0}
        by_reason = {r: 0 for r in REASONS}
        for row in self._summary.to_pylist():
            out["observations_read"] += row["rows"]
            if row["reason"] is None:
                out["observations_kept"] += row["rows"]
            else:
                out["observations_dropped"] += row["rows"]
                by_reason[row["reason"]] += row["rows"]
        out.update({f"dropped_{k.replace(' ', '_')}": v for k, v in by_reason.items()})
        for t in ("patients", "conditions", "medications"):
            out[t] = self.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        out.update(self.extra_counts)
        out["malformed_rows"] = sum(d[4] for d in self.defects if d[3] == "malformed row")
        out["invalid_dates"] = sum(d[4] for d in self.defects if d[3] == "invalid date")
        return out


def normalise(con: duckdb.DuckDBPyConnection, staged: str, prefix: str, analyte_sql: str,
              source_of_key: tuple[str, str, str] | None = None) -> str:
    """Create ``{prefix}_unitmap``, ``{prefix}_checked`` and the view ``obs``; return the checked view.

    ``staged`` has the obs columns except ``analyte``, plus ``code_a``/``code_b`` (the
    source's code columns, VARCHAR) and ``unit`` (the unit to convert from).
    ``analyte_sql`` maps one distinct pair of codes, as ``d.code_a``/``d.code_b``, to an
    analyte id or NULL. Codes and units are resolved once per distinct (code_a, code_b,
    unit) — a few dozen rows — and joined back by one equality join. ``source_of_key``:
    SQL over ``code_a``, ``code_b`` and ``unit`` giving the reported ``source``,
    ``source_code`` and ``source_unit``, when the reader's staged columns are functions of
    the key (the per-key row counts then group by the key alone: 40% cheaper)."""
    register_functions(con)
    # rows per key and reported source columns: what the unit report needs for every row
    # whose code or unit cannot be used, without scanning the rows again
    counts = f"count(*) AS rows, count(*) FILTER (WHERE {_MISSING_VALUE.format(s=staged)}) AS missing_value_rows"
    if source_of_key is None:
        keyrows = f"SELECT code_a, code_b, unit, source, source_code, source_unit, {counts} FROM {staged} GROUP BY ALL"
    else:
        src, code, unit = source_of_key
        keyrows = (f"SELECT code_a, code_b, unit, {src} AS source, {code} AS source_code, {unit} AS source_unit, "
                   f"rows, missing_value_rows FROM (SELECT code_a, code_b, unit, {counts} FROM {staged} GROUP BY ALL)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {prefix}_keyrows AS {keyrows}")
    keys = con.execute(
        f"SELECT d.code_a, d.code_b, d.unit, {analyte_sql} AS analyte "
        f"FROM (SELECT DISTINCT code_a, code_b, unit FROM {prefix}_keyrows) d ORDER BY ALL"
    ).fetchall()
    con.register(f"{prefix}_unitmap_arrow", unit_map_table(keys))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {prefix}_unitmap AS SELECT * FROM {prefix}_unitmap_arrow")
    con.unregister(f"{prefix}_unitmap_arrow")
    # NULL-safe equality on the raw keys: ~45% cheaper than joining on coalesce(key, '')
    # (the scan's dictionary-encoded strings stay as they are)
    on = ("m.a_key IS NOT DISTINCT FROM s.code_a AND m.b_key IS NOT DISTINCT FROM s.code_b "
          "AND m.unit_key IS NOT DISTINCT FROM s.unit")
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW {prefix}_checked AS
        SELECT s.source, s.source_code, s.source_unit, s.obs_id, s.seq, s.status, {_reason_sql()} AS reason
        FROM {staged} s LEFT JOIN {prefix}_unitmap m ON {on}""")
    exprs = {c: _convert_sql(f"s.{c}") for c in ("value", "ref_low", "ref_high")}
    exprs["analyte"] = "m.analyte"
    select = ", ".join(f"CAST({exprs.get(c, 's.' + chr(34) + c + chr(34))} AS {t}) AS \"{c}\""
                       for c, t in OBS_COLUMNS)
    usable = f"{staged} s JOIN (SELECT * FROM {prefix}_unitmap WHERE reason IS NULL) m ON {on}"
    # Only usable keys join; the checks left are comparisons on the source row, and the
    # conversion runs once, in the projection, on kept rows.
    con.execute(f"CREATE OR REPLACE TEMP VIEW obs AS SELECT {select} FROM {usable} WHERE {_keep_sql()}")
    # Every row of a usable key, with its own defect (``reason``: index in REASONS, NULL: the
    # row is in ``obs``) and its key: one scan gives a screen both its observations and the
    # rest of the unit report (LoadedSource.unit_report_from). A screen reads the value as
    # reported (``source_value``) and converts it with its key's factors (``obs_units``,
    # ``analytes.convert``): the conversion in SQL was ~30% of the scan. ``analyte_code``:
    # index of the analyte in KNOWN_IDS (an integer compares cheaper than the name).
    con.execute(f"CREATE OR REPLACE TEMP VIEW obs_rows AS SELECT {select}, {_row_reason_code_sql()} AS reason, "
                f"m.key_id AS key_id, m.analyte_code AS analyte_code, s.value AS source_value FROM {usable}")
    con.execute(f"""CREATE OR REPLACE TEMP VIEW obs_units AS SELECT key_id, analyte, analyte_code, subtract,
                    multiply, divide, is_identity FROM {prefix}_unitmap WHERE reason IS NULL""")
    return f"{prefix}_checked"


def register_view(con: duckdb.DuckDBPyConnection, name: str, select_sql: str | None, columns) -> None:
    """Create view ``name`` with exactly ``columns`` (typed); an empty one if ``select_sql`` is None."""
    if select_sql is None:
        typed_nulls = ", ".join(f"CAST(NULL AS {t}) AS \"{c}\"" for c, t in columns)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {typed_nulls} WHERE false")
    else:
        cols = ", ".join(f"CAST(\"{c}\" AS {t}) AS \"{c}\"" for c, t in columns)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {cols} FROM ({select_sql})")
