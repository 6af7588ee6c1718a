"""Sources: the long format against the Python registry (known answers), unit rounding in
SQL bit-for-bit, drop reasons, and clear errors. All data SYNTHETIC."""

from __future__ import annotations

import struct

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maswatch import analytes, sources
from maswatch.errors import InputError
from maswatch.sources.normalised import raw_bounds, register_functions, round_significant_sql, unit_rule

from test_sources_support import OBSERVATIONS, UNUSABLE, cohort, expected_ref, expected_value, write_synth_dir


def bits(x):
    return None if x is None else struct.pack("<d", x)


def load(kind, path):
    con = duckdb.connect()
    return con, sources.load(kind, path, con)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    return write_synth_dir(tmp_path_factory.mktemp("syn") / "cohort")


def test_long_parquet_matches_python_registry_row_by_row(synth_dir):
    con, src = load("long", synth_dir)
    got = {(r[0], r[1]): r for r in con.execute(
        "SELECT obs_id, seq, analyte, value, comparator, status, ref_low, ref_high, source_unit FROM obs").fetchall()}
    kept = 0
    for seq, (pid, h, oid, loinc, analyte, value, unit, comp, status, lo, hi) in enumerate(OBSERVATIONS):
        if oid in UNUSABLE:
            assert (oid, seq) not in got
            continue
        kept += 1
        row = got[(oid, seq)]
        assert row[2] == analyte
        assert bits(row[3]) == bits(expected_value(analyte, value, unit)), (oid, row[3])
        assert row[4] == ["", "<", "<=", ">=", ">"].index(comp or "")
        assert row[5] == status
        assert bits(row[6]) == bits(expected_ref(analyte, lo, unit))
        assert bits(row[7]) == bits(expected_ref(analyte, hi, unit))
        assert row[8] == unit
    assert len(got) == kept
    report = {(r["source_code"], r["source_unit"]): (r["reason"], r["rows"]) for r in src.unit_report.to_pylist()}
    assert report == {("48065-7", "ng/mL"): ("refused unit", 1), ("2276-4", "pmol/L"): ("refused unit", 1),
                      ("777-3", "bogus/L"): ("unknown unit", 1), ("2276-4", None): ("missing unit", 1),
                      ("777-3", "10*9/L"): ("implausible value", 1)}
    assert src.counts["observations_read"] == len(OBSERVATIONS)
    assert src.counts["observations_kept"] == kept
    # the drop reasons and the obs filter are one decision
    assert con.execute("SELECT count(*) FROM obs").fetchall()[0][0] == kept
    assert src.counts["dropped_refused_unit"] == 2


def test_known_conversions_land_on_published_values(synth_dir):
    con, _ = load("long", synth_dir)
    v = dict(con.execute("SELECT obs_id, value FROM obs WHERE seq < 30").fetchall())
    assert v["o2"] == 132.0          # 132,000 /uL = 132 x10^9/L
    assert v["o4"] == 131.0          # 1.31 g/L = 131 mg/dL (criteria.md §15.2)
    assert v["o5"] == 38.5           # 101.3 degF = 38.5 Cel (§15.2)
    assert v["o8"] == 3200.0         # 3.2 ug/mL FEU = 3200 ng/mL FEU
    assert v["o9"] == 48.0           # AST 0.80 ukat/L = 48 U/L (§15.2)
    assert v["o12"] == 120.0         # CRP 12 mg/dL = 120 mg/L
    assert round(v["o3"], 3) == 2.992  # TG 265 mg/dL = 2.992 mmol/L (§15.2)
    assert round(v["o11"], 1) == 9.0   # Hb 5.59 mmol/L = 9.0 g/dL (§15.2)


def test_part_files_read_like_one_file(tmp_path):
    one = write_synth_dir(tmp_path / "one")
    parts = write_synth_dir(tmp_path / "parts", parts=True)
    q = "SELECT * EXCLUDE (seq) FROM obs ORDER BY patient_id, time, obs_id, status"
    c1, _ = load("long", one)
    c2, _ = load("long", parts)
    assert c1.execute(q).fetchall() == c2.execute(q).fetchall()
    # source order survives the split: part 0 rows come before part 1 rows
    seqs = [r[0] for r in c2.execute("SELECT seq FROM obs WHERE obs_id = 'o1' ORDER BY seq").fetchall()]
    assert len(seqs) == 2 and seqs[0] < seqs[1]


