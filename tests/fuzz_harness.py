"""Reusable fuzzing for every input path: mutators, hostile cases, targets, outcomes.

Used by the Hypothesis fuzz tests (tests/test_fuzz_*.py, small budget) and by
``benchmarks/fuzz.py`` (large budget, per-input timeout). To fuzz a new parser or
endpoint (FHIR bundles, uploads), give :func:`fuzz_test` a target — a callable taking
bytes that must either return or raise one of the allowed exceptions — and a strategy
(e.g. :func:`mutated`) of bytes::

    test_bundle = fuzz_test(my_target, mutated(MY_SEEDS), max_examples=150)

A target that drives a command returns an :class:`Outcome`; anything but a clean
outcome (a result, a refusal with exit 1 or 2 and a message) is a defect.
"""

from __future__ import annotations

import functools
import json
import random
import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- seeds

SMALL_TIMELINE = {
    "format": "maswatch-timeline/1", "synthetic": True,
    "patient": {"id": "SYN-F1", "birth_date": "2015-03-01", "sex": "female"},
    "conditions": [{"code": "sjia", "onset": "2023-01-10"}],
    "observations": [
        {"id": "w1", "time": "2024-05-01T07:00:00Z", "vital": "weight", "value": 25, "unit": "kg"},
        {"id": "f1", "time": "2024-05-01T08:00:00Z", "analyte": "ferritin", "value": 5400, "unit": "ng/mL"},
        {"id": "p1", "time": "2024-05-01T08:00:00Z", "analyte": "platelets", "value": 150, "unit": "10*9/L"},
        {"id": "a1", "time": "2024-05-01T08:00:00Z", "analyte": "ast", "value": 120, "unit": "U/L"},
        {"id": "t1", "time": "2024-05-01T09:00:00+02:00", "analyte": "temperature", "value": 39.2, "unit": "Cel"},
        {"id": "fb", "time": "2024-05-02T08:00:00Z", "analyte": "fibrinogen", "value": 1.4, "unit": "g/L"},
        {"id": "f2", "time": "2024-05-02T08:00:00Z", "analyte": "ferritin", "value": 12000, "unit": "ug/L",
         "comparator": ">"},
        {"id": "f1", "status": "entered-in-error"},
        {"id": "s1", "time": "2024-05-02T09:00:00Z", "finding": "splenomegaly", "value": True},
    ],
    "medications": [
        {"id": "m1", "drug": "methylprednisolone", "start": "2024-05-02T10:00:00Z", "end": "2024-05-05T10:00:00Z",
         "dose": {"value": 30, "unit": "mg/kg"}, "frequency_per_day": 1, "route": "iv"},
        {"id": "m2", "drug": "prednisolone", "start": "2024-05-05T10:00:00Z", "dose": {"value": 1, "unit": "mg/kg"},
         "frequency_per_day": 2},
        {"id": "m3", "drug": "anakinra", "start": "2024-05-02T12:00:00Z", "dose": {"value": 2, "unit": "mg/kg"}},
    ],
}

SMALL_SNAPSHOT = {
    "id": "SYN-S1", "time": "2024-05-01T08:00:00Z",
    "patient": {"age_years": 7, "context": "sjia"},
    "findings": {"fever": True, "temperature": {"value": 39.1, "unit": "Cel"}, "splenomegaly": True},
    "labs": {"ferritin": {"value": 5400, "unit": "ng/mL"}, "platelets": {"value": 120, "unit": "10*9/L"},
             "ast": {"value": 80, "unit": "U/L"}, "fibrinogen": {"value": 150, "unit": "mg/dL"},
             "triglycerides": {"value": 300, "unit": "mg/dL"}, "esr": {"value": 10, "unit": "mm/h"}},
}


def _load(path: Path) -> bytes:
    return path.read_bytes()


def timeline_seeds() -> list[bytes]:
    return [json.dumps(SMALL_TIMELINE).encode()] + [_load(p) for p in sorted((ROOT / "examples").glob("timeline_*.json"))]


