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

Two paths, one verdict: the exact path (json.loads with a hook per value) decides every
refusal and its message; a large document is first parsed by orjson, whose result is kept
only when a vectorised scan of the raw bytes proves that no limit is broken and json.loads
would read the same object (the fast path; tests/test_jsondoc_fast.py holds them equal).

    obj = read_json_bytes(data, what="timeline")
    for where, obj_or_error in iter_json_lines(lines, what="snapshot"): ...

Times are checked by :func:`parse_time` (ISO 8601 with an offset, inside
``TIME_WINDOW``), used by every model that takes a time.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Annotated, Iterable, Iterator

import numpy as np
import orjson
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
_BOM = b"\xef\xbb\xbf"


def _decode(data: bytes, what: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(data) >= 2 and (data[0] == 0 or data[1] == 0)):
        raise InputError(what, "is UTF-16 or UTF-32; save it as UTF-8")
    if data.startswith(_BOM):
        data = data[3:]  # a UTF-8 byte-order mark is tolerated (Windows editors write one)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(what, f"is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}); "
                               "save the file as UTF-8") from None


@dataclass(frozen=True)
class _Scan:
    """What the raw bytes say before any parse (:func:`_scan`)."""

    depth: int
    """Maximum nesting of brackets outside strings."""
    longest_string: int
    """An upper bound of the longest string's length in characters (-1: a string is left open)."""
    commas: int
    """Commas anywhere: an array of N items holds N - 1 of them, so this bounds every array."""
    structure: np.ndarray | None = field(default=None, repr=False, compare=False)
    """Large documents only, for the fast path: the brackets and colons outside strings, in order, ..."""
    levels: np.ndarray | None = field(default=None, repr=False, compare=False)
    """... the nesting after each (a colon's is the level of its object), ..."""
    digits: np.ndarray | None = field(default=None, repr=False, compare=False)
    """... and, as bits (bit i of word k: byte 64k + i), the digits outside strings ..."""
    points: np.ndarray | None = field(default=None, repr=False, compare=False)
    """... the bytes ``.`` ..."""
    exponents: np.ndarray | None = field(default=None, repr=False, compare=False)
    """... and the bytes ``e``/``E``."""


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""Where a lone surrogate could come from: a \\uD800-\\uDFFF escape (raw UTF-8 cannot hold one)."""
_LARGE = 8192
"""From this many bytes the scan is vectorised and the fast path is tried: below it, NumPy and
orjson set-up cost more than they save (benchmarks/bench_jsondoc.py --sweep)."""


def _scan(data: bytes, vectorised: bool | None = None) -> _Scan:
    """Depth and bounds of strings and arrays from the raw bytes, without parsing or recursion
    (vectorised, with the arrays the fast path reads, by default from :data:`_LARGE` bytes).

    Without escape pairs (:func:`_unescaped`), a byte is inside a string when an odd number of
    quotes precedes it, and a string's length in characters is at most its bytes plus twice the
    escape pairs dropped."""
    bare = _unescaped(data)
    dropped = (len(data) - len(bare)) // 2
    if vectorised is None:
        vectorised = len(data) >= _LARGE
    return _scan_arrays(bare, dropped) if vectorised and bare else _scan_bytes(bare, dropped)


def _unescaped(data: bytes) -> bytes:
    """``data`` without its escape pairs, ``\\\\`` first, then ``\\"``: every quote left delimits a string."""
    return data.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in data else data  # usually: no copy


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[0x5B] = _STEP[0x7B] = 1
_STEP[0x5D] = _STEP[0x7D] = -1


def _scan_bytes(bare: bytes, dropped: int) -> _Scan:
    """:func:`_scan` of a small document, with bytes methods (no NumPy set-up). Its strings are
    bounded by its length: below :data:`_LARGE` bytes, well within any useful string limit."""
    parts = bare.split(b'"')  # outside, inside, outside, ...
    brackets = b"".join(parts[0::2]).translate(None, _NOT_BRACKETS)
    return _Scan(depth=max(0, max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)),
                 longest_string=max(len(bare) - 2, 0) + 2 * dropped if len(parts) % 2 else -1,
                 commas=bare.count(b","))


_WORD = np.uint64(2 ** 64 - 1)
_BLOCK = 1 << 19
"""Bytes per step of the vectorised scans: temporaries this small stay in cache and are reused by
the allocator (one of 5 MB costs more in fresh pages than the work done in it)."""


def _bits(mask: np.ndarray) -> np.ndarray:
    """A boolean array of 64k items as 64-bit words: bit i of word k is item 64k + i."""
    return np.packbits(mask, bitorder="little").view("<u8")