def _every_spelling_table():
    rows = []
    rng = np.random.default_rng(7)
    for a in analytes.registry().values():
        lo, hi = a.bounds
        for unit, conv in a.units.items():
            # values whose canonical form spans the reported bounds, including their ends, 0 and
            # values between 0 and the lowest bound (accepted only as an exact 0 where zero_reported)
            canon = np.concatenate([[lo, hi, (lo + hi) / 2, 0.0, -0.0, lo / 2, lo / 1000],
                                    rng.uniform(lo, min(hi, lo + 1000), 40)])
            raw = canon * conv.divide / conv.multiply + conv.subtract
            for x in raw:
                rows.append((a.id, float(x), unit))
            rows.append((a.id, float(hi * 2 * conv.divide / conv.multiply + conv.subtract + 1), unit))
            # the exact source-unit ends of the plausible range, and one ulp outside them
            v_lo, v_hi = raw_bounds(conv, lo, hi)
            rows += [(a.id, x, unit) for x in (v_lo, float(np.nextafter(v_lo, -np.inf)), v_hi,
                                               float(np.nextafter(v_hi, np.inf)), 1e-299, 1e-200)]
    return rows


def test_every_registry_spelling_is_bit_identical_to_to_canonical(tmp_path):
    rows = _every_spelling_table()
    t = pa.table({"patient_id": ["SYN-X"] * len(rows), "time": ["2024-01-01T00:00:00Z"] * len(rows),
                  "analyte": [r[0] for r in rows], "value": [r[1] for r in rows], "unit": [r[2] for r in rows],
                  "status": ["final"] * len(rows)})
    pq.write_table(t, tmp_path / "obs.parquet")
    con, src = load("long", tmp_path / "obs.parquet")
    got = dict(con.execute("SELECT seq, value FROM obs").fetchall())
    implausible = 0
    for i, (aid, value, unit) in enumerate(rows):
        try:
            with np.errstate(all="ignore"):
                want = analytes.get(aid).to_canonical(value, unit)
        except analytes.UnitError:
            implausible += 1
            assert i not in got
            continue
        assert bits(got[i]) == bits(want), (aid, value, unit, got[i], want)
    assert implausible > 0 and src.counts["dropped_implausible_value"] == implausible


NON_IDENTITY = sorted({c for a in analytes.registry().values() for c in a.units.values() if not c.is_identity},
                      key=repr)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1,
                max_size=50), st.sampled_from(NON_IDENTITY))
def test_sql_rounding_equals_python_conversion(values, conv):
    con = duckdb.connect()
    register_functions(con)
    con.register("t", pa.table({"x": pa.array(values, pa.float64()),
                                "s": [conv.subtract] * len(values), "m": [conv.multiply] * len(values),
                                "d": [conv.divide] * len(values)}))
    got = con.execute(f"SELECT {round_significant_sql('(((x - s) * m) / d)')} FROM t").fetchnumpy()
    got = next(iter(got.values()))
    want = np.asarray(conv.apply(np.asarray(values)))
    assert got.view(np.int64).tolist() == want.view(np.int64).tolist()


def test_unit_rules_never_guess():
    assert unit_rule("ferritin", None)[3] == "missing unit"
    assert unit_rule("ferritin", "  ")[3] == "missing unit"
    assert unit_rule("ferritin", "pmol/L")[3] == "refused unit"
    assert unit_rule("d_dimer", "ng/mL")[3] == "refused unit"
    assert unit_rule("ferritin", "ng/dL")[3] == "unknown unit"
    assert unit_rule("ferritin", " NG/ML ")[3] is None  # folding, as analytes.fold_unit
    assert unit_rule("fever", None)[3] is None and unit_rule("fever", "Cel")[3] == "unknown unit"
    assert unit_rule("weight", "lb")[0].multiply == 0.45359237 and unit_rule("weight", "st")[3] == "unknown unit"


def _csv(tmp_path, text: str):
    p = tmp_path / "obs.csv"
    p.write_text(text)
    return p