def snapshot_seeds() -> list[bytes]:
    one = json.dumps(SMALL_SNAPSHOT).encode()
    lines = b"\n".join([one, json.dumps({**SMALL_SNAPSHOT, "id": "SYN-S2", "labs": {}}).encode()])
    return [one, lines, _load(ROOT / "examples" / "snapshot.json")]


# --------------------------------------------------------------------------- hostile values

HOSTILE_LITERALS: list[str] = [
    "1e999", "-1e999", "NaN", "Infinity", "-Infinity", "9" * 400, "9" * 5000, "1e-300", "1e300", "-0", "0",
    "1714550400", "123456789012345678901234567890", "true", "null", "[]", "{}", '""',
    '"9999-12-31T23:00:00-05:00"', '"0001-01-01T00:00:00+01:00"', '"9999-12-31"', '"2024-05-01T08:00:00"',
    '"2024-13-45T99:99:99Z"', '"2199-01-01T00:00:00Z"', '"1899-12-31T23:00:00Z"', '"[/]"',
    '"[bold red]:x: PATIENT OK[/bold red]"', '"\\ud800"', '"\\u0000"', '"=cmd|\' /C calc\'!A0"',
    '"' + "x" * 70_000 + '"', "[" * 1000 + "]" * 1000, '{"a":' * 200 + "1" + "}" * 200,
    '"°C"', '"mg/dL"', '"10*9/L"', '"kg"', '"entered-in-error"', '"amended"', '"g/kg"', '"mg/kg"',
]


def hostile_cases() -> list[tuple[str, bytes]]:
    """The hand-written inputs behind each defect of issue 12 (and more of each class)."""
    tl = json.dumps(SMALL_TIMELINE)
    snap = json.dumps(SMALL_SNAPSHOT)
    fer = '{"id": "x", "time": %s, "analyte": "ferritin", "value": %s, "unit": "ng/mL"}'
    med = '{"id": "mx", "drug": "prednisolone", "start": "2024-05-01T08:00:00Z"%s}'

    def tl_obs(o):
        return tl.replace('"observations": [', '"observations": [' + o + ", ", 1).encode()

    def tl_med(m):
        return tl.replace('"medications": [', '"medications": [' + m + ", ", 1).encode()

    cases = [
        ("non-utf8 id", b'{"id": "\xff"}'), ("latin-1 degree", snap.replace("Cel", "\u00b0C").encode("latin-1")),
        ("utf-16", snap.encode("utf-16")), ("utf-32", snap.encode("utf-32")), ("bom", b"\xef\xbb\xbf" + snap.encode()),
        ("deep", b"[" * 1000 + b"]" * 1000), ("deep object", b'{"a":' * 1000 + b"1" + b"}" * 1000),
        ("huge int lab", snap.replace("5400", "9" * 400).encode()),
        ("4300+ digits", snap.replace("5400", "9" * 5000).encode()),
        ("duplicate unit", b'{"labs": {"crp": {"value": 5, "unit": "mg/L", "unit": "ng/mL"}}}'),
        ("NaN", snap.replace("5400", "NaN").encode()), ("Infinity", snap.replace("5400", "Infinity").encode()),
        ("markup unit", snap.replace('"ng/mL"', '"[/]"').encode()), ("markup id", snap.replace("SYN-S1", "[/]").encode()),
        ("spoof id", snap.replace("SYN-S1", "[bold red]:x: PATIENT OK[/bold red]").encode()),
        ("1 MB unit", snap.replace('"ng/mL"', '"' + "u" * 1_000_000 + '"').encode()),
        ("empty", b""), ("blank lines", b"\n\n  \n"), ("not json", b"{not json"),
        ("array of junk", b"[1, \"a\", null, {}]"), ("lone surrogate", b'{"id": "\\ud800"}'),
        ("tl 9999 ferritin", tl_obs(fer % ('"9999-12-31T23:00:00-05:00"', "5000"))),
        ("tl 9999 ferritin Z", tl_obs(fer % ('"9999-01-01T00:00:00Z"', "5000"))),
        ("tl 2199 ferritin", tl_obs(fer % ('"2199-01-01T00:00:00Z"', "5000"))),
        ("tl year 1", tl_obs(fer % ('"0001-01-01T00:00:00+01:00"', "5000"))),
        ("tl unix time", tl_obs(fer % ("1714550400", "5000"))),
        ("tl huge int", tl_obs(fer % ('"2024-05-01T08:00:00Z"', "1" + "0" * 400))),
        ("tl med end 9999", tl_med(med % ', "end": "9999-12-31T00:00:00Z", "dose": {"value": 2, "unit": "mg/kg"}')),
        ("tl med end date 9999", tl_med(med % ', "end": "9999-12-31"')),
        ("tl freq 1e-300", tl_med(med % ', "frequency_per_day": 1e-300, "dose": {"value": 2, "unit": "mg"}')),
        ("tl dose 1e300", tl_med(med % ', "dose": {"value": 1e300, "unit": "mg"}')),
        ("tl dose 1e15", tl_med(med % ', "dose": {"value": 1e15, "unit": "g/kg"}')),
        ("tl markup", tl_obs('{"id": "[/]", "time": "2024-05-01T08:00:00Z", "analyte": "ferritin", '
                             '"value": 5000, "unit": "[/]"}')),
        ("tl markup patient", tl.replace("SYN-F1", "[bold red]:x: PATIENT OK[/bold red]").encode()),
        ("tl markup note", tl_obs('{"id": "n", "time": "2024-05-01T08:00:00Z", "analyte": "crp", "value": 5, '
                                  '"unit": "mg/L", "note": "[/]", "source": "[blink]x"}')),
        ("tl same-instant weights", tl_obs('{"id": "w9", "time": "2024-05-01T07:00:00Z", "vital": "weight", '
                                           '"value": 40, "unit": "kg"}')),
    ]
    return cases


