"""The ``maswatch`` command line: one Typer app, one module per subcommand."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="maswatch",
    help="Decision support for macrophage activation syndrome (MAS / secondary HLH). "
    "Not a diagnosis: every result is evidence for a clinician to weigh.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from . import evaluate as _evaluate  # noqa: E402,F401  (registers the command)
from . import demo as _demo  # noqa: E402,F401
from . import assess as _assess  # noqa: E402,F401
from . import schema as _schema  # noqa: E402,F401
from . import screen as _screen  # noqa: E402,F401
from . import synth as _synth  # noqa: E402,F401


def main() -> None:
    app()
