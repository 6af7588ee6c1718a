"""CLI input and messages: files and stdin read as bytes through the strict JSON reader
(``maswatch.jsondoc``), and user text always shown literally (docs/cli.md).

Exit codes (docs/cli.md): 0 success; 1 some input records refused; 2 usage, file or
source errors; 70 an internal error (``maswatch.cli.main``).
"""

from __future__ import annotations

import itertools
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from rich.console import Console
from rich.text import Text

from .. import jsondoc
from ..errors import InputError, MaswatchError

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 70


def err_console() -> Console:
    """stderr, never wrapped mid-message (scripts read it line by line)."""
    return Console(stderr=True, soft_wrap=True, highlight=False)


def message(head: str, field: str, text: str, style: str = "red") -> Text:
    """``head field: text`` as a Text: user text shown literally (no markup), cut to bounds."""
    out = Text(head, style=style)
    out.append(" " + jsondoc.shorten(field, 120) + ": " if field else " ")
    out.append(jsondoc.shorten(text))
    return out


def print_error(console: Console, exc: InputError, head: str = "error") -> None:
    console.print(message(head, exc.field, exc.message))


@contextmanager
def usage_errors(console: Console) -> Iterator[None]:
    """A bad configuration, input or source ends the command with its message and exit 2."""
    import typer

    try:
        yield
    except InputError as exc:
        print_error(console, exc)
        raise typer.Exit(EXIT_USAGE)
    except MaswatchError as exc:
        console.print(f"error: {exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_USAGE)


def _describe(path: str, exc: OSError) -> str:
    return f"cannot read {jsondoc.shorten(path, 120)}: {exc.strerror or type(exc).__name__}"


def open_input(path: str | None) -> BinaryIO:
    """The file (or stdin for ``-``) as a binary stream; InputError for a missing file,
    a directory or an unreadable one."""
    if path in (None, "-"):
        return sys.stdin.buffer
    p = Path(path)
    if p.is_dir():
        raise InputError("FILE", f"{jsondoc.shorten(path, 120)} is a directory; give a JSON file (or '-' for stdin)")
    if not p.exists():
        raise InputError("FILE", f"{jsondoc.shorten(path, 120)} does not exist")
    try:
        return p.open("rb")
    except OSError as exc:
        raise InputError("FILE", _describe(path, exc)) from None


def read_bytes(path: str | None, limits: jsondoc.Limits = jsondoc.DEFAULT_LIMITS) -> bytes:
    """The whole input, refused (not truncated) beyond ``limits.max_document_bytes``."""
    f = open_input(path)
    try:
        data = f.read(limits.max_document_bytes + 1)
    except OSError as exc:
        raise InputError("FILE", _describe(str(path), exc)) from None
    finally:
        if f is not sys.stdin.buffer:
            f.close()
    if len(data) > limits.max_document_bytes:
        raise InputError("FILE", f"is larger than {limits.max_document_bytes:,} bytes (docs/limits.md); "
                                 "split it, or give snapshots as JSON Lines, which are read one line at a time")
    return data


def read_document(path: str | None, what: str) -> object:
    """One JSON document (a timeline, a bundle), strictly (``jsondoc.read_json_bytes``)."""
    return jsondoc.read_json_bytes(read_bytes(path), what=what)


def iter_documents(path: str | None, what: str = "snapshot") -> Iterator[tuple[str, object | InputError]]:
    """Snapshot input, streamed: one object, a JSON array, or JSON Lines.

    Yields ``(where, object or InputError)`` in input order. JSON Lines are read a line at
    a time (memory independent of the number of lines); a single document (an object
    spread over lines, or an array) is read whole, bounded by the document size limit.
    """
    f = open_input(path)
    try:
        yield from _documents(f, what)
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def _lines(f: BinaryIO, limit: int) -> Iterator[bytes]:
    """Lines of at most ``limit`` bytes; a longer one is cut there (and refused by the
    reader as over the size limit) and the rest of it skipped, never held in memory."""
    while True:
        line = f.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while (rest := f.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
        yield line


def _documents(f: BinaryIO, what: str) -> Iterator[tuple[str, object | InputError]]:
    limits = jsondoc.DEFAULT_LIMITS
    head: list[bytes] = []
    first = b""
    f_lines = _lines(f, limits.max_document_bytes)
    for line in f_lines:  # the first non-blank line decides the form
        head.append(line)
        if line.strip():
            first = line
            break
    if not first.strip():
        raise InputError("FILE", "no input: expected one snapshot object, a JSON array or JSON Lines")
    try:
        one = jsondoc.read_json_bytes(first.strip(), what=what)
    except InputError:
        one = None
    if one is not None and not first.strip().startswith((b"[", b"\xef\xbb\xbf[")):
        # JSON Lines (or one object on one line): stream the rest, line by line.
        yield from jsondoc.iter_json_lines(itertools.chain(head, f_lines), limits=limits, what="line")
        return
    # A document over several lines, or an array: read it whole (bounded).
    rest = f.read(limits.max_document_bytes + 1 - sum(map(len, head)))
    data = b"".join(head) + rest
    if len(data) > limits.max_document_bytes:
        raise InputError("FILE", f"one JSON document larger than {limits.max_document_bytes:,} bytes "
                                 "(docs/limits.md); give snapshots as JSON Lines, one per line")
    try:
        whole = jsondoc.read_json_bytes(data, what=what)
    except InputError as exc:
        if b"\n" not in data.strip() or exc.message.startswith(("is not UTF-8", "is UTF-16")):
            raise
        # Not one document: JSON Lines, of which some line is bad (reported per line).
        yield from jsondoc.iter_json_lines(data.splitlines(), limits=limits, what="line")
        return
    items = whole if isinstance(whole, list) else [whole]
    for i, obj in enumerate(items):
        yield (f"{what}[{i}]" if isinstance(whole, list) else what), obj
