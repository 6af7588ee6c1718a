"""`maswatch evaluate`: input forms, JSON Lines output in input order, refusals with field names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maswatch.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

GOOD = {"patient": {"context": "sjia"}, "findings": {"fever": True},
        "labs": {"ferritin": {"value": 5400, "unit": "ng/mL"}, "platelets": {"value": 132, "unit": "10*9/L"}}}


def invoke(args, stdin=None):
    return runner.invoke(app, args, input=stdin)


def test_example_file_json():
    r = invoke(["evaluate", str(ROOT / "examples/snapshot.json"), "--json"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert set(out["instruments"]) == {"ravelli2016", "hlh2004", "hscore", "ms_score", "mh_score",
                                       "ferritin_esr", "parodi2009", "ohi"}
    for r_ in out["instruments"].values():
        for key in ("verdict", "applicable", "items", "missing", "reference", "unverified"):
            assert key in r_
    assert out["instruments"]["hscore"]["probability"] is None  # score not determined


def test_json_lines_in_input_order_with_a_refused_line():
    bad = {"labs": {"platelets": {"value": 150000, "unit": "10*9/L"}}}
    text = "\n".join(json.dumps(x) for x in [{**GOOD, "id": "a"}, bad, "not json", {**GOOD, "id": "c"}])
    text = text.replace('"not json"', "{not json")
    r = invoke(["evaluate", "-", "--json"], stdin=text)
    assert r.exit_code == 1
    lines = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert [x.get("id") for x in lines] == ["a", None, None, "c"]
    assert lines[1]["error"]["field"] == "labs.platelets" and "instruments" not in lines[1]
    assert "implausible" in lines[1]["error"]["message"]
    assert lines[2]["error"]["field"] == "line 3" and "invalid JSON" in lines[2]["error"]["message"]
    assert "labs.platelets" in r.stderr


def test_json_array_input(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps([GOOD, GOOD]))
    r = invoke(["evaluate", str(p), "--json"])
    assert r.exit_code == 0 and len(r.stdout.strip().splitlines()) == 2


@pytest.mark.parametrize(
    "snap, field",
    [
        ({"labs": {"ferritn": {"value": 1, "unit": "ng/mL"}}}, "labs.ferritn"),
        ({"labs": {"ferritin": {"value": 1}}}, "labs.ferritin"),
        ({"labs": {"ferritin": {"value": "high", "unit": "ng/mL"}}}, "labs.ferritin.value"),
        ({"labs": {"ferritin": {"value": 1, "unit": "ng/mL", "comparator": "~"}}}, "labs.ferritin.comparator"),
        ({"findings": {"fever": "yes"}}, "findings.fever"),
        ({"findings": {"temperature": {"value": 39, "unit": "K"}}}, "findings.temperature"),
        ({"patient": {"context": "jia"}}, "patient.context"),
        ({"patient": {"age_years": -1}}, "patient.age_years"),
        ({"extra": 1}, "extra"),
        ({"labs": {"ferritin": 5400}}, "labs.ferritin"),
        ({"labs": {"ferritin": {"value": 0, "unit": "ng/mL", "comparator": "<"}}}, "labs.ferritin"),
        ({"labs": {"ferritin": {"value": -5, "unit": "ng/mL"}}}, "labs.ferritin"),
    ],
)
def test_invalid_input_names_the_field(snap, field):
    r = invoke(["evaluate", "-", "--json"], stdin=json.dumps(snap))
    assert r.exit_code == 1
    assert json.loads(r.stdout)["error"]["field"] == field


def test_missing_file_and_empty_input_exit_2(tmp_path):
    assert invoke(["evaluate", str(tmp_path / "nope.json")]).exit_code == 2
    assert invoke(["evaluate", "-"], stdin="  ").exit_code == 2


def test_readable_table_mentions_instruments_and_unverified():
    r = invoke(["evaluate", str(ROOT / "examples/snapshot.json")])
    assert r.exit_code == 0
    for word in ("ravelli2016", "hscore", "UNVERIFIED", "not a diagnosis"):
        assert word in r.stdout


def test_settings_flags_reach_the_instruments():
    s = {"labs": {"ferritin": {"value": 430, "unit": "ng/mL"}, "esr": {"value": 20, "unit": "mm/h"}}}
    r = invoke(["evaluate", "-", "--json", "--ferritin-esr-strict"], stdin=json.dumps(s))
    assert json.loads(r.stdout)["instruments"]["ferritin_esr"]["verdict"] == "not_met"
    r = invoke(["evaluate", "-", "--json", "--ms-cutoff", "bogus"], stdin=json.dumps(s))
    assert r.exit_code == 2 and "ms_score_cutoff" in r.stderr


def test_config_file(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text("mh_score_cutoff = 70\n")
    r = invoke(["evaluate", "-", "--json", "--config", str(cfg)], stdin=json.dumps(GOOD))
    assert "70" in json.loads(r.stdout)["instruments"]["mh_score"]["unverified"][0]


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "maswatch", "evaluate", str(ROOT / "examples/snapshot.json"), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["instruments"]["ravelli2016"]["verdict"] == "met"


def test_demo_runs_the_pathway_on_labelled_synthetic_data(tmp_path):
    out = tmp_path / "demo"
    r = invoke(["demo", "--out", str(out), "--patients", "40"])
    assert r.exit_code == 0, r.output
    assert "SYNTHETIC" in r.stdout and "ravelli2016" in r.stdout
    assert (out / "screen" / "report.html").exists() and (out / "cohort" / "README.txt").exists()
    # a second run replaces its own output, but never a folder it did not make
    assert invoke(["demo", "--out", str(out), "--patients", "40"]).exit_code == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert invoke(["demo", "--out", str(foreign), "--patients", "40"]).exit_code != 0
    assert (foreign / "notes.txt").read_text() == "keep me"
