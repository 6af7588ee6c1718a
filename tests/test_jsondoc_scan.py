"""The strict reader's raw-byte scan is sound: the walk over every value is skipped only when
the scan proves nothing is too deep, too long or a lone surrogate — so the bounds it reports
must never be below the truth, whatever strings (quotes, backslashes, brackets) a document holds."""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from maswatch import jsondoc

TEXT = st.text(alphabet=st.sampled_from(list('ab"\\[]{}\u00e9\u20ac\U0001f600\n/u0')), max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(-1e15, 1e15, allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=40)


def _depth(v) -> int:
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    return 0


def _longest(v) -> int:
    if isinstance(v, str):
        return len(v)
    if isinstance(v, list):
        return max((_longest(x) for x in v), default=0)
    if isinstance(v, dict):
        return max([_longest(x) for x in v.values()] + [len(k) for k in v], default=0)
    return 0


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(JSON, st.booleans(), st.booleans())
def test_scan_depth_is_exact_and_string_bound_never_below_the_truth(obj, ascii_only, vectorised):
    data = json.dumps(obj, ensure_ascii=ascii_only).encode()
    scan = jsondoc._scan(data, vectorised=vectorised)  # both: bytes methods (small) and NumPy (large)
    assert scan.depth == _depth(obj)
    assert scan.longest_string >= _longest(obj)
    assert scan.commas >= _longest_array(obj) - 1
    assert jsondoc.read_json_bytes(data) == obj


def _longest_array(v) -> int:
    if isinstance(v, list):
        return max([len(v)] + [_longest_array(x) for x in v])
    if isinstance(v, dict):
        return max((_longest_array(x) for x in v.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.text(alphabet=st.sampled_from(list('ab"\\[]{}:,\u00e9 ')), max_size=1000).map(str.encode))
def test_both_scans_agree_on_any_bytes_even_invalid_json(data):
    # the exact path refuses a document too deep before parsing it, whichever scan measured it
    small, large = jsondoc._scan(data, vectorised=False), jsondoc._scan(data, vectorised=True)
    assert (small.depth, small.commas, small.longest_string < 0) == (large.depth, large.commas, large.longest_string < 0)


def test_an_over_long_string_hidden_behind_escaped_quotes_is_still_refused():
    lim = jsondoc.Limits(max_string_chars=100)
    for body in ('x' * 101, '\\"' * 101, '\\\\' * 101, '\\u00e9' * 101):
        data = ('{"a": "' + body + '"}').encode()
        try:
            jsondoc.read_json_bytes(data, limits=lim)
        except jsondoc.InputError as exc:
            assert "string of 101 characters" in exc.message
        else:
            raise AssertionError(f"not refused: {body[:12]}…")
    jsondoc.read_json_bytes(('{"a": "' + '\\"' * 100 + '"}').encode(), limits=lim)  # exactly at the limit
