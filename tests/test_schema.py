"""The checked-in JSON Schema is the parser's own contract, and it validates what the parser accepts."""

import json
from pathlib import Path

import jsonschema
import pytest

from maswatch import schemas, snapshot
from maswatch.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_checked_in_schema_matches_the_parser():
    assert schemas.load("snapshot.schema.json") == json.loads(schemas.dump(schemas.snapshot_schema())), (
        "regenerate: python -m maswatch schema snapshot > src/maswatch/schemas/snapshot.schema.json")


def test_schema_is_valid_and_accepts_the_examples():
    s = schemas.load("snapshot.schema.json")
    jsonschema.Draft202012Validator.check_schema(s)
    jsonschema.validate(json.loads((ROOT / "examples/snapshot.json").read_text()), s)
    demo = json.loads((ROOT / "src/maswatch/data/demo_snapshots.json").read_text())
    for d in demo:
        jsonschema.validate(d, s)


@pytest.mark.parametrize("bad", [
    {"labs": {"ferritn": {"value": 1, "unit": "ng/mL"}}},
    {"labs": {"ferritin": {"value": "1", "unit": "ng/mL"}}},
    {"patient": {"context": "jia"}},
    {"findings": {"fever": 1}},
])
def test_schema_and_parser_refuse_alike(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schemas.load("snapshot.schema.json"))
    with pytest.raises(InputError):
        snapshot.parse(bad)
