"""Assessment -> FHIR R4 resources, validated with fhir.resources (its R4B models: R4 shapes)."""

from __future__ import annotations

import json
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codesystem import CodeSystem
from typer.testing import CliRunner

from maswatch import timeline
from maswatch.cli import app
from maswatch.fhir.write import SYSTEM, assessment_bundle, codesystem

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "timeline_sjia_mas_recurrence.json"


def _codes(cs: dict) -> set[str]:
    out = set()

    def walk(cc):
        for c in cc:
            out.add(c["code"])
            walk(c.get("concept", []))

    walk(cs["concept"])
    return out


def test_the_shipped_codesystem_is_valid_and_covers_every_code_written():
    cs = codesystem()
    CodeSystem.model_validate(cs)
    assert cs["url"] == SYSTEM and cs["count"] == len(_codes(cs))
    out = timeline.assess(timeline.load(EXAMPLE)).to_json()
    b = assessment_bundle(out)
    used = {c["code"] for e in b["entry"] for c in json.dumps(e["resource"]) and _codings(e["resource"])
            if c["system"] == SYSTEM}
    assert used and used <= _codes(cs)


def _codings(x):
    if isinstance(x, dict):
        if "system" in x and "code" in x:
            yield x
        for v in x.values():
            yield from _codings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _codings(v)


def test_cli_fhir_output_is_a_valid_bundle_with_the_level_scores_and_provenance(tmp_path):
    r = CliRunner().invoke(app, ["assess", str(EXAMPLE), "--fhir"])
    assert r.exit_code == 0, r.output
    b = json.loads(r.stdout)
    Bundle.model_validate(b)
    res = [e["resource"] for e in b["entry"]]
    ra = res[0]
    assert ra["resourceType"] == "RiskAssessment" and ra["subject"] == {"reference": "Patient/SYN-RECUR-01"}
    assert ra["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "level-alert"
    assert {"reference": "Observation/fer7", "display": "ferritin at 2024-05-27T08:00:00Z"} in ra["basis"]
    assert ra["note"][0]["text"].startswith("SYNTHETIC")
    hscore_pred = ra["prediction"][1]
    assert hscore_pred["probabilityRange"] == {"low": {"value": 0.01}, "high": {"value": 0.99}}
    obs = {o["code"]["coding"][0]["code"]: o for o in res[1:]}
    assert obs["ravelli2016"]["valueCodeableConcept"]["coding"][0]["code"] == "met"
    assert obs["hlh2004"]["valueCodeableConcept"]["coding"][0]["code"] == "indeterminate"
    assert obs["hlh2004"]["component"][0]["valueRange"] == {"low": {"value": 2}, "high": {"value": 8}}
    assert obs["hscore"]["component"][0]["valueRange"] == {"low": {"value": 99}, "high": {"value": 327}}
    assert all(o["derivedFrom"] == ra["basis"] for o in obs.values())
    assert "outside its population" in " ".join(n["text"] for n in obs["hscore"]["note"])
