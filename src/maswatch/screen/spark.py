"""The Spark engine (PySpark): the same points query, the same ``evaluate_points`` in mapInArrow.

Spark has no as-of join (and Ibis offers none for it), so the points are built with the
window functions of ``points.points_sql`` — the query DuckDB runs, in Spark's dialect.
Evaluation runs in Python workers through ``DataFrame.mapInArrow`` with the very
function DuckDB batches go through, so the two engines cannot disagree on a rule.

On a cluster (spark-submit, Databricks) call :func:`results_dataframe` on DataFrames in
the normalised shape and write the result with Spark; ``maswatch screen --engine spark``
runs local mode and writes the same files as the DuckDB engine (docs/screening.md).
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Iterator

import pyarrow as pa

from ..lookback import DEFAULT_LOOKBACK, Lookback
from .arrow_eval import Rules, evaluate_points, output_schema
from .points import points_sql


def java_available() -> bool:
    return shutil.which("java") is not None


def local_session(threads: int = 2, memory: str = "2g"):
    """A local-mode session configured for exact parity: UTC, Arrow on, few shuffle partitions."""
    from pyspark.sql import SparkSession

    # Local workers must run this interpreter (a virtual environment's, where maswatch is
    # installed), not the first python3 on PATH; an explicit PYSPARK_PYTHON still wins.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(f"local[{int(threads)}]")
        .appName("maswatch-screen")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", memory)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(max(2, int(threads) * 2)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.ansi.enabled", "false")
        .getOrCreate()
    )


def _evaluate_partition(rules: Rules):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for rb in batches:
            yield evaluate_points(rb, rules)

    return run


def results_dataframe(spark, obs, patients=None, conditions=None, *, rules: Rules = Rules(),
                      lookback: Lookback = DEFAULT_LOOKBACK, source_order: str | None = "seq"):
    """Evaluated points as a Spark DataFrame (``arrow_eval.output_schema``), partitioned by patient.

    ``obs``/``patients``/``conditions`` are DataFrames in the normalised shape
    (docs/screening.md); patients and conditions may be None.
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    if spark.conf.get("spark.sql.session.timeZone") != "UTC":
        raise RuntimeError("set spark.sql.session.timeZone=UTC: times are compared in UTC")
    obs.createOrReplaceTempView("obs")
    if patients is not None:
        patients.createOrReplaceTempView("patients")
    if conditions is not None:
        conditions.createOrReplaceTempView("conditions")
    if source_order is not None and source_order not in obs.columns:
        source_order = None
    sql = points_sql("spark", lookback=lookback, refs=rules.refs, source_order=source_order,
                     has_patients=patients is not None, has_conditions=conditions is not None)
    sql = sql[: sql.rindex("ORDER BY")]  # ordering is done per partition below
    points = spark.sql(sql).repartition("patient_id").sortWithinPartitions("patient_id", "t_us")
    schema = from_arrow_schema(output_schema(rules.refs))
    return points.mapInArrow(_evaluate_partition(rules), schema)


def collect_sorted(results_df) -> pa.Table:
    """All results on the driver, sorted by patient and time (local mode / parity tests)."""
    t = results_df.toArrow()
    t = t.set_column(t.schema.get_field_index("time"), "time", t.column("time").cast(pa.timestamp("us", tz="UTC")))
    return t.sort_by([("patient_id", "ascending"), ("time", "ascending")])


def read_staged(spark, stage_dir):
    """DataFrames from the Parquet files ``stage_from_duckdb`` wrote."""
    from pathlib import Path

    d = Path(stage_dir)
    return (spark.read.parquet(str(d / "obs.parquet")), spark.read.parquet(str(d / "patients.parquet")),
            spark.read.parquet(str(d / "conditions.parquet")))


def stage_from_duckdb(con, stage_dir) -> None:
    """Write the normalised views of a DuckDB connection to Parquet for Spark to read."""
    from pathlib import Path

    d = Path(stage_dir)
    d.mkdir(parents=True, exist_ok=True)
    for name, cols in (("obs", "patient_id, time, obs_id, analyte, value, comparator, status, seq"),
                       ("patients", "patient_id, birth_date"), ("conditions", "patient_id, code, onset")):
        have = {r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()}
        sel = ", ".join(c for c in cols.split(", ") if c in have)
        con.execute(f"COPY (SELECT {sel} FROM {name}) TO '{(d / (name + '.parquet')).as_posix()}' (FORMAT parquet)")
