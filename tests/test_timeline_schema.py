"""The JSON Schema of the timeline format agrees with the parser and the examples."""

import copy
import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from maswatch import timeline
from maswatch.batch import FINDING_IDS, QUANTITY_IDS
from maswatch.errors import InputError
from maswatch.treatment import DRUGS

ROOT = Path(__file__).parent.parent
SCHEMA = json.loads(resources.files("maswatch").joinpath("schemas/timeline.schema.json").read_text(encoding="utf-8"))
EXAMPLES = sorted((ROOT / "examples").glob("timeline_*.json"))


def doc_example() -> dict:
    text = (ROOT / "docs" / "timeline-format.md").read_text(encoding="utf-8")
    return json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))


def test_schema_is_valid_and_mirrors_the_registries():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    obs = SCHEMA["properties"]["observations"]["items"]["properties"]
    assert obs["analyte"]["enum"] == list(QUANTITY_IDS)
    assert obs["finding"]["enum"] == list(FINDING_IDS)
    assert SCHEMA["properties"]["medications"]["items"]["properties"]["drug"]["enum"] == list(DRUGS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_synthetic_valid_and_parse(path):
    obj = json.loads(path.read_text(encoding="utf-8"))
    assert obj["synthetic"] is True
    jsonschema.validate(obj, SCHEMA)
    a = timeline.assess(timeline.parse(obj))
    assert a.n > 1


def test_documented_example_is_valid():
    obj = doc_example()
    jsonschema.validate(obj, SCHEMA)
    timeline.parse(obj)


@pytest.mark.parametrize("mutate", [
    lambda d: d["observations"][0].update(time="2024-05-01T08:00:00"),      # no UTC offset
    lambda d: d["observations"][0].update(units="ng/mL"),                   # unknown key
    lambda d: d["observations"][0].update(status="done"),
    lambda d: d["observations"][0].update(finding="fever"),                 # two quantity kinds
    lambda d: d["observations"][4].update(value="yes"),                     # finding not boolean
    lambda d: d["patient"].update(nickname="x"),
    lambda d: d["conditions"][0].update(code="jia"),
    lambda d: d.update(format="maswatch-timeline/2"),
])
def test_schema_and_parser_refuse_the_same_documents(mutate):
    d = copy.deepcopy(doc_example())
    mutate(d)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(d, SCHEMA)
    with pytest.raises(InputError):
        timeline.parse(d)