# --------------------------------------------------------------------------- mutation


def _nodes(obj, path=()):
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _nodes(v, path + (i,))


def _set(obj, path, value):
    if not path:
        return value
    cur = obj
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return obj


MARK = "\u0001HOSTILE\u0001"


def _structural(rng: random.Random, data: bytes) -> bytes:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return _bytewise(rng, data)
    nodes = list(_nodes(obj))
    path, node = nodes[rng.randrange(len(nodes))]
    op = rng.randrange(9)
    raw = None
    if op <= 2:  # replace a value by a hostile literal (raw: NaN, 1e999 ... cannot be dumped)
        raw = rng.choice(HOSTILE_LITERALS)
        obj = _set(obj, path, MARK)
    elif op == 3 and isinstance(node, dict) and node:  # delete a key
        del node[rng.choice(list(node))]
    elif op == 4 and isinstance(node, list) and node:  # repeat / shuffle items
        if rng.random() < 0.5:
            node.extend(rng.choice(node) for _ in range(rng.randrange(1, 50)))
        rng.shuffle(node)
    elif op == 5 and isinstance(node, dict) and node:  # a duplicate key, raw
        k = rng.choice(list(node))
        text = json.dumps(obj)
        needle = json.dumps(k) + ":"
        return text.replace(needle, needle + " " + rng.choice(HOSTILE_LITERALS) + ", " + needle, 1).encode()
    elif op == 6:  # an unknown key or a changed type
        obj = _set(obj, path, rng.choice([{}, [], "", 0, -1, 1.5, True, None, {"zz": 1}, [node]]))
    elif op == 7 and isinstance(node, str):  # nudge a string (a time, a unit, a code)
        s = list(node)
        if s:
            s[rng.randrange(len(s))] = rng.choice("0129Z+-:T.[]/ \u00b0\u00b5x")
        obj = _set(obj, path, "".join(s))
    else:  # nest the node deeper
        obj = _set(obj, path, [[node]] if rng.random() < 0.5 else {"a": node})
    text = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
    if raw is not None:
        text = text.replace(json.dumps(MARK), raw, 1)
    return text.encode("utf-8", "surrogatepass")


