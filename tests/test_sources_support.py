"""A small SYNTHETIC cohort in the generator's output shape, shared by the source tests.

Not a test module (no tests): imported by tests/test_sources*.py.
"""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pyarrow.parquet as pq

from maswatch import analytes
from maswatch.errors import UnitError

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _h(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


# (patient, hours after T0, obs_id, loinc, analyte, value, unit, comparator, status, ref_low, ref_high)
OBSERVATIONS = [
    ("SYN-000001", 0, "o1", "2276-4", "ferritin", 5400.0, "ng/mL", None, "final", 15.0, 150.0),
    ("SYN-000001", 0, "o2", "777-3", "platelets", 132000.0, "/uL", None, "preliminary", 150000.0, 400000.0),
    ("SYN-000001", 0, "o3", "2571-8", "triglycerides", 265.0, "mg/dL", None, "final", None, 150.0),
    ("SYN-000001", 0.5, "o4", "3255-7", "fibrinogen", 1.31, "g/L", None, "final", 2.0, 4.0),
    ("SYN-000001", 0.5, "o5", "8310-5", "temperature", 101.3, "[degF]", None, "final", None, None),
    ("SYN-000001", 0.5, "o6", None, "fever", 1.0, None, None, "final", None, None),
    ("SYN-000001", 0.5, "o7", None, "weight", 28.5, "kg", None, "final", None, None),
    ("SYN-000001", 1, "o8", "48065-7", "d_dimer", 3.2, "ug/mL{FEU}", None, "final", None, 0.5),
    ("SYN-000001", 1, "o9", "1920-8", "ast", 0.8, "ukat/L", None, "final", None, None),
    ("SYN-000001", 1, "o10", "2276-4", "ferritin", 40000.0, "ug/L", ">", "final", None, None),
    ("SYN-000001", 1, "o11", "59260-0", "hemoglobin", 5.59, "mmol/L", None, "final", None, None),
    ("SYN-000001", 1, "o12", "1988-5", "crp", 12.0, "mg/dL", None, "final", None, 0.5),
    ("SYN-000001", 1, "o13", "4537-7", "esr", 40.0, "mm/h", None, "final", None, 20.0),
    ("SYN-000001", 1, "o14", "2532-0", "ldh", 600.0, "U/L", None, "final", None, None),
    ("SYN-000001", 1, "o15", "1742-6", "alt", 100.0, "IU/L", None, "final", None, None),
    ("SYN-000001", 1, "o16", "6690-2", "wbc", 2.1, "10*9/L", None, "final", 4.0, 11.0),
    ("SYN-000001", 1, "o17", "751-8", "neutrophils", 0.9, "10*3/uL", None, "final", None, None),
    ("SYN-000001", 2, "o18", None, "scd25", 3000.0, "U/mL", None, "final", None, None),
    ("SYN-000001", 2, "o19", None, "il18", 50.0, "ng/mL", None, "final", None, None),
    ("SYN-000001", 2, "o20", None, "cxcl9", 2000.0, "pg/mL", None, "final", None, None),
    ("SYN-000001", 3, "o1", "2276-4", "ferritin", 5600.0, "ng/mL", None, "amended", 15.0, 150.0),
    ("SYN-000001", 3, "o21", "48065-7", "d_dimer", 900.0, "ng/mL{FEU}", None, "final", None, None),
    ("SYN-000002", 0, "e1", "2276-4", "ferritin", 900.0, "ng/mL", None, "final", None, None),
    ("SYN-000002", 0, "e1", "2276-4", "ferritin", 900.0, "ng/mL", None, "entered-in-error", None, None),
    ("SYN-000002", 1, "e2", "48065-7", "d_dimer", 900.0, "ng/mL", None, "final", None, None),  # refused
    ("SYN-000002", 1, "e3", "2276-4", "ferritin", 5.0, "pmol/L", None, "final", None, None),  # refused
    ("SYN-000002", 1, "e4", "777-3", "platelets", 100.0, "bogus/L", None, "final", None, None),  # unknown
    ("SYN-000002", 1, "e5", "2276-4", "ferritin", 300.0, None, None, "final", None, None),  # missing unit
    ("SYN-000002", 1, "e6", "777-3", "platelets", 150000.0, "10*9/L", None, "final", None, None),  # implausible
    ("SYN-000002", 2, "e7", None, "hepatomegaly", 0.0, None, None, "final", None, None),
    ("SYN-000002", 2, "e8", "8310-5", "temperature", 38.9, "Cel", None, "final", None, None),
    ("SYN-000002", 2, "e9", "718-7", "hemoglobin", 7.9, "g/dL", None, "corrected", 11.5, 15.5),
    ("SYN-000003", 5, "p1", "1988-5", "crp", 0.5, "mg/L", "<", "final", None, 5.0),
    ("SYN-000003", 5.25, "p2", "777-3", "platelets", 181.0, "10^9/L", None, "final", None, None),
    ("SYN-000004", 24, "q1", "2276-4", "ferritin", 12000.0, "ug/dL", None, "final", None, None),
]
UNUSABLE = {"e2": "refused unit", "e3": "refused unit", "e4": "unknown unit", "e5": "missing unit",
            "e6": "implausible value"}

PATIENTS = [("SYN-000001", dt.date(2015, 3, 14), "female"), ("SYN-000002", dt.date(2009, 11, 2), "male"),
            ("SYN-000003", dt.date(1990, 6, 30), "female"), ("SYN-000004", dt.date(2001, 1, 1), "male")]
CONDITIONS = [("SYN-000001", "sjia", _h(-24 * 400), "M08.20"), ("SYN-000002", "sle", _h(-24 * 30), "M32.9"),
              ("SYN-000003", "aosd", _h(-24 * 10), "M06.1"), ("SYN-000004", "infection", _h(12), "A41.9")]
MEDICATIONS = [("SYN-000001", "m1", "methylprednisolone", _h(4), _h(76), 30.0, "mg/kg", 1.0, "iv"),
               ("SYN-000001", "m2", "anakinra", _h(5), None, 2.0, "mg/kg", 2.0, "sc"),
               ("SYN-000002", "m3", "ciclosporin", _h(2), _h(200), 5.0, "mg/kg", 2.0, "oral")]


def cohort() -> dict[str, pa.Table]:
    o = list(zip(*OBSERVATIONS))
    obs = pa.table({
        "patient_id": pa.array(o[0], pa.string()), "time": pa.array([_h(h) for h in o[1]], TS),
        "obs_id": pa.array(o[2], pa.string()), "loinc": pa.array(o[3], pa.string()),
        "analyte": pa.array(o[4], pa.string()), "value": pa.array(o[5], pa.float64()),
        "unit": pa.array(o[6], pa.string()), "comparator": pa.array(o[7], pa.string()),
        "status": pa.array(o[8], pa.string()), "ref_low": pa.array(o[9], pa.float64()),
        "ref_high": pa.array(o[10], pa.float64()),
    })
    p = list(zip(*PATIENTS))
    patients = pa.table({"patient_id": p[0], "birth_date": pa.array(p[1], pa.date32()), "sex": p[2],
                         "archetype": ["fixture"] * len(PATIENTS), "synthetic": [True] * len(PATIENTS)})
    c = list(zip(*CONDITIONS))
    conditions = pa.table({"patient_id": c[0], "code": c[1], "onset": pa.array(c[2], TS), "icd10": c[3],
                           "snomed": pa.array([None] * len(CONDITIONS), pa.string())})
    m = list(zip(*MEDICATIONS))
    meds = pa.table({"patient_id": m[0], "med_id": m[1], "drug": m[2], "start": pa.array(m[3], TS),
                     "end": pa.array(m[4], TS), "dose_value": pa.array(m[5], pa.float64()), "dose_unit": m[6],
                     "frequency_per_day": pa.array(m[7], pa.float64()), "route": m[8]})
    return {"observations": obs, "patients": patients, "conditions": conditions, "medications": meds}


def write_synth_dir(root, tables: dict[str, pa.Table] | None = None, parts: bool = False):
    """Write the cohort like ``maswatch synth --out`` (one file per table, or part files)."""
    tables = tables or cohort()
    root.mkdir(parents=True, exist_ok=True)
    for name, t in tables.items():
        if parts:
            (root / name).mkdir(exist_ok=True)
            half = t.num_rows // 2
            pq.write_table(t.slice(0, half), root / name / "part-00000.parquet", compression="zstd")
            pq.write_table(t.slice(half), root / name / "part-00001.parquet", compression="zstd")
        else:
            pq.write_table(t, root / f"{name}.parquet", compression="zstd")
    (root / "README.txt").write_text("SYNTHETIC test fixture\n")
    return root


def expected_value(analyte: str, value: float, unit: str | None):
    """The canonical value the registry gives in Python, or None if refused."""
    if analyte in ("fever", "hepatomegaly"):
        return value
    if analyte == "weight":
        return value
    try:
        return analytes.get(analyte).to_canonical(value, unit)
    except UnitError:
        return None


def expected_ref(analyte: str, ref, unit):
    if ref is None or analyte in ("fever", "hepatomegaly", "weight"):
        return ref
    return float(analytes.get(analyte).conversion(unit).apply(float(ref)))


def resolved(rows: list[dict]) -> list[dict]:
    """docs/evaluation-points.md step 1 in plain Python (an independent check of the writers)."""
    removed = {r["obs_id"] for r in rows if r["status"] in ("entered-in-error", "cancelled")}
    best: dict[str, tuple] = {}
    for i, r in enumerate(rows):
        if r["obs_id"] in removed:
            continue
        rank = (r["status"] in ("amended", "corrected"), i)
        if r["obs_id"] not in best or rank > best[r["obs_id"]][0]:
            best[r["obs_id"]] = (rank, r)
    return [v[1] for v in sorted(best.values(), key=lambda v: v[0][1])]


def same_float(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b
