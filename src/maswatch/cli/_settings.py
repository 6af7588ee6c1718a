"""Shared CLI options for the unsettled (UNVERIFIED) settings."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..rules import load_rules
from ..settings import Settings

ConfigOpt = typer.Option(
    None, "--config",
    help="TOML file of clinical settings: instrument settings, [lookback], [overdue], [trends] "
         "(every key with its default, unit and status: docs/settings.md).")
MsCutoffOpt = typer.Option(None, "--ms-cutoff", help="MS score cut-off: 'sjia' (-2.1, default) or 'aosd' (-1.74).")
MhCutoffOpt = typer.Option(None, "--mh-cutoff", help="MH score cut-off (UNVERIFIED; default 60).")
FerritinEsrStrictOpt = typer.Option(
    None, "--ferritin-esr-strict/--ferritin-esr-inclusive", help="Ferritin:ESR met at > 21.5 instead of >= 21.5 (UNVERIFIED)."
)
FeverTempOpt = typer.Option(None, "--hlh2004-fever-temp", help="HLH-2004 fever temperature, °C (UNVERIFIED; default 38.5).")


def cli_settings(ms_cutoff: Optional[str], mh_cutoff: Optional[float], ferritin_esr_strict: Optional[bool],
                 fever_temp: Optional[float]) -> dict:
    """The settings given as options, by Settings key (they override the --config file)."""
    values: dict = {}
    if ms_cutoff is not None:
        values["ms_score_cutoff"] = ms_cutoff
    if mh_cutoff is not None:
        values["mh_score_cutoff"] = mh_cutoff
    if ferritin_esr_strict is not None:
        values["ferritin_esr_cutoff_inclusive"] = not ferritin_esr_strict
    if fever_temp is not None:
        values["hlh2004_fever_temperature_c"] = fever_temp
    return values


def build_settings(
    config: Optional[Path],
    ms_cutoff: Optional[str],
    mh_cutoff: Optional[float],
    ferritin_esr_strict: Optional[bool],
    fever_temp: Optional[float],
) -> Settings:
    """The instrument settings of the one rules loader (maswatch.rules), from --config and options."""
    return load_rules(config, settings=cli_settings(ms_cutoff, mh_cutoff, ferritin_esr_strict, fever_temp)).settings
