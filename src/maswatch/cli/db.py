"""``maswatch db upgrade --config FILE`` and ``maswatch db check``: the schema migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app
from ._io import err_console, usage_errors

db_app = typer.Typer(help="Database schema (Alembic migrations shipped with maswatch).", no_args_is_help=True)
app.add_typer(db_app, name="db")
ConfigOpt = typer.Option(None, "--config", help="Service TOML (docs/service.md).")


def _engine(config: Optional[Path]):
    """The configured database's engine; a bad configuration ends the command with exit 2."""
    from ..store.db import make_engine
    from ..web.config import load_config

    with usage_errors(err_console()):
        return make_engine(load_config(config).database_url)


@db_app.command("upgrade")
def upgrade(config: Optional[Path] = ConfigOpt) -> None:
    """Upgrade the database to the current schema (back it up first)."""
    from ..store import migrate

    err = err_console()
    engine = _engine(config)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        err.print(f"schema: {before or 'empty'} -> {migrate.current_revision(engine)}", highlight=False)
    finally:
        engine.dispose()


@db_app.command("check")
def check(config: Optional[Path] = ConfigOpt) -> None:
    """Exit 1 unless the database is at the current schema revision."""
    from ..store import migrate

    err = err_console()
    engine = _engine(config)
    try:
        cur, head = migrate.current_revision(engine), migrate.head_revision()
    finally:
        engine.dispose()
    err.print(f"schema: {cur or 'empty'} (current: {head})", highlight=False)
    if cur != head:
        raise typer.Exit(1)
