"""The one strict reader for every JSON document maswatch takes in (docs/limits.md).

Snapshots, timelines, and later FHIR bundles and uploads all come through here, so a
hostile or mistaken document is refused the same way everywhere, with the path of
what was wrong, before any model sees it:

- bytes must be UTF-8 (a leading UTF-8 byte-order mark is tolerated and dropped;
  UTF-16/32 and any other encoding are refused, naming the first bad byte);
- duplicate keys are refused (``json`` would silently keep the last one);
- nesting depth, document size, string length, array length and object size are
  bounded (:class:`Limits`); the depth is checked before parsing, so no recursion;
- numbers must be finite doubles of bounded magnitude: ``NaN``/``Infinity`` literals,
  integers beyond 2**53 (not exact as a double) and literals of more than
  ``max_number_chars`` characters are refused;
- strings must be valid Unicode (no lone surrogates from ``\\ud800`` escapes).

Pure: bytes in, Python objects out (dict, list, str, int, float, bool, None).

    obj = read_json_bytes(data, what="timeline")
    for where, obj_or_error in iter_json_lines(lines, what="snapshot"): ...

Times are checked by :func:`parse_time` (ISO 8601 with an offset, inside
``TIME_WINDOW``), used by every model that takes a time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Annotated, Iterable, Iterator

import numpy as np
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StrictFloat, StrictInt

from .errors import InputError

__all__ = ["DEFAULT_LIMITS", "Limits", "TIME_WINDOW", "check_time", "iter_json_lines", "parse_date", "parse_time",
           "read_json_bytes", "read_json_text", "shorten", "Time", "Date", "TimeOrDate", "dumps", "FiniteNumber", "check_number"]


@dataclass(frozen=True)
class Limits:
    """Named bounds of one document (docs/limits.md). Generous for any real record."""

    max_document_bytes: int = 32 * 1024 * 1024
    """One JSON document (a timeline, a snapshot array, one JSON Lines line)."""
    max_depth: int = 32
    """Nesting of arrays and objects; the formats need at most 5."""
    max_string_chars: int = 65_536
    """One string (a key, an id, a note)."""
    max_array_items: int = 500_000
    """One array (e.g. a timeline's observations: a 5-year stay with hourly vitals is ~45,000)."""
    max_object_keys: int = 1_000
    """One object (the formats have fewer than 30 keys)."""
    max_number_chars: int = 40
    """One number literal; a double needs at most 24 characters."""
    max_abs_number: float = float(2 ** 53)
    """Largest magnitude of a number: integers beyond it are not exact as doubles."""


DEFAULT_LIMITS = Limits()
MAX_MESSAGE_CHARS = 200
"""User text quoted in a message is cut to this many characters ("… (N more)")."""

TIME_WINDOW = (datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(2200, 1, 1, tzinfo=timezone.utc))
"""Accepted times, as UTC instants [first, last): a clinical record outside it is a typo or
a sentinel (e.g. 9999-12-31 for "open"), and conversions to UTC never leave years 1-9999."""


def shorten(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``repr``-free cut of user text for a message: ``abc… (N more)``."""
    s = str(text)
    return s if len(s) <= limit else f"{s[:limit]}… ({len(s) - limit} more)"


class _Bad:
    """A value refused by a parse hook; the walk reports it with its path."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode(data: bytes, what: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(data) >= 2 and (data[0] == 0 or data[1] == 0)):
        raise InputError(what, "is UTF-16 or UTF-32; save it as UTF-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark is tolerated (Windows editors write one)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(what, f"is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}); "
                               "save the file as UTF-8") from None


