"""``maswatch assess``: JSON output, readable output, options and refusals."""

import json
from pathlib import Path

from typer.testing import CliRunner

from maswatch.cli import app

EXAMPLES = Path(__file__).parent.parent / "examples"
RECUR = str(EXAMPLES / "timeline_sjia_mas_recurrence.json")
runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["assess", *args])


def test_json_output_is_one_object_with_the_documented_keys():
    r = run(RECUR, "--json")
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert j["synthetic"] is True and j["at"] == "2024-05-27T08:00:00Z"
    assert j["assessment"]["alert_level"] == "alert"
    assert j["patient"]["id"] == "SYN-RECUR-01"


def test_at_option_and_its_refusal():
    r = run(RECUR, "--json", "--at", "2024-05-03T08:00:00+00:00")
    assert json.loads(r.stdout)["at"] == "2024-05-03T08:00:00Z"
    bad = run(RECUR, "--at", "2024-05-03T08:00:00")
    assert bad.exit_code == 2 and "UTC offset" in bad.output


def test_readable_output_is_labelled_synthetic_and_shows_the_timeline():
    r = run(RECUR)
    assert r.exit_code == 0, r.output
    assert "SYNTHETIC" in r.output
    assert "Timeline" in r.output and "ALERT" in r.output
    assert "not a diagnosis" in r.output


def test_lookback_and_trend_config_options(tmp_path):
    at = ["--at", "2024-05-04T08:00:01Z"]  # the 3 May 08:00 ferritin is 24 h + 1 s old
    j = json.loads(run(RECUR, "--json", "--lookback", "ferritin=24", *at).stdout)
    assert j["settings"]["lookback_hours"]["values"]["ferritin"] == 24
    assert "ferritin" not in j["history"][-1]["labs"]
    assert json.loads(run(RECUR, "--json", *at).stdout)["history"][-1]["labs"]["ferritin"] == 7400
    cfg = tmp_path / "trends.toml"
    cfg.write_text("[falling_platelets]\nrelative = 0.9\n")
    j2 = json.loads(run(RECUR, "--json", "--trend-config", str(cfg), "--at", "2024-05-03T08:00:00Z").stdout)
    assert j2["assessment"]["trends"]["falling_platelets"]["status"] == "no"
    assert run(RECUR, "--lookback", "ferritn=24").exit_code == 2


def test_invalid_timeline_is_refused_naming_the_field(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"observations": [{"id": "o1", "time": "2024-05-01T08:00:00Z", "analyte": "ferritin",
                                               "value": 500, "unit": "mmol/L"}]}))
    r = run(str(p), "--json")
    assert r.exit_code == 2
    assert "observations[0].unit" in r.output and "o1" in r.output
    assert run(str(tmp_path / "missing.json")).exit_code == 2