def test_csv_times_comparators_and_codes(tmp_path):
    p = _csv(tmp_path, "\n".join([
        "patient_id,time,loinc,value,unit,status,comparator",
        "P1,2024-05-01T09:00:00+01:00,2276-4,500,ng/mL,final,",
        "P1,2024-05-01 08:30:00,2276-4,600,ng/mL,,>=",
        "P1,not a time,2276-4,700,ng/mL,final,",
        "P1,2024-05-01T10:00:00Z,2276-4,800,ng/mL,final,~",
        "P1,2024-05-01T10:00:00Z,2276-4,800,ng/mL,validated,",
        "P1,2024-05-01T10:00:00Z,2276-4,800,ng/mL, Amended ,",
        "P1,2024-05-01T10:00:00Z,9999-9,1,mg/L,final,",
        "P1,2024-05-01T10:00:00Z,2276-4,,ng/mL,final,",
        ",2024-05-01T10:00:00Z,2276-4,5,ng/mL,final,",
    ]))
    con, src = load("long", p)
    rows = con.execute("SELECT CAST(time AS VARCHAR), value, comparator, status FROM obs ORDER BY seq").fetchall()
    assert rows == [("2024-05-01 08:00:00", 500.0, 0, "final"), ("2024-05-01 08:30:00", 600.0, 3, "final"),
                    ("2024-05-01 10:00:00", 800.0, 0, "amended")]
    c = src.counts
    assert (c["dropped_invalid_time"], c["dropped_invalid_comparator"], c["dropped_unmapped_code"],
            c["dropped_missing_value"], c["dropped_missing_patient"], c["dropped_invalid_status"]) == (1, 1, 1, 1, 1, 1)
    assert con.execute("SELECT typeof(time), typeof(comparator), typeof(value) FROM obs LIMIT 1").fetchall() == [
        ("TIMESTAMP", "TINYINT", "DOUBLE")]


def test_missing_file_table_and_column_are_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load("long", tmp_path / "nope.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="observations"):
        load("long", tmp_path / "empty")
    p = _csv(tmp_path, "patient_id,time,loinc,value,status\nP1,2024-05-01T09:00:00Z,2276-4,5,final\n")
    with pytest.raises(InputError) as e:
        load("long", p)
    assert e.value.field == "observations.unit" and "Expected columns" in str(e.value)
    p = _csv(tmp_path, "patient_id,time,value,unit\nP1,2024-05-01T09:00:00Z,5,ng/mL\n")
    with pytest.raises(InputError, match="loinc"):
        load("long", p)
    with pytest.raises(InputError, match="unknown source kind"):
        load("hl7v2", p)


def test_loinc_only_and_analyte_only_inputs(tmp_path):
    t = cohort()["observations"]
    pq.write_table(t.drop(["analyte"]), tmp_path / "loinc.parquet")
    c1, s1 = load("long", tmp_path / "loinc.parquet")
    # findings and weight need an analyte id: without it they are unmapped codes, counted
    assert s1.counts["dropped_unmapped_code"] == sum(1 for r in OBSERVATIONS if r[3] is None)
    pq.write_table(t.drop(["loinc"]), tmp_path / "analyte.parquet")
    c2, s2 = load("long", tmp_path / "analyte.parquet")
    assert s2.counts["dropped_unmapped_code"] == 0
    q = "SELECT obs_id, seq, value FROM obs WHERE analyte NOT IN ('fever','hepatomegaly','weight','scd25','il18','cxcl9') ORDER BY seq"
    assert c1.execute(q).fetchall() == c2.execute(q).fetchall()


def test_part_files_are_one_scan_with_source_order_across_files(tmp_path):
    """A directory of Parquet parts is read in one scan; ``seq`` still orders rows by
    (file position, row in file), so 'last in source order' means the same as per-file reads."""
    from maswatch.sources._files import scan_sql

    d = tmp_path / "observations"
    d.mkdir()
    files = []
    for k in range(3):
        f = d / f"part-{k:05d}.parquet"
        pq.write_table(pa.table({"obs_id": [f"f{k}-r{r}" for r in range(4)]}), f)
        files.append(f)
    sql = scan_sql(files)
    assert "UNION" not in sql
    rows = duckdb.connect().sql(f"SELECT obs_id, _mw_seq FROM {sql} ORDER BY _mw_seq").fetchall()
    assert [r[0] for r in rows] == [f"f{k}-r{r}" for k in range(3) for r in range(4)]
    assert rows[4][1] == (1 << 40) and rows[-1][1] == (2 << 40) + 3
