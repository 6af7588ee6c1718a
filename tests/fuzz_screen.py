"""Fuzzing the screen's source readers: long CSV, long Parquet and FHIR Bulk NDJSON.

Seeds, mutators and targets for tests/test_fuzz_screen.py (small budget) and
``benchmarks/fuzz_screen.py`` (large budget). A target writes the bytes as a source file,
reads it the way ``maswatch screen`` does (``sources.load``, the ``obs_rows`` stream the
engine scans, the side tables, the unit report) and classifies the outcome with the shared
harness (tests/fuzz_harness.py): a result or an :class:`InputError` is clean; any other
exception is a crash. ``target_screen_cli`` runs the whole command and checks the exit
contract (0, 1 or 2 with a bounded one-line message).
"""

from __future__ import annotations

import io
import json
import random
import tempfile
from pathlib import Path

import fuzz_harness as fh

CSV_HEADER = ["patient_id", "time", "obs_id", "loinc", "analyte", "value", "unit", "comparator", "status"]
CSV_ROWS = [
    ["SYN-1", "2024-05-01T08:00:00Z", "o1", "2276-4", "ferritin", "5400", "ng/mL", "", "final"],
    ["SYN-1", "2024-05-01T08:00:00Z", "o2", "777-3", "platelets", "120", "10*9/L", "", "final"],
    ["SYN-1", "2024-05-02T08:00:00+02:00", "o3", "2276-4", "ferritin", "12000", "ug/L", ">", "preliminary"],
    ["SYN-1", "2024-05-02T08:00:00Z", "o1", "2276-4", "ferritin", "5600", "ng/mL", "", "amended"],
    ["SYN-2", "2024-05-03T09:30:00Z", "o4", "1920-8", "ast", "80", "U/L", "", "final"],
    ["SYN-2", "2024-05-03T09:30:00Z", "o5", "", "temperature", "39.2", "Cel", "", "final"],
]
HOSTILE_CELLS = [
    "", '"', '"P2', 'P"2', "abc", "75,5", "1e999", "-1e999", "NaN", "inf", "9" * 400, "1e-320", "-0",
    "=HYPERLINK(\"x\")", "+1", "-x", "@SUM(A1)", "\t", "\r", "\n", "[/]", "[bold red]OK[/bold red]",
    "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00Z", "2024-13-45T99:99:99Z", "1714550400", "2024-05-01",
    "\u00b0C", "\u00b5g/L", "x" * 5000, "entered-in-error", "cancelled", "bogus", "<", ">=", "~", "\x00",
]


def csv_seed() -> bytes:
    buf = io.StringIO()
    import csv

    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    w.writerows(CSV_ROWS)
    return buf.getvalue().encode()


def ndjson_seed() -> bytes:
    def obs(i, pid, t, loinc, value, unit, status="final"):
        return {"resourceType": "Observation", "id": f"o{i}", "status": status, "subject": {"reference": f"Patient/{pid}"},
                "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]}, "effectiveDateTime": t,
                "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}

    lines = [obs(1, "SYN-1", "2024-05-01T08:00:00Z", "2276-4", 5400, "ng/mL"),
             obs(2, "SYN-1", "2024-05-01T08:00:00Z", "777-3", 120, "10*9/L"),
             obs(3, "SYN-2", "2024-05-02T08:00:00+02:00", "1920-8", 80, "U/L", "preliminary"),
             obs(1, "SYN-1", "2024-05-01T08:00:00Z", "2276-4", 5600, "ng/mL", "amended")]
    return b"\n".join(json.dumps(x).encode() for x in lines) + b"\n"


def mutate_csv(rng: random.Random, data: bytes) -> bytes:
    """CSV-aware mutations (hostile cells, stray quotes, wrong field counts, dropped or
    repeated lines), now and then byte-level or re-encoded."""
    if rng.random() < 0.25:
        return fh._bytewise(rng, data)
    lines = data.decode("utf-8", "replace").split("\n")
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(lines))
        cells = lines[i].split(",")
        op = rng.randrange(6)
        if op <= 2:
            cells[rng.randrange(len(cells))] = rng.choice(HOSTILE_CELLS)
        elif op == 3:
            cells = cells[: rng.randrange(len(cells) + 1)] if rng.random() < 0.5 else cells + ["extra"]
        elif op == 4:
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        else:
            lines.pop(i) if len(lines) > 1 else None
            continue
        lines[i] = ",".join(cells)
    out = "\n".join(lines)
    r = rng.random()
    if r < 0.05:
        return out.encode("latin-1", "replace")
    if r < 0.07:
        return out.encode("utf-16")
    return out.encode("utf-8", "surrogatepass")


