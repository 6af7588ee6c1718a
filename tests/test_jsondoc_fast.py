"""The strict reader's fast path (orjson, trusted only when the raw bytes prove every limit) gives
the same verdicts as the exact path (json.loads with a hook per value, then the walk): the same
object, or the same refusal with the same field path and message. The fast path never refuses;
it may only doubt, and a doubt must come wherever the exact path would refuse or read differently.

Documents are generated as JSON *text*, so the spellings json.dumps never writes are covered:
escapes in keys (``"a\\u0062"`` is ``"ab"``), ``\\\\`` and ``\\"``, duplicate keys at any depth,
whitespace around ``:``, integers beyond 2**53 and 64 bits, exponents, ``-0``, deep nesting,
long strings and non-ASCII keys. SYNTHETIC data only."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from maswatch import jsondoc
from maswatch.errors import InputError

DEFAULT = jsondoc.DEFAULT_LIMITS
TIGHT = jsondoc.Limits(max_depth=4, max_string_chars=6, max_array_items=4, max_object_keys=3, max_number_chars=12,
                       max_abs_number=1e6)
"""Small enough that generated documents hit every limit."""

SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\n": "\\n", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\r": "\\r"}
CHARS = 'ab:,{}[]"\\/0e\n\u00e9\u20ac\U0001f600 '
"""What keys and strings are made of: JSON's own punctuation, escapes, digits, non-ASCII (an emoji
needs a surrogate pair when escaped)."""


def spellings(ch: str) -> list[str]:
    """Every way JSON can write ``ch`` inside a string."""
    out = [ch] if ch not in '"\\' and ord(ch) >= 0x20 else []
    if ch in SHORT_ESCAPES:
        out.append(SHORT_ESCAPES[ch])
    cp = ord(ch)
    if cp < 0x10000:
        out += [f"\\u{cp:04x}", f"\\u{cp:04X}"]
    else:
        hi, lo = 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)
        out.append(f"\\u{hi:04x}\\u{lo:04X}")
    return out


@st.composite
def strings(draw, max_size: int = 8) -> str:
    if draw(st.integers(0, 40)) == 0:  # now and then, a lone or reversed surrogate
        return draw(st.sampled_from(['"\\ud800"', '"a\\udfff"', '"\\udc00\\ud800"', '"\\ud83d\\ud83d"']))
    if draw(st.integers(0, 30)) == 0:  # now and then, long (over TIGHT, at or over a custom bound)
        return '"' + "x" * draw(st.sampled_from([6, 7, 200, 4500])) + '"'
    text = draw(st.text(alphabet=st.sampled_from(list(CHARS)), max_size=max_size))
    return '"' + "".join(draw(st.sampled_from(spellings(c))) for c in text) + '"'


NUMBERS = st.one_of(
    st.integers(-10 ** 6, 10 ** 6).map(str),
    st.integers(-(2 ** 70), 2 ** 70).map(str),
    st.sampled_from([str(2 ** 53), str(2 ** 53 + 1), str(-(2 ** 53)), str(-(2 ** 53) - 1), "9" * 15, "9" * 16,
                     "123456789012345678901234567890", str(2 ** 64), str(2 ** 64 - 1), str(-(2 ** 63) - 1),
                     "-0", "0", "-0.0", "0.0", "1e5", "1E-3", "-2.5e+2", "1e308", "1e400", "-1e999", "4.9e-324",
                     "0." + "0" * 38 + "1", "0." + "0" * 37 + "1", "999999999999999.9", "1" * 40, "1.5", "1e0",
                     "0.1", "123.456", "-7"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr).filter(lambda s: "inf" not in s),
)
SCALARS = st.one_of(NUMBERS, strings(), st.sampled_from(["true", "false", "null"]))
SPACE = st.sampled_from(["", "", " ", "\n  ", "\t", "\r\n"])
KEYS = st.sampled_from(["a", "b", "ab", "id", ":", "a:", "x,", "{", "\\", '"', "\u00e9", "\U0001f600", "", "value"])


@st.composite
def keys(draw) -> str:
    """A key from a small pool (so duplicates come often), each spelled its own way."""
    k = draw(KEYS)
    return '"' + "".join(draw(st.sampled_from(spellings(c))) for c in k) + '"'


def containers(inner):
    arrays = st.lists(st.tuples(SPACE, inner), max_size=5).map(
        lambda xs: "[" + ",".join(s + v for s, v in xs) + "]")
    objects = st.lists(st.tuples(keys(), SPACE, SPACE, inner), max_size=5).map(
        lambda xs: "{" + ",".join(k + s1 + ":" + s2 + v for k, s1, s2, v in xs) + "}")
    return arrays | objects


DOCS = st.recursive(SCALARS, containers, max_leaves=30)


def deep(n: int) -> str:
    return '{"a":' * n + "1" + "}" * n


@st.composite
def documents(draw) -> bytes:
    doc = draw(DOCS | st.integers(1, 40).map(deep))
    lead, trail = draw(SPACE), draw(SPACE)
    data = (lead + doc + trail).encode("utf-8")
    return (b"\xef\xbb\xbf" if draw(st.integers(0, 20)) == 0 else b"") + data


def same(x, y) -> bool:
    """Equal values of equal types, -0.0 told from 0.0, key order included."""
    if type(x) is not type(y):
        return False
    if type(x) is float:
        return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)
    if type(x) is dict:
        return list(x) == list(y) and all(same(x[k], y[k]) for k in x)
    if type(x) is list:
        return len(x) == len(y) and all(map(same, x, y))
    return x == y


def verdict(read, data: bytes, limits: jsondoc.Limits):
    try:
        return "read", read(data, limits)
    except InputError as exc:
        return "refused", exc.field, exc.message


def exact(data: bytes, limits: jsondoc.Limits):
    return jsondoc._exact(data, limits, "document")


def reader(data: bytes, limits: jsondoc.Limits):
    return jsondoc.read_json_bytes(data, limits=limits)


def agree(a, b) -> bool:
    return a[0] == b[0] and (same(a[1], b[1]) if a[0] == "read" else a == b)


SETTINGS = settings(max_examples=600, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(documents(), st.sampled_from([DEFAULT, TIGHT]))
def test_the_fast_path_reads_only_what_the_exact_path_reads_the_same_way(data, limits):
    fast = jsondoc._fast(data, limits)
    want = verdict(exact, data, limits)
    event("fast path" if fast is not jsondoc._DOUBT else f"doubt ({want[0]})")
    if fast is not jsondoc._DOUBT:
        assert want[0] == "read", f"the fast path read what the exact path refuses: {want}"
        assert same(fast, want[1])


@SETTINGS
@given(documents(), st.sampled_from([DEFAULT, TIGHT]))
def test_the_reader_gives_the_exact_verdict_path_and_message_on_large_documents(data, limits):
    padded = data + b" " * jsondoc._LARGE  # trailing blanks: the same document, large enough for the fast path
    assert agree(verdict(reader, padded, limits), verdict(exact, padded, limits))
    assert agree(verdict(reader, data, limits), verdict(exact, data, limits))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=300) | st.text(alphabet=st.sampled_from(list('{}[]":,0123456789eE+-.\\u tfnrl\u00e9')),
                                        max_size=300).map(str.encode))
def test_agreement_on_arbitrary_bytes(data):
    for limits in (DEFAULT, TIGHT):
        fast = jsondoc._fast(data, limits)
        if fast is not jsondoc._DOUBT:
            want = verdict(exact, data, limits)
            assert want[0] == "read" and same(fast, want[1])


# ------------------------------------------------------------------ each hazard, by name


def big(inner: str) -> bytes:
    """``inner`` (a JSON value) inside a realistic request of many ordinary observations."""
    obs = [{"resourceType": "Observation", "id": f"o{i}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2276-4", "display": "Ferritin"}]},
            "valueQuantity": {"value": 100 + i * 0.5, "unit": "ng/mL"},
            "effectiveDateTime": f"2024-05-01T{i % 24:02d}:00:00Z"} for i in range(60)]
    return json.dumps({"prefetch": {"observations": {"entry": obs}}}).encode()[:-2] + b', "x": ' + inner.encode() + b"}}"


def test_an_ordinary_large_document_takes_the_fast_path():
    data = big('{"note": "a \\"quoted\\" \\\\ path: C:\\\\x", "ok": [-0, -0.0, 1.5, 123456789012345, '
               '0.03571428571428571, -123456789012345.12345678901234567890123]}')
    assert len(data) >= jsondoc._LARGE
    got = jsondoc._fast(data, DEFAULT)
    assert got is not jsondoc._DOUBT and same(got, json.loads(data))
    assert jsondoc.read_json_bytes(data) == json.loads(data)


@pytest.mark.parametrize("inner, field, says", [
    ('{"unit": "mg/L", "unit": "ng/mL"}', "document.prefetch.x", "duplicate key 'unit'"),
    ('{"ab": 1, "a\\u0062": 2}', "document.prefetch.x", "duplicate key 'ab'"),
    ('{"a\\\\": 1, "a\\u005c": 2}', "document.prefetch.x", "duplicate key 'a\\\\'"),
    ('{"\\"": 1, "\\u0022": 2}', "document.prefetch.x", "duplicate key '\"'"),
    ('{"\u00e9": 1, "\\u00e9": 2}', "document.prefetch.x", "duplicate key '\u00e9'"),
    ('{"a/": 1, "a\\/": 2}', "document.prefetch.x", "duplicate key 'a/'"),
    ('[{"k": {"deep": [1, {"d": 1, "e": 2, "d": 3}]}}]', "document.prefetch.x[0].k.deep[1]", "duplicate key 'd'"),
    ('{"a" : 1 , "a" :2}', "document.prefetch.x", "duplicate key 'a'"),
    ("123456789012345678901234567890", "document.prefetch.x", "out of range"),
    ("18446744073709551616", "document.prefetch.x", "out of range"),
    ("9007199254740993", "document.prefetch.x", "out of range"),
    ("-9007199254740993", "document.prefetch.x", "out of range"),
    ("1e300", "document.prefetch.x", "out of range"),
    ("1" * 41, "document.prefetch.x", "41 characters"),
    ("0." + "0" * 39 + "1", "document.prefetch.x", "42 characters"),
    ("-123456789012345." + "1" * 24, "document.prefetch.x", "41 characters"),
    ("[1.5, 9999999999999999.5]", "document.prefetch.x[1]", "out of range"),
    ("[0.0000001, 1E16]", "document.prefetch.x[1]", "out of range"),
    ('"\\ud800"', "document.prefetch.x", "surrogate"),
    ('{"\\udc00": 1}', "document.prefetch.x", "surrogate"),
    ('"' + "y" * 65_537 + '"', "document.prefetch.x", "string of 65537 characters"),
    ('"' + "\\u00e9" * 65_537 + '"', "document.prefetch.x", "string of 65537 characters"),
    ("[" * 31 + "]" * 31, "document", "nests arrays/objects 33 deep"),  # with the two objects around it
    ("{" + ", ".join(f'"k{i}": {i}' for i in range(1001)) + "}", "document.prefetch.x", "object of 1001 keys"),
    ("NaN", "document.prefetch.x", "NaN is not a number"),
    ("[1, 2,]", "document", "invalid JSON"),
])
def test_each_hazard_makes_the_fast_path_doubt_and_the_exact_path_refuse(inner, field, says):
    data = big(inner)
    assert jsondoc._fast(data, DEFAULT) is jsondoc._DOUBT
    with pytest.raises(InputError) as e:
        jsondoc.read_json_bytes(data)
    assert e.value.field == field and says in e.value.message, e.value
    assert verdict(reader, data, DEFAULT) == verdict(exact, data, DEFAULT)


@pytest.mark.parametrize("inner", [
    '{"a:": 1, "x,": 2, "{": 3, "[": 4}',  # keys ending where an opening quote could stand: a false doubt at worst
    '[":", ":a", {"k": ":"}]',  # strings starting with a colon
    str(2 ** 53), "-" + str(2 ** 53), "999999999999999.9", "1" * 15, "0." + "0" * 37 + "1",
    "-123456789012345." + "1" * 23, "0.03571428571428571", "1e-05", "1E2",
    '{"a\\u0062": 1, "a\\u0063": 2}', '{"\\\\": 1, "\\"": 2, "\\u005c\\"": 3}',
    '"' + "y" * 65_536 + '"', "[" * 30 + "]" * 30,
    "{" + ", ".join(f'"k{i}": {i}' for i in range(1000)) + "}",
    '"\\ud83d\\ude00 \U0001f600"',
])
def test_values_at_their_limits_are_read_identically(inner):
    data = big(inner)
    want = json.loads(data)
    assert same(jsondoc.read_json_bytes(data), want) and same(jsondoc._exact(data, DEFAULT, "d"), want)
    got = jsondoc._fast(data, DEFAULT)
    assert got is jsondoc._DOUBT or same(got, want)


def test_an_integer_beyond_64_bits_is_never_read_as_a_float():
    # orjson alone reads it as 1.2345678901234568e+29: the fast path must not return that
    data = big("[123456789012345678901234567890, 1]")
    assert jsondoc._fast(data, jsondoc.Limits(max_abs_number=1e40, max_number_chars=60)) is jsondoc._DOUBT
    got = jsondoc.read_json_bytes(data, limits=jsondoc.Limits(max_abs_number=1e40, max_number_chars=60))
    assert got["prefetch"]["x"][0] == 123456789012345678901234567890 and type(got["prefetch"]["x"][0]) is int


def test_a_long_array_is_refused_through_both_paths():
    lim = jsondoc.Limits(max_array_items=1000)
    data = big("[" + ", ".join(["1"] * 1001) + "]")
    assert jsondoc._fast(data, lim) is jsondoc._DOUBT
    with pytest.raises(InputError, match="array of 1001 items"):
        jsondoc.read_json_bytes(data, limits=lim)
    assert jsondoc.read_json_bytes(big("[" + ", ".join(["1"] * 1000) + "]"), limits=lim)


def test_the_key_count_of_orjson_output_is_exact_or_low():
    for doc in ({"a": 1, "b": {"c": [":", {"d": "x\":"}]}}, {"a,": 1}, {"": {"": ""}}, [{"\\": "\\\\"}], ":"):
        compact = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        n = sum(1 for _ in _keys(doc))
        assert jsondoc._keys_kept(compact) <= n
        if not any(k[-1:] in ("{", "[", ",", ":") for k in _keys(doc)):
            assert jsondoc._keys_kept(compact) == n


def _keys(v):
    if isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from _keys(x)
    elif isinstance(v, list):
        for x in v:
            yield from _keys(x)


def test_a_utf8_byte_order_mark_is_tolerated_on_the_fast_path_too():
    data = big("1")
    assert jsondoc.read_json_bytes(b"\xef\xbb\xbf" + data) == json.loads(data)
    assert jsondoc._fast(b"\xef\xbb\xbf" + data, DEFAULT) == json.loads(data)
    assert jsondoc._fast(b"\xef\xbb\xbf\xef\xbb\xbf" + data, DEFAULT) is jsondoc._DOUBT  # the exact path refuses


def _obj(n: int, prefix: str = "k", inside: str = "") -> str:
    keys = [f'"{prefix}{i}": {i}' for i in range(n)]
    if inside:
        keys.insert(n // 2, f'"{prefix}-nested": {inside}')
    return "{" + ", ".join(keys) + "}"


def test_keys_are_counted_per_object_not_per_level():
    # two siblings of 600 keys each (1,200 at their level): each within the limit, read fast
    data = big("[" + _obj(600, "a") + ", " + _obj(600, "b") + "]")
    got = jsondoc._fast(data, DEFAULT)
    assert got is not jsondoc._DOUBT and same(got, json.loads(data))
    # one object of 1,001 keys whose keys are split by a nested object of many keys: refused
    data = big(_obj(1000, "a", inside=_obj(900, "b")))
    assert jsondoc._fast(data, DEFAULT) is jsondoc._DOUBT
    with pytest.raises(InputError, match="object of 1001 keys") as e:
        jsondoc.read_json_bytes(data)
    assert e.value.field == "document.prefetch.x"


PLAIN = st.builds(lambda sign, whole, frac: sign + whole + frac, st.sampled_from(["", "-"]),
                  st.text(alphabet="0123456789", min_size=1, max_size=15).filter(lambda s: s == "0" or s[0] != "0"),
                  st.sampled_from([""]) | st.text(alphabet="0123456789", min_size=1, max_size=23).map("." .__add__))


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.lists(PLAIN, min_size=1, max_size=200))
def test_plain_numbers_are_read_fast_and_exactly_as_json_reads_them(literals):
    # at most 15 digits before the point, 23 after, no exponent: trusted to orjson, which must agree to the last bit
    data = big("[" + ", ".join(literals) + "]")
    got = jsondoc._fast(data, DEFAULT)
    assert got is not jsondoc._DOUBT and same(got, json.loads(data))