@dataclass(frozen=True)
class _Scan:
    depth: int
    """Maximum nesting of brackets outside strings."""
    longest_string: int
    """An upper bound of the longest string's length in characters (-1: unknown, walk)."""


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""Where a lone surrogate could come from: a \\uD800-\\uDFFF escape (raw UTF-8 cannot hold one)."""


def _scan(data: bytes) -> _Scan:
    """Depth and a bound of string lengths from the raw bytes, vectorised, without recursion.

    Escape pairs are dropped left to right (``\\\\`` first), so every remaining quote delimits
    a string; a string's length in characters is at most its raw bytes, i.e. its bare length
    plus twice the escape pairs dropped anywhere."""
    bare = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    dropped = (len(data) - len(bare)) // 2
    a = np.frombuffer(bare, dtype=np.uint8)
    quotes = np.flatnonzero(a == 0x22)
    brackets = np.flatnonzero((a == 0x5B) | (a == 0x7B) | (a == 0x5D) | (a == 0x7D))
    if brackets.size:
        outside = (np.searchsorted(quotes, brackets) % 2) == 0  # an even number of quotes before it
        b = a[brackets[outside]]
        depth = int(np.cumsum(np.where((b == 0x5B) | (b == 0x7B), 1, -1)).max(initial=0))
    else:
        depth = 0
    if quotes.size % 2:
        return _Scan(depth, -1)  # an unterminated string: the parser refuses it, or the walk measures
    longest = int((quotes[1::2] - quotes[0::2] - 1).max(initial=0)) + 2 * dropped
    return _Scan(depth, longest)


def _hooks(limits: Limits, refused: list) -> dict:
    """json.loads hooks; a refused value becomes a :class:`_Bad` and is recorded in ``refused``
    (per call, so concurrent parses never share it)."""

    def bad(message: str) -> _Bad:
        refused.append(message)
        return _Bad(message)

    def num_float(s: str):
        if len(s) > limits.max_number_chars:
            return bad(f"number literal of {len(s)} characters (at most {limits.max_number_chars})")
        v = float(s)
        if not abs(v) <= limits.max_abs_number:
            return bad(f"number {shorten(s, 40)} is out of range (magnitude at most 2**53)")
        return v

    def num_int(s: str):
        if len(s) > limits.max_number_chars:
            return bad(f"number literal of {len(s)} characters (at most {limits.max_number_chars})")
        v = int(s)
        if abs(v) > limits.max_abs_number:
            return bad(f"number {shorten(s, 40)} is out of range (magnitude at most 2**53)")
        return v

    def constant(s: str):
        return bad(f"{s} is not a number JSON allows (no NaN or Infinity)")

    def pairs(items: list):
        if len(items) > limits.max_object_keys:
            return bad(f"object of {len(items)} keys (at most {limits.max_object_keys})")
        d = dict(items)
        if len(d) != len(items):
            seen: set = set()
            for k, _ in items:
                if k in seen:
                    return bad(f"duplicate key {shorten(k, 60)!r}: each key may appear once")
                seen.add(k)
        return d

    return {"parse_float": num_float, "parse_int": num_int, "parse_constant": constant, "object_pairs_hook": pairs}


def _path(node) -> str:
    """The dotted path of a walk node ``(parent, key)``, built only for a message."""
    keys = []
    while node is not None:
        node, k = node
        keys.append(k)
    out = ""
    for k in reversed(keys):
        if isinstance(k, int):
            out += f"[{k}]"
        elif isinstance(k, str) and re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", k):
            out += f".{k}"
        else:
            out += f"[{json.dumps(shorten(k, 60))}]"
    return out


def _walk(obj: object, where: str, limits: Limits) -> None:
    """Refuse any value a hook marked, and any string, array or object over its limit.

    Iterative; paths are built only for the value refused."""
    max_chars = limits.max_string_chars

    def bad_str(s: str) -> bool:
        return len(s) > max_chars or (not s.isascii() and _SURROGATE.search(s) is not None)

    stack = [(obj, None)]
    while stack:
        v, node = stack.pop()
        t = type(v)
        if t is _Bad:
            raise InputError(where + _path(node), v.message)
        if t is str:
            if bad_str(v):
                _check_str(v, where + _path(node), limits)
        elif t is dict:
            if len(v) > limits.max_object_keys:
                raise InputError(where + _path(node), f"object of {len(v)} keys (at most {limits.max_object_keys})")
            for k, x in v.items():
                if bad_str(k):
                    _check_str(k, where + _path(node), limits)
                tx = type(x)
                if tx is dict or tx is list or tx is _Bad or (tx is str and bad_str(x)):
                    stack.append((x, (node, k)))
        elif t is list:
            if len(v) > limits.max_array_items:
                raise InputError(where + _path(node), f"array of {len(v)} items (at most {limits.max_array_items})")
            for i, x in enumerate(v):
                tx = type(x)
                if tx is dict or tx is list or tx is _Bad or (tx is str and bad_str(x)):
                    stack.append((x, (node, i)))


def _check_str(s: str, path: str, limits: Limits) -> None:
    if len(s) > limits.max_string_chars:
        raise InputError(path, f"string of {len(s)} characters (at most {limits.max_string_chars})")
    if not s.isascii() and _SURROGATE.search(s):
        raise InputError(path, "contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff): not valid Unicode")


def read_json_bytes(data: bytes, *, limits: Limits = DEFAULT_LIMITS, what: str = "document") -> object:
    """Parse one JSON document strictly; raise :class:`InputError` naming the path of the first fault.

    ``what`` names the document in messages (``timeline``, ``snapshot``, ``line 3``) and
    is the root of every path (``timeline.observations[2].value``).
    """
    if len(data) > limits.max_document_bytes:
        raise InputError(what, f"is {len(data):,} bytes (at most {limits.max_document_bytes:,})")
    text = _decode(bytes(data), what)
    return _parse(text, what, limits, data)


def read_json_text(text: str, *, limits: Limits = DEFAULT_LIMITS, what: str = "document") -> object:
    """As :func:`read_json_bytes`, for text already decoded (e.g. a web form field)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(what, "contains an unpaired UTF-16 surrogate: not valid Unicode") from None
    return read_json_bytes(data, limits=limits, what=what)


