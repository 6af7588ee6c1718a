"""``maswatch synth`` command line."""

from __future__ import annotations

import pyarrow.dataset as ds
from typer.testing import CliRunner

from maswatch.cli import app

runner = CliRunner()


def test_synth_writes_a_labelled_cohort(tmp_path):
    out = tmp_path / "c"
    r = runner.invoke(app, ["synth", "--patients", "5", "--seed", "2", "--out", str(out), "--format", "parquet,timeline"])
    assert r.exit_code == 0, r.output
    assert "SYNTHETIC" in r.output
    assert (out / "README.txt").read_text().startswith("SYNTHETIC DATA")
    assert ds.dataset(out / "patients", format="parquet").count_rows() == 5
    assert len(list((out / "timelines").glob("SYN-*.json"))) == 5


def test_rows_target_picks_the_patient_count(tmp_path):
    out = tmp_path / "r"
    r = runner.invoke(app, ["synth", "--rows", "20000", "--seed", "1", "--out", str(out), "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = sum(sum(1 for _ in p.open()) - 1 for p in (out / "observations").glob("*.csv"))
    assert 0.6 * 20000 <= rows <= 1.4 * 20000


def test_bad_arguments_are_refused(tmp_path):
    r = runner.invoke(app, ["synth", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "exactly one of --patients or --rows" in r.output
    r = runner.invoke(app, ["synth", "--patients", "2", "--out", str(tmp_path / "y"), "--format", "xlsx"])
    assert r.exit_code == 2 and "unknown format" in r.output
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "f").write_text("x")
    r = runner.invoke(app, ["synth", "--patients", "2", "--out", str(tmp_path / "z")])
    assert r.exit_code == 2 and "not empty" in r.output
