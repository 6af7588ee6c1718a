"""Synthetic cohort generator: determinism, output contract, units, values, data quality."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maswatch import analytes, synth
from maswatch.synth import params, sampling
from maswatch.synth.model import simulate_patient
from maswatch.synth.writers import SCHEMAS

SEED = 20261121


@pytest.fixture(scope="module")
def small():
    return synth.cohort(150, SEED)


@pytest.fixture(scope="module")
def enriched():
    return synth.cohort(250, SEED, synth.SynthOptions(mas_ever_scale=4.0))


def _read(dir_: Path, table: str) -> pa.Table:
    return ds.dataset(dir_ / table, format="parquet").to_table()


def _files(dir_: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dir_)): p.read_bytes() for p in sorted(dir_.rglob("*.parquet"))}


def test_same_seed_gives_byte_identical_parquet(tmp_path):
    a = synth.generate(tmp_path / "a", 40, 7, chunk_patients=15)
    synth.generate(tmp_path / "b", 40, 7, chunk_patients=15)
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(fa) == 3 * len(synth.TABLES) and fa == fb
    assert a.rows["patients"] == 40 and a.rows["observations"] > 40 * 50


def test_chunk_size_and_workers_do_not_change_rows(tmp_path):
    ref = synth.cohort(30, 3, chunk_patients=30)
    synth.generate(tmp_path / "w", 30, 3, workers=2, chunk_patients=7)
    for t in synth.TABLES:
        got = _read(tmp_path / "w", t)
        assert got.schema.equals(SCHEMAS[t]), t  # plain strings, UTC timestamps: the contract
        assert got.equals(ref[t]), t
    other = synth.cohort(30, 4)
    assert not other["observations"].equals(ref["observations"])


def test_output_contract_schemas_and_labels(small, tmp_path):
    for t, schema in SCHEMAS.items():
        assert small[t].schema.equals(schema), t
    assert pc.all(small["patients"]["synthetic"]).as_py()
    ids = small["patients"]["patient_id"].to_pylist()
    assert ids[0] == "SYN-000001" and len(set(ids)) == len(ids)
    o = small["observations"]
    assert set(pc.unique(o["status"]).to_pylist()) <= set(sampling.STATUSES)
    assert set(pc.unique(o["comparator"]).to_pylist()) <= {None, "<", "<=", ">=", ">"}
    assert set(pc.unique(small["patients"]["archetype"]).to_pylist()) <= set(params.ARCHETYPES)
    synth.generate(tmp_path / "r", 3, 1)
    readme = (tmp_path / "r" / "README.txt").read_text()
    assert readme.startswith("SYNTHETIC DATA") and "seed 1" in readme and params.GENERATOR_VERSION in readme
    with pytest.raises(FileExistsError):
        synth.generate(tmp_path / "r", 3, 1)
    with pytest.raises(ValueError, match="format"):
        synth.generate(tmp_path / "x", 3, 1, formats=("xlsx",))


def test_every_unit_is_accepted_and_every_value_plausible(enriched):
    o = enriched["observations"].to_pandas()
    findings = o.analyte.isin(sampling.FINDINGS)
    assert o.loc[findings, "unit"].isna().all() and o.loc[findings, "loinc"].isna().all()
    assert set(o.loc[findings, "value"]) <= {0.0, 1.0}
    w = o[o.analyte == "weight"]
    assert (w.unit == "kg").all() and w.value.between(2, 200).all()
    labs = o[~findings & (o.analyte != "weight")]
    by_loinc = analytes.by_loinc()
    for (a, u), g in labs.groupby(["analyte", "unit"]):
        an = analytes.get(a)
        canon = np.asarray(an.conversion(u).apply(g.value.to_numpy()))  # raises UnitError if refused
        assert an.plausible_mask(canon).all(), (a, u)
        codes = set(g.loinc.dropna())
        assert all(by_loinc[c] == a for c in codes), (a, codes)
        both = g.ref_low.notna() & g.ref_high.notna()
        assert (g.ref_low[both] < g.ref_high[both]).all(), (a, u)
    # unit variety, as labs report them
    pairs = set(zip(labs.analyte, labs.unit))
    for want in [("triglycerides", "mg/dL"), ("triglycerides", "mmol/L"), ("fibrinogen", "g/L"),
                 ("fibrinogen", "mg/dL"), ("platelets", "/uL"), ("hemoglobin", "g/L"), ("temperature", "[degF]"),
                 ("temperature", "Cel")]:
        assert want in pairs, want


def test_values_are_rounded_as_the_lab_reports(small):
    o = small["observations"].to_pandas()
    o = o[~o.analyte.isin(sampling.FINDINGS)]
    for (a, u), g in o.groupby(["analyte", "unit"]):
        if a == "weight":
            d = 1
        else:
            an = analytes.get(a)
            mul = an.conversion(u).divide / an.conversion(u).multiply
            d = params.UNIT_DECIMALS.get((a, u), an.decimals - round(math.log10(mul)))
        scaled = g.value.to_numpy() * 10.0 ** d
        assert np.allclose(scaled, np.round(scaled), atol=1e-6), (a, u, d)
    plt = o[(o.analyte == "platelets") & (o.unit == "/uL")].value
    assert (plt % 1000 == 0).all()


def test_all_sites_use_registry_units():
    for site in params.SITES:
        for a, u in site.units.items():
            analytes.get(a).conversion(u)
        analytes.get("temperature").conversion(site.temperature_unit)


def test_corrections_follow_their_original(small):
    o = small["observations"].to_pandas()
    dup = o[o.obs_id.duplicated(keep=False)]
    assert len(dup) > 0
    for _, g in dup.groupby("obs_id"):
        assert len(g) == 2
        first, second = g.iloc[0], g.iloc[1]
        assert g.index[1] == g.index[0] + 1  # the correction is the next row
        assert first.status == "final" and second.status in ("amended", "entered-in-error")
        assert first.time == second.time and first.analyte == second.analyte
    single = o[~o.obs_id.duplicated(keep=False)]
    assert not single.status.isin(["amended", "entered-in-error"]).any()


def test_data_quality_rates_are_configurable():
    clean = synth.cohort(40, 5, synth.SynthOptions(data_quality=synth.DataQuality(0, 0, 0)))["observations"]
    assert set(pc.unique(clean["status"]).to_pylist()) == {"final"}
    noisy = synth.cohort(40, 5, synth.SynthOptions(data_quality=synth.DataQuality(0.1, 0.05, 0.05)))["observations"]
    counts = dict(zip(*np.unique(noisy["status"].to_numpy(zero_copy_only=False), return_counts=True)))
    assert {"preliminary", "amended", "entered-in-error"} <= set(counts)
    with pytest.raises(ValueError, match="amended"):
        synth.SynthOptions(data_quality=synth.DataQuality(amended=0.5))
    with pytest.raises(ValueError, match="archetype_mix"):
        synth.SynthOptions(archetype_mix=(1.0,))


def test_ferritin_above_the_assay_ceiling_is_censored(enriched):
    o = enriched["observations"].to_pandas()
    f = o[(o.analyte == "ferritin") & (o.comparator == ">")]
    assert len(f) > 0 and set(f.value) <= set(float(c) for c in params.FERRITIN_CEILINGS)
    low = o[o.comparator == "<"]
    assert set(low.analyte) <= {"crp", "d_dimer"}


def test_lab_timing_is_realistic(small):
    o = small["observations"].to_pandas()
    labs = o[o.analyte.isin(analytes.LAB_IDS)]
    hours = labs.time.dt.hour + labs.time.dt.minute / 60
    assert hours.nunique() > 50 and (labs.time.dt.hour != 0).mean() > 0.9  # not all at midnight
    tg = (labs.analyte == "triglycerides").sum()
    plt = (labs.analyte == "platelets").sum()
    assert tg < 0.5 * plt  # TG drawn far less often than a blood count
    per_pt = labs.groupby("patient_id").time.nunique()
    assert per_pt.min() >= 1


def test_timeline_json_parses_with_the_project_parser():
    timeline = pytest.importorskip("maswatch.timeline")
    c = synth.cohort(12, 9, timelines=True)
    docs = c["timelines"]
    counts = c["observations"].group_by("patient_id").aggregate([("obs_id", "count")]).to_pydict()
    n_of = dict(zip(counts["patient_id"], counts["obs_id_count"]))
    for doc in docs:
        assert doc["format"] == "maswatch-timeline/1" and doc["synthetic"] is True
        tl = timeline.parse(doc)
        assert tl.synthetic and len(tl.observations) == n_of[doc["patient"]["id"]]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), index=st.integers(0, 10**6))
def test_any_patient_is_well_formed(seed, index):
    opts = synth.SynthOptions(mas_ever_scale=3.0)
    p = simulate_patient(seed, index, opts)
    raw = sampling.observe(p, seed, opts)
    w0, w1 = p.window
    assert w0 < w1 and p.birth_day < w0
    days = raw["minute"] / 1440.0
    assert ((days >= w0 - 1e-3) & (days <= w1 + 1e-3)).all() and (np.diff(raw["minute"]) >= 0).all()
    cols = sampling.report([p], [raw], opts)
    for v in np.unique(cols["var"]):
        name = sampling.VARIABLES[v]
        rows = cols["var"] == v
        if name in sampling.FINDINGS:
            assert set(np.unique(cols["value"][rows])) <= {0.0, 1.0}
        elif name != "weight":
            an = analytes.get(name)
            for u in np.unique(cols["unit"][rows]):
                vals = cols["value"][rows & (cols["unit"] == u)]
                assert an.plausible_mask(np.asarray(an.conversion(sampling.UNIT_ARRAY[u]).apply(vals))).all()
    for e in p.episodes:
        assert e.start <= e.peak <= e.plateau_end
        assert e.resolution is None or e.resolution >= e.peak
        assert (e.severity == "fatal") == (e.kind == "mas" and e.resolution is None)
    again = sampling.observe(simulate_patient(seed, index, opts), seed, opts)
    assert all(np.array_equal(raw[k], again[k], equal_nan=True) for k in raw)
