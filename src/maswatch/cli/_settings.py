"""Shared CLI options for the unsettled (UNVERIFIED) settings."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError

from ..errors import InputError
from ..settings import Settings

ConfigOpt = typer.Option(None, "--config", help="TOML file of settings (see docs/settings.md).")
MsCutoffOpt = typer.Option(None, "--ms-cutoff", help="MS score cut-off: 'sjia' (-2.1, default) or 'aosd' (-1.74).")
MhCutoffOpt = typer.Option(None, "--mh-cutoff", help="MH score cut-off (UNVERIFIED; default 60).")
FerritinEsrStrictOpt = typer.Option(
    None, "--ferritin-esr-strict/--ferritin-esr-inclusive", help="Ferritin:ESR met at > 21.5 instead of >= 21.5 (UNVERIFIED)."
)
FeverTempOpt = typer.Option(None, "--hlh2004-fever-temp", help="HLH-2004 fever temperature, °C (UNVERIFIED; default 38.5).")


def build_settings(
    config: Optional[Path],
    ms_cutoff: Optional[str],
    mh_cutoff: Optional[float],
    ferritin_esr_strict: Optional[bool],
    fever_temp: Optional[float],
) -> Settings:
    values: dict = {}
    if config is not None:
        try:
            values.update(tomllib.loads(Path(config).read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError("--config", str(exc)) from None
    if ms_cutoff is not None:
        values["ms_score_cutoff"] = ms_cutoff
    if mh_cutoff is not None:
        values["mh_score_cutoff"] = mh_cutoff
    if ferritin_esr_strict is not None:
        values["ferritin_esr_cutoff_inclusive"] = not ferritin_esr_strict
    if fever_temp is not None:
        values["hlh2004_fever_temperature_c"] = fever_temp
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError("settings." + ".".join(map(str, err["loc"])), err["msg"]) from None
