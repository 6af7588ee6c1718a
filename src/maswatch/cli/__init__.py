"""The ``maswatch`` command line: one Typer app, one module per subcommand."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback

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
from . import serve as _serve  # noqa: E402,F401
from . import users as _users  # noqa: E402,F401
from . import monitor as _monitor  # noqa: E402,F401
from . import db as _db  # noqa: E402,F401


def main() -> None:
    """The ``maswatch`` entry point: one exit-code contract for every command (docs/cli.md).

    0 success; 1 some input records refused; 2 usage, file or source errors (commands and
    Click exit with these themselves); 70 (EX_SOFTWARE) an internal error, reported in one
    line naming the file its traceback was written to — never a raw traceback.
    """
    from ._io import EXIT_INTERNAL

    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("maswatch: interrupted\n")
        raise SystemExit(130) from None
    except BrokenPipeError:  # the reader of our output went away (e.g. `| head`): nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None
    except BaseException as exc:  # noqa: BLE001 — the last line of defence, by design
        where = _write_details(exc)
        sys.stderr.write(f"maswatch: internal error ({type(exc).__name__}); this is a bug, not your input's fault "
                         f"alone — details written to {where}\n")
        raise SystemExit(EXIT_INTERNAL) from None


def _write_details(exc: BaseException) -> str:
    """The traceback, in a new private file under the temp directory; its path."""
    try:
        folder = os.path.join(tempfile.gettempdir(), "maswatch-errors")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=time.strftime("internal-%Y%m%dT%H%M%S-"), suffix=".txt", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(f"maswatch {' '.join(sys.argv[1:])[:2000]}\n\n")
            f.write("".join(traceback.format_exception(exc)))
        return path
    except OSError as err:
        return f"(nowhere: could not write a details file: {err.strerror or err})"