def _scan_arrays(bare: bytes, dropped: int) -> _Scan:
    """:func:`_scan` of a large document, vectorised block by block; keeps what the fast path reads.

    Inside strings is the parity of the quotes up to each byte: a prefix XOR within 64-bit words,
    carried across words and blocks (the simdjson trick; no per-byte cumsum)."""
    a = np.frombuffer(bare, dtype=np.uint8)
    parity, level, commas = np.uint64(0), 0, 0
    insides, digits, points, exponents, structures, levels = [], [], [], [], [], []
    for start in range(0, a.size, _BLOCK):  # _BLOCK is a multiple of 64: blocks start on a word
        b = a[start:start + _BLOCK]
        if b.size % 64:  # the last block, padded with NUL bytes (none of the bytes looked for)
            b = np.concatenate((b, np.zeros(64 - b.size % 64, dtype=np.uint8)))
        w = _bits(b == 0x22)
        for k in (1, 2, 4, 8, 16, 32):
            w ^= w << np.uint64(k)
        last = w >> np.uint64(63)  # the parity of each word's quotes
        odd = np.bitwise_xor.accumulate(last) ^ parity  # ... and of all quotes up to each word's end
        w ^= (odd ^ last) * _WORD  # a word after an odd count is flipped
        parity = odd[-1]
        outside = ~w
        folded = b | 0x20  # "[" -> "{", "]" -> "}", "E" -> "e"
        structural = (b == 0x3A) | (folded == 0x7B) | (folded == 0x7D)
        s = b[np.flatnonzero(structural & np.unpackbits(outside.view(np.uint8), bitorder="little").view(bool))]
        kind = s | 0x20
        lv = np.cumsum((kind == 0x7B).astype(np.int8) - (kind == 0x7D), dtype=np.int32) + level
        level = int(lv[-1]) if lv.size else level
        insides.append(w)
        digits.append(_bits((b - 0x30) < 10) & outside)  # uint8 wrap-around: only "0".."9" land below 10
        points.append(_bits(b == 0x2E))
        exponents.append(_bits(folded == 0x65))
        structures.append(s)
        levels.append(lv)
        commas += int(np.count_nonzero(b == 0x2C))
    inside = np.concatenate(insides)
    # A string (its opening quote and characters) spans its full words and at most 63 bits each side.
    edges = np.flatnonzero(np.diff(inside == _WORD, prepend=False, append=False))
    longest = 64 * int((edges[1::2] - edges[0::2]).max(initial=0)) + 2 * 63 - 1 + 2 * dropped
    lv = np.concatenate(levels)
    return _Scan(depth=int(lv.max(initial=0)), longest_string=-1 if parity else longest, commas=commas,
                 structure=np.concatenate(structures), levels=lv, digits=np.concatenate(digits),
                 points=np.concatenate(points), exponents=np.concatenate(exponents))


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
    data = bytes(data)
    if len(data) >= _LARGE:
        obj = _fast(data, limits)
        if obj is not _DOUBT:
            return obj
    return _exact(data, limits, what)