def _parse(text: str, what: str, limits: Limits, data: bytes) -> object:
    if not text.strip():
        raise InputError(what, "is empty: expected a JSON document")
    scan = _scan(data)
    if scan.depth > limits.max_depth:
        raise InputError(what, f"nests arrays/objects {scan.depth} deep (at most {limits.max_depth})")
    refused: list[str] = []
    try:
        obj = json.loads(text, **_hooks(limits, refused))
    except json.JSONDecodeError as exc:
        raise InputError(what, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:  # defensive: the depth check above runs first
        raise InputError(what, f"nests too deep (at most {limits.max_depth})") from None
    # The walk (one Python step per value) runs only where the raw bytes cannot rule a fault
    # out: a value a hook refused, a string that may be too long or hold a lone surrogate, or
    # a document large enough for an over-long array. Typical documents skip it (~6x faster).
    if (refused or scan.longest_string < 0 or scan.longest_string > limits.max_string_chars
            or _SURROGATE_ESCAPE.search(data) is not None or len(data) >= 2 * limits.max_array_items):
        _walk(obj, what, limits)
    return obj


def iter_json_lines(lines: Iterable[bytes], *, limits: Limits = DEFAULT_LIMITS, what: str = "line",
                    first_line: int = 1) -> Iterator[tuple[str, object | InputError]]:
    """JSON Lines, one document per non-blank line, streamed: ``(where, object or InputError)``.

    A bad line becomes an InputError (its path starts ``line N``) and reading goes on; the
    caller decides whether that refuses the record or the whole input.
    """
    for n, raw in enumerate(lines, start=first_line):
        if not raw.strip():
            continue
        where = f"{what} {n}"
        try:
            yield where, read_json_bytes(raw.strip(),
                                         limits=limits, what=where)
        except InputError as exc:
            yield where, exc


# ----------------------------------------------------------------------------- times

_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}:?\d{2})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_time(t: datetime) -> datetime:
    """Refuse an aware time whose UTC instant lies outside :data:`TIME_WINDOW`."""
    lo, hi = TIME_WINDOW
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("needs a UTC offset, e.g. 2024-05-01T08:00:00Z")
    if t.year <= 1 or t.year >= 9999 or not lo <= t < hi:
        raise ValueError(f"{t.isoformat()} is outside the accepted years {lo.year}-{hi.year - 1} "
                         "(an open end is written by leaving the field out)")
    return t


