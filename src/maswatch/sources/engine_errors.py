"""Data-engine failures on a source -> one line naming the file (and line), never its bytes.

DuckDB and pyarrow describe a corrupt file with a traceback and often a copy of the
offending line ("Original Line: ..."): for a source symlinked to a private file that
line is the private file. The message built here keeps only what the engine says about
*where* (the file path it was given, the line number) and *what kind* of defect, from a
fixed list; the engine's own text is never shown.
"""

from __future__ import annotations

import re

import duckdb

from ..errors import InputError
from ._files import printable

# (pattern in the engine's message, what the user is told), first match wins
_KINDS: tuple[tuple[str, str], ...] = (
    (r"unicode|utf-?8|encoding", "not UTF-8 text"),
    (r"magic bytes|parquet|thrift|footer|row group", "not a readable Parquet file (truncated or corrupt)"),
    (r"malformed json|json", "malformed JSON (each line must be one complete JSON object)"),
    (r"gzip|zlib|decompress|zstd|compressed|snappy|inflate", "not a readable compressed file (truncated or not gzip)"),
    (r"unterminated quote|quote", "malformed CSV row (unterminated or stray quote)"),
    (r"too many|too few|expected \d+ (values|columns)|column count|columns", "malformed CSV row (wrong number of fields)"),
    (r"csv|sniff|dialect", "malformed CSV"),
    (r"conversion|convert|cast", "a value the data engine could not convert"),
    (r"no files found|no such file|permission|is a directory|io error|cannot open", "cannot be read (missing, not a regular file, or no permission)"),
)
_SOURCE_DEFECTS = (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.IOException,
                   duckdb.SerializationException, UnicodeDecodeError, EOFError)
_FILE_PATTERNS = (r'file "([^"\n]+)"', r"file '([^'\n]+)'", r"^\s*file = (.+)$", r'"([^"\n]+\.(?:parquet|csv|tsv|ndjson|json|gz))"',
                  r"'([^'\n]+\.(?:parquet|csv|tsv|ndjson|json|gz))'", r"(/[^\s'\"]+\.(?:parquet|csv|tsv|ndjson|json|gz))\b")
_LINE_PATTERNS = (r"\bon line:? (\d+)", r"\bin line (\d+)", r"\bline (\d+)")


def engine_error(exc: BaseException, source: str) -> InputError:
    """The :class:`InputError` for an engine failure ``exc`` while reading ``source``."""
    msg = str(exc).split("\nLINE ")[0]  # DuckDB appends the failing SQL (and its paths) after "LINE n:"
    low = msg.casefold()
    known = next((text for pat, text in _KINDS if re.search(pat, low)), None)
    what = known or f"the data engine could not read it ({type(exc).__name__})"
    where = None
    for pat in _FILE_PATTERNS:
        m = re.search(pat, msg, flags=re.MULTILINE)
        if m:
            where = m.group(1).strip()
            break
    line = next((m.group(1) for pat in _LINE_PATTERNS if (m := re.search(pat, low))), None)
    field = printable(where or source or "source")
    detail = f"line {line}: {what}" if line else what
    if known is None and not isinstance(exc, _SOURCE_DEFECTS):  # e.g. a binder error: a column of a type the reader did not expect
        detail += " (if the source looks right, please report this as a maswatch defect)"
    return InputError(field, f"{detail}; nothing was screened")


__all__ = ["engine_error"]
