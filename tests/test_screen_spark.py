"""DuckDB and Spark (local mode) screen a small synthetic cohort to byte-identical files."""

from __future__ import annotations

import hashlib
import shutil

import pytest

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    # .ci/run installs a Java runtime, so CI always runs these
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark local mode needs Java (java not on PATH)"),
]
pytest.importorskip("pyspark")


def _digest(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())
            if p.suffix in (".parquet", ".csv", ".json") and p.name != "summary.json"}


def test_duckdb_and_spark_agree_exactly(tmp_path):
    import json

    from maswatch.screen import ScreenOptions, screen
    from maswatch.screen.benchdata import generate

    src = tmp_path / "cohort"
    generate(20_000, src, seed=11)
    labels = src / "labels.parquet"
    duck = screen(src, "long", tmp_path / "duck", ScreenOptions(engine="duckdb"), labels=labels)
    spark = screen(src, "long", tmp_path / "spark", ScreenOptions(engine="spark", threads=2), labels=labels)
    assert duck["summary"]["points"] > 500
    assert _digest(tmp_path / "duck") == _digest(tmp_path / "spark")
    # summary.json differs only in the engine's name
    a = json.loads((tmp_path / "duck" / "summary.json").read_text())
    b = json.loads((tmp_path / "spark" / "summary.json").read_text())
    assert a.pop("engine") == "duckdb" and b.pop("engine") == "spark"
    assert a == b
    assert spark["summary"] == duck["summary"]