def _bytewise(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(4)
        if not b:
            b.extend(rng.randbytes(rng.randrange(1, 8)))
        elif op == 0:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            i = rng.randrange(len(b))
            del b[i:i + rng.randrange(1, 16)]
        elif op == 2:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.choice([b"{", b"}", b"[", b"]", b'"', b",", b":", b"\\", b"\xff", b"\x00", b"\n", b"1e999",
                                 b"NaN", b"-", b"9" * 30])
        else:
            del b[rng.randrange(len(b)):]
    return bytes(b)


_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T")
_UNITS = ["ng/mL", "ug/L", "mg/L", "10*9/L", "/uL", "U/L", "mg/dL", "g/L", "mmol/L", "Cel", "[degF]", "mm/h", "kg",
          "mg", "mg/kg", "g", "g/kg"]


def _gentle(rng: random.Random, data: bytes) -> bytes:
    """Mutations that mostly keep a document valid, to reach deep code: other numbers, other
    valid times, units, statuses and comparators; items dropped, repeated, reordered."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return _bytewise(rng, data)
    for _ in range(rng.randrange(1, 4)):
        nodes = list(_nodes(obj))
        path, node = nodes[rng.randrange(len(nodes))]
        key = path[-1] if path else None
        if isinstance(node, bool) or node is None:
            obj = _set(obj, path, rng.choice([True, False, None]))
        elif isinstance(node, (int, float)):
            obj = _set(obj, path, rng.choice([node * rng.uniform(0, 3), round(node * rng.uniform(0.5, 2)),
                                              rng.choice([0, 1, 0.5, 24, 100, 1e6, -1])]))
        elif isinstance(node, str) and _TIME.match(node):
            y, d, h = rng.choice([2023, 2024, 2024, 2025]), rng.randrange(1, 28), rng.randrange(24)
            off = rng.choice(["Z", "+02:00", "-05:00", "+14:00", "-12:00"])
            obj = _set(obj, path, f"{y}-{rng.randrange(1, 13):02d}-{d:02d}T{h:02d}:{rng.randrange(60):02d}:00{off}")
        elif isinstance(node, str) and key == "unit":
            obj = _set(obj, path, rng.choice(_UNITS))
        elif isinstance(node, str) and key == "status":
            obj = _set(obj, path, rng.choice(["final", "preliminary", "amended", "corrected", "entered-in-error",
                                              "cancelled", "registered"]))
        elif isinstance(node, dict) and "value" in node and rng.random() < 0.5:
            node["comparator"] = rng.choice(["<", "<=", ">=", ">"])
        elif isinstance(node, list) and node:
            op = rng.randrange(3)
            if op == 0:
                node.pop(rng.randrange(len(node)))
            elif op == 1:
                item = json.loads(json.dumps(rng.choice(node)))
                if isinstance(item, dict) and "id" in item and rng.random() < 0.7:
                    item["id"] = f"{item['id']}-{rng.randrange(10**6)}"
                node.append(item)
            else:
                rng.shuffle(node)
    return json.dumps(obj).encode()


def mutate(rng: random.Random, seed: bytes) -> bytes:
    """One mutation of ``seed``: gentle (mostly valid), structural (JSON-aware, hostile
    values) or byte-level; now and then re-encoded (UTF-16, Latin-1)."""
    r = rng.random()
    out = _gentle(rng, seed) if r < 0.45 else _structural(rng, seed) if r < 0.8 else _bytewise(rng, seed)
    if rng.random() < 0.2:
        out = _structural(rng, out)
    r = rng.random()
    if r < 0.02:
        out = out.decode("utf-8", "replace").encode("utf-16")
    elif r < 0.04:
        out = out.decode("utf-8", "replace").encode("latin-1", "replace")
    return out


def mutated(seeds: list[bytes], hostile: list[bytes] = ()) -> st.SearchStrategy[bytes]:
    """Mutated seeds, and the hostile cases as they are (Hypothesis picks, shrinks the choice)."""
    pool = list(seeds)
    muts = st.builds(lambda r, s: mutate(r, s), st.randoms(use_true_random=False), st.sampled_from(pool))
    return st.one_of(muts, st.sampled_from(list(hostile))) if hostile else muts


# --------------------------------------------------------------------------- targets and outcomes


@dataclass(frozen=True)
class Outcome:
    """``ok``: a clean result or refusal. Else ``crash`` (an exception escaped, or a wrong exit
    code) or ``malformed`` (output not strict JSON, or markup rendered from input)."""

    kind: str
    cause: str = ""
    detail: str = ""


def _strict(text: str) -> None:
    def refuse(c):
        raise ValueError(f"non-standard JSON constant {c}")

    for line in text.splitlines():
        if line.strip():
            json.loads(line, parse_constant=refuse)


def cause_of(exc: BaseException) -> str:
    """A stable name of a crash: the exception type and the innermost maswatch frame."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "maswatch" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}"


@functools.cache
def _command():
    """The Click command of the maswatch app, built once (Typer rebuilds it per invoke)."""
    import typer

    from maswatch.cli import app

    return typer.main.get_command(app)


def run_command(args: list[str], data: bytes, *, json_out: bool) -> Outcome:
    """Run a maswatch command on ``data`` (stdin) as a user would; classify the outcome."""
    from click.testing import CliRunner

    r = CliRunner().invoke(_command(), args, input=data)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        return Outcome("crash", cause_of(r.exception), "".join(traceback.format_exception(r.exception))[-2000:])
    if r.exit_code not in (0, 1, 2):
        return Outcome("crash", f"exit code {r.exit_code}", r.output[-500:])
    if r.exit_code == 2 and not r.stderr.strip():
        return Outcome("malformed", "exit 2 without a message")
    if len(r.stderr) > 20_000:
        return Outcome("malformed", "unbounded message", r.stderr[:200])
    if json_out:
        try:
            _strict(r.stdout)
        except ValueError as exc:
            return Outcome("malformed", f"not strict JSON: {str(exc)[:60]}", r.stdout[:300])
    elif "PATIENT OK" in r.stdout + r.stderr and "[bold red]" not in r.stdout + r.stderr:
        return Outcome("malformed", "markup from input rendered")
    return Outcome("ok")


def target_reader(data: bytes) -> Outcome:
    from maswatch import jsondoc
    from maswatch.errors import InputError

    try:
        obj = jsondoc.read_json_bytes(data, what="document")
    except InputError:
        return Outcome("ok")
    except Exception as exc:  # noqa: BLE001 — classifying is the point
        return Outcome("crash", cause_of(exc))
    try:
        _strict(json.dumps(obj, allow_nan=False))
    except ValueError as exc:
        return Outcome("malformed", f"reader let through {exc}")
    return Outcome("ok")


def target_reader_paths(data: bytes) -> Outcome:
    """The reader's fast path (orjson, trusted only where the raw bytes prove every limit) reads only
    what its exact path (json.loads with hooks) reads, to the same object (repr: types, -0.0, order)."""
    from maswatch import jsondoc
    from maswatch.errors import InputError

    try:
        fast = jsondoc._fast(data, jsondoc.DEFAULT_LIMITS)
        if fast is jsondoc._DOUBT:
            return Outcome("ok")
        exact = jsondoc._exact(data, jsondoc.DEFAULT_LIMITS, "document")
    except InputError as exc:
        return Outcome("malformed", "the fast path read what the exact path refuses", str(exc)[:300])
    except Exception as exc:  # noqa: BLE001 — classifying is the point
        return Outcome("crash", cause_of(exc))
    if repr(fast) != repr(exact):
        return Outcome("malformed", "the paths read different objects", f"{fast!r:.150} / {exact!r:.150}")
    return Outcome("ok")


def target_evaluate(data: bytes, json_out: bool = True) -> Outcome:
    return run_command(["evaluate", "-"] + (["--json"] if json_out else []), data, json_out=json_out)


def target_assess(data: bytes, json_out: bool = True) -> Outcome:
    return run_command(["assess", "-"] + (["--json"] if json_out else []), data, json_out=json_out)


def fuzz_test(target: Callable[[bytes], Outcome], strategy: st.SearchStrategy[bytes], max_examples: int = 100,
              deadline_ms: int | None = 5000):
    """A Hypothesis test of ``target`` over ``strategy``: every outcome must be clean."""

    @settings(max_examples=max_examples, deadline=deadline_ms, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(strategy)
    def test(data: bytes) -> None:
        out = target(data)
        assert out.kind == "ok", f"{out.kind}: {out.cause}\n{out.detail}\ninput: {data[:300]!r}"

    return test


