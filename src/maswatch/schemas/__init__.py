"""JSON Schemas of the public formats, generated from the pydantic contracts.

The checked-in files are what integrators read; a test asserts they equal the
generated ones, so the documentation and the parser cannot drift apart.
"""

from __future__ import annotations

import json
from importlib import resources


def snapshot_schema() -> dict:
    from ..snapshot import Snapshot

    schema = Snapshot.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://maswatch.example/schemas/snapshot.schema.json"
    schema["title"] = "maswatch snapshot"
    schema["description"] = (
        "One patient at one time. Absent or null means unknown (never normal). Lab values carry "
        "their unit (checked against the analyte registry; never guessed) and, for censored "
        "results, a comparator."
    )
    return schema


def load(name: str) -> dict:
    return json.loads(resources.files("maswatch").joinpath(f"schemas/{name}").read_text(encoding="utf-8"))


def dump(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
