"""Every clinical citation in the source and in the output resolves to a file and section in docs/clinical/."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maswatch.cli import app

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src/maswatch"
CITATION = re.compile(r"docs/clinical/([\w.-]+\.md)`{0,2}((?:[ ,;]*(?:and )?§ ?\d+(?:\.\d+)?(?:[–-]\d+)?)*)")
SECTION = re.compile(r"§ ?(\d+(?:\.\d+)?)(?:[–-](\d+))?")
BARE = re.compile(r"(?<![\w/])(?:shared/clinical/)?(?:criteria|distributions)\.md`{0,2} ?§|shared/clinical/")
"""A criteria.md or distributions.md section cited without the docs/clinical/ path, or any
citation of the shared/clinical/ files (neither would resolve in the repository)."""
TEXT = ("*.py", "*.toml", "*.json", "*.html", "*.j2", "*.txt", "*.md")


@cache
def headings(name: str) -> set[str]:
    text = (ROOT / "docs/clinical" / name).read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^#+ §(\d+(?:\.\d+)?)[. ]", text, re.M)}


def unresolved(text: str) -> list[str]:
    bad = []
    for m in CITATION.finditer(text):
        name, secs = m.group(1), m.group(2)
        if not (ROOT / "docs/clinical" / name).is_file():
            bad.append(f"{m.group(0)}: no such file")
            continue
        for s in SECTION.finditer(secs):
            first, last = s.group(1), s.group(2)
            wanted = [first] if last is None else [str(k) for k in range(int(first), int(last) + 1)]
            bad += [f"{m.group(0)}: no §{w} heading" for w in wanted if w not in headings(name)]
    bad += [f"bare citation {m.group(0)!r}" for m in BARE.finditer(text)]
    return bad


def test_the_reference_has_every_section():
    assert {str(k) for k in range(1, 16)} | {"15.1", "15.2"} <= headings("criteria.md")
    text = (ROOT / "docs/clinical/criteria.md").read_text(encoding="utf-8")
    assert "## Conflicts and open questions" in text
    assert (ROOT / "docs/clinical/unverified.md").is_file() and (ROOT / "docs/clinical/README.md").is_file()


def test_the_generator_reference_has_every_section():
    wanted = {str(k) for k in range(0, 10)} | {f"2.{k}" for k in range(1, 8)} | {f"4.{k}" for k in range(1, 8)}
    assert wanted | {f"7.{k}" for k in range(1, 6)} <= headings("distributions.md")
    assert "distributions.md" in (ROOT / "docs/clinical/README.md").read_text(encoding="utf-8")


def test_the_checker_catches_what_it_should():
    assert unresolved("see docs/clinical/criteria.md §2") == []
    assert unresolved("docs/clinical/criteria.md §3, §5, §7, §12 and docs/clinical/criteria.md §8–10") == []
    assert unresolved("docs/clinical/criteria.md §16")
    assert unresolved("docs/clinical/nowhere.md §1")
    assert unresolved("(criteria.md §2)") and unresolved("shared/clinical/criteria.md §4")
    assert unresolved("docs/clinical/distributions.md §7.2, §4.6 and §3") == []
    assert unresolved("docs/clinical/distributions.md §7.9") and unresolved("docs/clinical/distributions.md §10")
    assert unresolved("(distributions.md §6)") and unresolved("``distributions.md`` §3")
    assert unresolved("(shared/clinical/distributions.md)") and unresolved("../shared/clinical/distributions.md §3")


def test_generator_shorthand_resolves():
    """params.py cites distributions.md as ``D§N`` (its docstring says so); each N must be a heading."""
    cited = {m.group(1) for p in SRC.rglob("*.py") for m in re.finditer(r"D§(\d+(?:\.\d+)?)", p.read_text(encoding="utf-8"))}
    assert cited and cited <= headings("distributions.md"), cited - headings("distributions.md")
    assert "``docs/clinical/distributions.md`` (``D§``)" in (SRC / "synth/params.py").read_text(encoding="utf-8")


def _source_files():
    for pattern in TEXT:
        for p in sorted(SRC.rglob(pattern)):
            if "__pycache__" not in p.parts:
                yield p


@pytest.mark.parametrize("path", list(_source_files()), ids=lambda p: str(p.relative_to(SRC)))
def test_source_citations_resolve(path):
    assert unresolved(path.read_text(encoding="utf-8", errors="replace")) == []


def _run(args) -> str:
    r = CliRunner().invoke(app, args)
    assert r.exit_code in (0, 1, 2, 3), r.output  # a clinical level may set a non-zero code; never a crash
    json.loads(r.stdout)  # the output is the JSON document
    return r.stdout


@pytest.mark.parametrize("args", [
    ["evaluate", "--json", "examples/snapshot.json"],
    *[["assess", "--json", str(p.relative_to(ROOT))] for p in sorted((ROOT / "examples").glob("timeline_*.json"))],
], ids=lambda a: " ".join(a))
def test_output_citations_resolve(args, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = _run(args)
    assert "docs/clinical/criteria.md §" in out
    assert unresolved(out) == []
