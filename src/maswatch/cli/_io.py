"""Reading snapshot inputs: one JSON object, a JSON array, or JSON Lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InputError


def read_text(path: str | None) -> str:
    if path in (None, "-"):
        return sys.stdin.read()
    p = Path(path)
    if not p.exists():
        raise InputError("FILE", f"{path} does not exist")
    return p.read_text(encoding="utf-8")


def parse_documents(text: str) -> list[object | InputError]:
    """Objects in input order; a line that is not valid JSON becomes an InputError."""
    stripped = text.strip()
    if not stripped:
        raise InputError("FILE", "no input: expected one snapshot object or JSON Lines")
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        whole = None
    else:
        return list(whole) if isinstance(whole, list) else [whole]
    out: list[object | InputError] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            out.append(InputError(f"line {n}", f"invalid JSON: {exc.msg} (column {exc.colno})"))
    return out
