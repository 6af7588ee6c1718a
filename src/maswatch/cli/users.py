"""``maswatch users add NAME --role clinician|admin --config FILE`` (password from stdin
when it is not a terminal, else asked twice) and ``maswatch users list``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError
from . import app
from ._io import err_console, usage_errors

users_app = typer.Typer(help="Local user accounts of the web app (docs/service.md).", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _read_password(name: str) -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    first = typer.prompt(f"Password for {name}", hide_input=True)
    again = typer.prompt("Again", hide_input=True)
    if first != again:
        raise InputError("password", "the two entries differ")
    return first


def _runtime(config: Optional[Path]):
    from ..monitoring.actors import utc_now
    from ..web.config import load_config
    from ..web.runtime import open_runtime

    return open_runtime(load_config(config), utc_now)


@users_app.command("add")
def add(name: str = typer.Argument(..., help="Username."),
        role: str = typer.Option(..., "--role", help="clinician or admin."),
        config: Optional[Path] = typer.Option(None, "--config", help="Service TOML (docs/service.md).")) -> None:
    """Add a user (upgrades a fresh database first)."""
    from ..monitoring import accounts
    from ..monitoring.actors import Actor

    err = err_console()
    with usage_errors(err):
        if role not in accounts.ROLES:
            raise InputError("--role", f"must be one of {', '.join(accounts.ROLES)}")
        password = _read_password(name)
        rt = _runtime(config)
        try:
            with rt.transaction() as s:
                accounts.create_user(s, name, password, role, Actor("cli:users-add"), rt.clock())
        finally:
            rt.engine.dispose()
    err.print(f"added {role} {name}", highlight=False, markup=False)


@users_app.command("list")
def list_users(config: Optional[Path] = typer.Option(None, "--config", help="Service TOML.")) -> None:
    """List users: name, role, disabled."""
    from ..store import repo

    with usage_errors(err_console()):
        rt = _runtime(config)
    try:
        with rt.transaction() as s:
            for u in repo.users(s):
                sys.stdout.write(f"{u.username}\t{u.role}\t{'disabled' if u.disabled else 'active'}\n")
    finally:
        rt.engine.dispose()