def parse_time(value: object) -> datetime:
    """An ISO 8601 date-time with a UTC offset, as a string, inside :data:`TIME_WINDOW`.

    Numbers (Unix times) and times without an offset are refused: the formats say ISO 8601.
    Raises ``ValueError`` (models turn it into a field error).
    """
    if isinstance(value, datetime):
        return check_time(value)
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 time string with a UTC offset, e.g. 2024-05-01T08:00:00Z "
                         f"(got {type(value).__name__} {shorten(repr(value), 60)})")
    if not _ISO_TIME.fullmatch(value):
        raise ValueError(f"must be an ISO 8601 time with a UTC offset, e.g. 2024-05-01T08:00:00Z "
                         f"(got {shorten(repr(value), 60)})")
    try:
        t = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value)
    except (ValueError, OverflowError):
        raise ValueError(f"is not a valid date-time (got {shorten(repr(value), 60)})") from None
    try:
        return check_time(t)
    except OverflowError:
        raise ValueError(f"{shorten(value, 60)} is outside the accepted years") from None


def parse_date(value: object) -> date:
    """An ISO 8601 calendar date (``YYYY-MM-DD``) inside :data:`TIME_WINDOW`."""
    if isinstance(value, date) and not isinstance(value, datetime):
        d = value
    elif isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            d = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"is not a valid date (got {shorten(repr(value), 60)})") from None
    else:
        raise ValueError(f"must be an ISO 8601 date YYYY-MM-DD (got {shorten(repr(value), 60)})")
    lo, hi = TIME_WINDOW
    if not lo.date() <= d < hi.date():
        raise ValueError(f"{d.isoformat()} is outside the accepted years {lo.year}-{hi.year - 1}")
    return d


def parse_time_or_date(value: object) -> datetime | date:
    """A date-time with offset, or a calendar date (``onset``, ``age_at``)."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return parse_date(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return parse_date(value)
    return parse_time(value)


# Field types for the models: the strict time rules above, with the schema of the plain type.
Time = Annotated[AwareDatetime, BeforeValidator(parse_time)]
Date = Annotated[date, BeforeValidator(parse_date)]
TimeOrDate = Annotated[AwareDatetime | date, BeforeValidator(parse_time_or_date)]


# ----------------------------------------------------------------------------- output


def _finite(obj: object) -> object:
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def dumps(obj: object) -> str:
    """Strict JSON text: never ``NaN``/``Infinity`` (not JSON). A non-finite number left in
    a result is written ``null``, which every output schema defines as "unknown or unbounded"
    (docs/cli.md); non-ASCII text is kept as UTF-8."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(obj), ensure_ascii=False, allow_nan=False)


def check_number(v: object) -> object:
    """A number a model accepts: finite, magnitude at most ``max_abs_number`` (for Python
    callers that bypass the reader; ``ValueError`` otherwise). Booleans pass through."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return v
    if isinstance(v, float) and v != v:
        raise ValueError("NaN is not a number")
    if not abs(v) <= DEFAULT_LIMITS.max_abs_number:
        raise ValueError(f"number {shorten(repr(v), 40)} is out of range (magnitude at most 2**53)")
    return v


FiniteNumber = Annotated[StrictFloat | StrictInt, AfterValidator(check_number)]
"""A JSON number of a model: finite and bounded (:func:`check_number`)."""
