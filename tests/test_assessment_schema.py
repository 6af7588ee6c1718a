"""The assessment JSON Schema (``maswatch-assessment/1``): the checked-in file equals the one
generated from the models, and real outputs of ``assess --json`` validate against it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from maswatch import schemas, synth, timeline
from maswatch.cli import app
from maswatch.schemas.assessment import ASSESSMENT_SCHEMA, assessment_schema

ROOT = Path(__file__).parent.parent
CHECKED_IN = json.loads(resources.files("maswatch").joinpath("schemas/assessment.schema.json").read_text("utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(CHECKED_IN)
EXAMPLES = sorted((ROOT / "examples").glob("timeline_*.json"))


def _errors(doc: dict) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in VALIDATOR.iter_errors(doc)]


def test_checked_in_schema_is_valid_and_equals_the_generated_one():
    jsonschema.Draft202012Validator.check_schema(CHECKED_IN)
    assert schemas.dump(CHECKED_IN) == schemas.dump(assessment_schema()), \
        "regenerate src/maswatch/schemas/assessment.schema.json from maswatch.schemas.assessment"
    assert CHECKED_IN["properties"]["schema"]["const"] == ASSESSMENT_SCHEMA == "maswatch-assessment/1"


def test_cli_prints_the_schema():
    r = CliRunner().invoke(app, ["schema", "assessment"])
    assert r.exit_code == 0 and json.loads(r.stdout) == CHECKED_IN


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("at", [None, "2024-05-09T07:00:00Z", "2024-06-05T08:00:00Z", "2020-01-01T00:00:00Z"])
def test_cli_output_of_the_examples_validates(path, at):
    args = ["assess", str(path), "--json"] + (["--at", at] if at else [])
    r = CliRunner().invoke(app, args)
    if r.exit_code == 2:  # a time before the patient's birth is refused, not assessed
        assert "before the patient's birth" in r.output
        return
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["schema"] == ASSESSMENT_SCHEMA
    assert _errors(doc) == []


def test_generated_patients_validate():
    docs = synth.cohort(12, seed=3, timelines=True)["timelines"]
    assert docs
    for d in docs:
        out = json.loads(json.dumps(timeline.assess(timeline.parse(d)).to_json()))
        assert _errors(out) == [], d["patient"]["id"]


def test_the_schema_rejects_what_consumers_must_not_receive():
    doc = json.loads(json.dumps(timeline.assess(timeline.parse(json.loads(EXAMPLES[0].read_text()))).to_json()))
    bad = json.loads(json.dumps(doc))
    bad["assessment"]["alert_level"] = "green"
    assert _errors(bad)
    bad = json.loads(json.dumps(doc))
    del bad["assessment"]["freshness"]["stale"]
    assert _errors(bad)
    bad = json.loads(json.dumps(doc))
    bad["schema"] = "maswatch-assessment/2"
    assert _errors(bad)
    bad = json.loads(json.dumps(doc))
    bad["assessment"]["next_steps"].append({"rank": 1, "group": "someday", "group_title": "", "step": "x",
                                             "text": "", "inputs": [], "why": "", "settles": []})
    assert _errors(bad)


def test_an_assessment_before_any_result_validates():
    tl = timeline.parse(json.loads(EXAMPLES[0].read_text()))
    first = tl.table.times()[0]
    at = datetime.fromtimestamp(int(first) / 1e6 - 3600, tz=timezone.utc)
    doc = json.loads(json.dumps(timeline.assess(tl, at).to_json()))
    assert _errors(doc) == []