def mutate_ndjson(rng: random.Random, data: bytes) -> bytes:
    """One line through the shared JSON-aware mutator, or byte-level damage."""
    if rng.random() < 0.2:
        return fh._bytewise(rng, data)
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    lines[i] = fh.mutate(rng, lines[i] or b"{}").replace(b"\n", b" ")
    return b"\n".join(lines)


def parquet_from_csv(data: bytes, rng: random.Random) -> bytes:
    """A Parquet file of a (mutated) CSV's rows: text columns, or some typed as the engine
    would meet them (numbers, timestamps, booleans); now and then truncated or damaged."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        t = pacsv.read_csv(io.BytesIO(data), read_options=pacsv.ReadOptions(use_threads=False),
                           convert_options=pacsv.ConvertOptions(strings_can_be_null=True) if rng.random() < 0.5 else
                           pacsv.ConvertOptions(column_types={c: pa.string() for c in CSV_HEADER}))
    except (pa.ArrowInvalid, ValueError):
        t = pa.table({c: [None] for c in CSV_HEADER})
    buf = io.BytesIO()
    pq.write_table(t, buf)
    raw = buf.getvalue()
    r = rng.random()
    if r < 0.15:
        return raw[: rng.randrange(len(raw))]
    if r < 0.25:
        return fh._bytewise(rng, raw)
    return raw


# ------------------------------------------------------------------ targets


def _read_like_the_screen(kind: str, path: Path) -> None:
    import duckdb

    from maswatch import sources
    from maswatch.screen import SOURCE_ERRORS, source_error

    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        loaded = sources.load(kind, path, con)
        con.sql("SELECT count(*), sum(hash(patient_id, time, analyte, value, reason)) FROM obs_rows").fetchall()
        for t in ("patients", "conditions", "medications"):
            con.sql(f"SELECT count(*) FROM {t}").fetchall()
        loaded.unit_report
        loaded.counts
    except SOURCE_ERRORS as exc:
        raise source_error(exc, path) from None
    finally:
        con.close()


def _target(kind: str, name: str, data: bytes) -> fh.Outcome:
    from maswatch.errors import InputError

    with tempfile.TemporaryDirectory(prefix="mw-fuzz-") as d:
        src = Path(d) / "src"
        src.mkdir()
        (src / name).write_bytes(data)
        try:
            _read_like_the_screen(kind, src)
        except InputError as exc:
            if len(str(exc)) > 1_000:
                return fh.Outcome("malformed", "unbounded message", str(exc)[:200])
            return fh.Outcome("ok")
        except Exception as exc:  # noqa: BLE001 — classifying is the point
            return fh.Outcome("crash", fh.cause_of(exc))
    return fh.Outcome("ok")


def target_long_csv(data: bytes) -> fh.Outcome:
    return _target("long", "observations.csv", data)


def target_long_parquet(data: bytes) -> fh.Outcome:
    return _target("long", "observations.parquet", data)


def target_fhir_ndjson(data: bytes) -> fh.Outcome:
    return _target("fhir", "Observation.ndjson", data)


def target_screen_cli(data: bytes) -> fh.Outcome:
    """The whole ``maswatch screen`` on a long CSV: exit 0/1/2, a bounded message."""
    with tempfile.TemporaryDirectory(prefix="mw-fuzz-") as d:
        src = Path(d) / "src"
        src.mkdir()
        (src / "observations.csv").write_bytes(data)
        out = fh.run_command(["screen", str(src), "--out", str(Path(d) / "out"), "--threads", "1"], b"",
                             json_out=False)
        if out.kind == "ok" and (Path(d) / "out").exists():
            for f in (Path(d) / "out").glob("*.json"):
                try:
                    json.loads(f.read_text(), parse_constant=_refuse)
                except ValueError as exc:
                    return fh.Outcome("malformed", f"{f.name} not strict JSON: {exc}")
        return out


def _refuse(constant: str):
    raise ValueError(f"non-standard JSON constant {constant}")


TARGETS = {"long-csv": (target_long_csv, csv_seed, mutate_csv),
           "long-parquet": (target_long_parquet, csv_seed, None),
           "fhir-ndjson": (target_fhir_ndjson, ndjson_seed, mutate_ndjson)}
"""name -> (target, seed, mutator); Parquet inputs are made by :func:`parquet_from_csv`."""


def case(name: str, rng: random.Random) -> bytes:
    """One mutated input for target ``name``."""
    target, seed, mutator = TARGETS[name]
    if name == "long-parquet":
        return parquet_from_csv(mutate_csv(rng, seed()), rng)
    return mutator(rng, seed())