def read_json_text(text: str, *, limits: Limits = DEFAULT_LIMITS, what: str = "document") -> object:
    """As :func:`read_json_bytes`, for text already decoded (e.g. a web form field)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(what, "contains an unpaired UTF-16 surrogate: not valid Unicode") from None
    return read_json_bytes(data, limits=limits, what=what)


def _exact(data: bytes, limits: Limits, what: str) -> object:
    """The exact path: json.loads with a hook per value, then the walk where a fault is possible.
    It alone refuses, with the path and message of the first fault."""
    text = _decode(data, what)
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
    # out: a value a hook refused, or a string or array the scan cannot clear.
    if refused or _strings_or_arrays_may_break(scan, data, limits):
        _walk(obj, what, limits)
    return obj


def _strings_or_arrays_may_break(scan: _Scan, data: bytes, limits: Limits) -> bool:
    """Whether a string may be too long or hold a lone surrogate, or an array be too long."""
    return (not 0 <= scan.longest_string <= limits.max_string_chars or scan.commas >= limits.max_array_items
            or (b"\\" in data and _SURROGATE_ESCAPE.search(data) is not None))


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


# ----------------------------------------------------------------------------- the fast path
#
# orjson parses ~5x faster than json.loads with a hook per value, but it cannot refuse what the
# limits refuse: it keeps the last of duplicate keys, turns an integer beyond 64 bits into a
# float, and knows no string, array, object or depth limit. So its result is returned only
# when the raw bytes prove that no limit is broken and that json.loads would give the same
# object; on any doubt, and on anything orjson refuses, the exact path runs and decides.
# A false doubt costs time, never a verdict; the fast path never refuses anything itself.

_DOUBT = object()


def _fast(data: bytes, limits: Limits) -> object:
    """The document parsed by orjson when every limit provably holds, else ``_DOUBT``."""
    try:
        obj = orjson.loads(data[3:] if data.startswith(_BOM) else data)
    except orjson.JSONDecodeError:
        return _DOUBT  # not JSON, not UTF-8, NaN, a lone surrogate...: the exact path says which
    scan = _scan(data, vectorised=True)
    if (scan.depth > limits.max_depth or _strings_or_arrays_may_break(scan, data, limits)
            or not _numbers_plain(scan, limits) or not _keys_as_written(scan, obj, limits)):
        return _DOUBT
    return obj


@functools.lru_cache(maxsize=16)
def _plain_digits(limits: Limits) -> tuple[int, int]:
    """The most digits a number may have before and after its point to be within limits unparsed:
    without exponent, W digits before it keep it below 10**W <= max_abs_number, and F digits after
    it, F = max_number_chars - W - 2, keep it to max_number_chars characters (``-W.F``)."""
    magnitude = limits.max_abs_number
    whole = len(str(int(min(magnitude, 1e300)))) - 1 if magnitude >= 1 else 0
    whole = min(whole, (limits.max_number_chars - 2) // 2, 62)  # 62: the bit shifts stay below a word
    return whole, min(limits.max_number_chars - 2 - whole, 62)


def _numbers_plain(scan: _Scan, limits: Limits) -> bool:
    """True when no number has an exponent or more digits before or after its point than
    :func:`_plain_digits`: then each is short and small, and orjson reads it as json.loads does
    (an integer stays exact, a fraction is rounded correctly alike)."""
    whole, frac = _plain_digits(limits)
    digits = scan.digits
    if whole < 1 or (digits & _later(scan.exponents, 1)).any():  # "e"/"E" right after a digit ("true": after "u")
        return False
    run = _runs(digits, 1, whole + 1)
    if (run & ~_earlier(digits | scan.points, 1)).any():  # ... starting a number's whole part
        return False
    return not _runs(run, whole + 1, frac + 1).any()


def _runs(run: np.ndarray, have: int, width: int) -> np.ndarray:
    """From ``run`` (bit i set where bits i .. i + have - 1 of some stream all are), the same for
    ``width`` (< 64), by doubling."""
    while have < width:
        step = min(have, width - have)
        run, have = run & _later(run, step), have + step
    return run


def _later(w: np.ndarray, k: int) -> np.ndarray:
    """Bit i of the result is bit i + k of ``w`` across words (0 < k < 64; beyond the end: 0)."""
    out = w >> np.uint64(k)
    out[:-1] |= w[1:] << np.uint64(64 - k)
    return out


def _earlier(w: np.ndarray, k: int) -> np.ndarray:
    """Bit i of the result is bit i - k of ``w`` across words (0 < k < 64; before the start: 0)."""
    out = w << np.uint64(k)
    out[1:] |= w[:-1] >> np.uint64(64 - k)
    return out


def _keys_as_written(scan: _Scan, obj: object, limits: Limits) -> bool:
    """True when no object has too many keys and orjson kept every key written, i.e. none was a
    duplicate (orjson keeps the last one; ``"a\u0062"`` and ``"ab"`` meet there decoded, as in json.loads)."""
    colons = scan.structure == 0x3A
    written = int(np.count_nonzero(colons))
    if written == 0:
        return True
    if written > limits.max_object_keys and _too_many_keys(scan, colons, limits.max_object_keys):
        return False
    try:
        kept = orjson.dumps(obj)
    except orjson.JSONEncodeError:  # e.g. deeper than orjson writes: let the exact path decide
        return False
    return _keys_kept(kept) == written


def _too_many_keys(scan: _Scan, colons: np.ndarray, limit: int) -> bool:
    """Whether an object has more than ``limit`` keys. Ordered stably by level, an object's keys
    (colons) follow its opening brace, before the next opening brace at that level (which comes
    only once it has closed); closings and arrays do not matter."""
    keep = colons | (scan.structure == 0x7B)
    s = scan.structure[keep]
    levels = scan.levels[keep]
    s = s[np.argsort(levels.astype(np.uint8) if scan.depth < 256 else levels, kind="stable")]  # uint8: a radix sort
    return int(np.bincount(np.cumsum(s == 0x7B)[s == 0x3A]).max()) > limit


def _keys_kept(compact: bytes) -> int:
    """At most the keys of orjson's compact output, exactly unless a key ends in one of ``{[,:``:
    the quotes followed by a colon, except after the bytes that can come before an opening quote
    (which is followed by a colon when a string starts with one)."""
    a = np.frombuffer(_unescaped(compact), dtype=np.uint8)
    kept = 0
    for start in range(1, a.size - 1, _BLOCK):
        end = min(start + _BLOCK, a.size - 1)
        before = a[start - 1:end - 1]
        kept += int(np.count_nonzero((a[start:end] == 0x22) & (a[start + 1:end + 1] == 0x3A) & (before != 0x2C)
                                     & (before != 0x3A) & ((before | 0x20) != 0x7B)))
    return kept


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
