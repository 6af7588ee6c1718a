"""docs/settings.md documents every setting the code has, with its default (so it cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer

from maswatch import trends
from maswatch.cli import app
from maswatch.freshness import DEFAULT_OVERDUE_HOURS
from maswatch.lookback import DEFAULT_LOOKBACK_HOURS
from maswatch.settings import Settings
from maswatch.treatment.response import ResponseConfig

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs/settings.md").read_text(encoding="utf-8")

NOT_CLINICAL = {"--help", "--json", "--fhir", "--at", "--out", "--kind", "--engine", "--labels", "--threads",
                "--memory-limit", "--episode-gap-days", "--points", "--no-points", "--chunk-patients", "--workers",
                "--format", "--rows", "--seed", "--patients", "--mas-scale"}
"""Options that change what is read, written or how fast — not a clinical rule (docs/screening.md)."""


def _fmt(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return f'`"{v}"`'
    return f"{v:g}"


def _row(key: str, default) -> re.Pattern:
    return re.compile(rf"`{re.escape(key)}` \| {re.escape(_fmt(default))}(?: |\|)")


@pytest.mark.parametrize("key", list(Settings.model_fields))
def test_every_instrument_setting_with_its_default(key):
    assert _row(key, Settings.model_fields[key].default).search(DOC), f"docs/settings.md lacks `{key}` | default"


@pytest.mark.parametrize("key, hours", sorted(DEFAULT_LOOKBACK_HOURS.items()))
def test_every_lookback_window(key, hours):
    assert _row(key, hours).search(DOC), key


@pytest.mark.parametrize("key, hours", sorted(DEFAULT_OVERDUE_HOURS.items()))
def test_every_overdue_interval(key, hours):
    assert _row(key, hours).search(DOC), key


@pytest.mark.parametrize("name", list(trends.DEFAULT_TRENDS.rules()))
def test_every_trend_rule_with_its_thresholds(name):
    r = trends.DEFAULT_TRENDS.rules()[name]
    row = next((ln for ln in DOC.splitlines() if ln.startswith(f"| `{name}` |")), None)
    assert row is not None, name
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert [float(c) for c in cells[2:5]] == [r.relative, r.absolute, r.window_hours], row


@pytest.mark.parametrize("field", list(trends.ChangeRule.model_fields) + list(ResponseConfig.model_fields))
def test_every_rule_field(field):
    assert f"`{field}`" in DOC, field


def _options(command: str) -> set[str]:
    cmd = typer.main.get_command(app)
    sub = cmd.commands[command] if isinstance(cmd, click.Group) else cmd
    return {o for p in sub.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}


@pytest.mark.parametrize("command", ["evaluate", "assess", "screen"])
def test_every_clinical_flag_is_documented(command):
    missing = sorted(o for o in _options(command) - NOT_CLINICAL if f"`{o}" not in DOC)
    assert not missing, f"{command}: flags not in docs/settings.md: {missing}"


def test_config_help_points_at_the_document():
    cmd = typer.main.get_command(app).commands["evaluate"]
    opt = next(p for p in cmd.params if "--config" in getattr(p, "opts", ()))
    assert "docs/settings.md" in opt.help and (ROOT / "docs/settings.md").is_file()
    assert (ROOT / "docs/service.md").name in DOC  # the service file's own keys live there
