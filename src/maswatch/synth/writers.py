"""Arrow tables for a chunk of synthetic patients, and the streaming writers.

Output layout (the contract read by ``maswatch`` readers and the screening benchmark):
``DIR/<table>/part-00000.parquet`` (zstd; one part per chunk of patients, written by
whichever worker generated the chunk), optional ``DIR/<table>/part-00000.csv`` and
``DIR/timelines/SYN-000001.json`` (``maswatch-timeline/1``), and ``DIR/README.txt``.
Memory is bounded by one chunk per worker, whatever the cohort size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import params as P
from .model import Patient, simulate_patient
from .sampling import COMPARATORS, FINDINGS, LOINC, STATUSES, UNIT_ARRAY, VARIABLES, observe, report

TS = pa.timestamp("us", tz="UTC")
TABLES = ("observations", "patients", "conditions", "medications", "labels")
SCHEMAS = {
    "observations": pa.schema([
        ("patient_id", pa.string()), ("time", TS), ("obs_id", pa.string()), ("loinc", pa.string()),
        ("analyte", pa.string()), ("value", pa.float64()), ("unit", pa.string()), ("comparator", pa.string()),
        ("status", pa.string()), ("ref_low", pa.float64()), ("ref_high", pa.float64()),
    ]),
    "patients": pa.schema([("patient_id", pa.string()), ("birth_date", pa.date32()), ("sex", pa.string()),
                           ("archetype", pa.string()), ("synthetic", pa.bool_())]),
    "conditions": pa.schema([("patient_id", pa.string()), ("code", pa.string()), ("onset", TS),
                             ("icd10", pa.string()), ("snomed", pa.string())]),
    "medications": pa.schema([("patient_id", pa.string()), ("med_id", pa.string()), ("drug", pa.string()),
                              ("start", TS), ("end", TS), ("dose_value", pa.float64()), ("dose_unit", pa.string()),
                              ("frequency_per_day", pa.float64()), ("route", pa.string())]),
    "labels": pa.schema([("patient_id", pa.string()), ("episode_id", pa.string()), ("kind", pa.string()),
                         ("onset", TS), ("peak", TS), ("resolution", TS), ("trigger", pa.string()),
                         ("severity", pa.string())]),
}
# ICD-10 codes as commonly used; SNOMED CT ids UNVERIFIED against a release (left null when unsure:
# 410795001, once used here for AOSD, is "Juvenile rheumatoid arthritis").
CONDITION_CODES = {
    "sjia": ("M08.2", "201796004"), "aosd": ("M06.1", None), "sle": ("M32.9", "55464009"),
    "other_rheumatic": ("M08.9", None), "infection": ("B34.9", "40733004"),
}
_VAR, _LOINC, _UNIT, _STATUS, _CMP = VARIABLES, LOINC, UNIT_ARRAY, STATUSES, COMPARATORS
_FINDING_SET = set(FINDINGS)


def patient_id(index: int) -> str:
    return f"SYN-{index + 1:06d}"


def _ts(days) -> np.ndarray:
    return (np.round(np.asarray(days, dtype=float) * 1440.0) * 60_000_000).astype(np.int64)


def _ts_array(days: list) -> pa.Array:
    mask = np.array([d is None for d in days], dtype=bool)
    vals = _ts([0.0 if d is None else d for d in days])
    return pa.array(vals, TS, mask=mask if mask.any() else None)


def _float_array(x: np.ndarray) -> pa.Array:
    nan = np.isnan(x)
    return pa.array(x, pa.float64(), mask=nan if nan.any() else None)


class Chunk:
    """Patients [start, stop) of a cohort: their Arrow tables and (optionally) timeline documents."""

    def __init__(self, seed: int, start: int, stop: int, options: P.SynthOptions, timelines: bool = False):
        self.patients: list[Patient] = []
        raw: list[dict] = []
        for i in range(start, stop):
            p = simulate_patient(seed, i, options)
            self.patients.append(p)
            raw.append(observe(p, seed, options))
        cols = report(self.patients, raw, options)
        self.tables = self._tables(cols)
        self.timelines = []
        if timelines:
            bounds = np.searchsorted(cols["pos"], np.arange(len(self.patients) + 1))
            for k, p in enumerate(self.patients):
                sl = slice(bounds[k], bounds[k + 1])
                self.timelines.append(self._timeline(p, {c: v[sl] for c, v in cols.items()}))

    # -- tables ---------------------------------------------------------------------------
    def _tables(self, cat: dict[str, np.ndarray]) -> dict[str, pa.Table]:
        """Arrow tables; low-cardinality string columns are dictionary-encoded here (cheap) and
        written as plain Parquet strings (``plain_strings`` gives the contract's schema in memory)."""
        ids = [patient_id(p.index) for p in self.patients]
        n = int(cat["var"].size)
        self.rows = n
        if n:
            unit_idx = cat["unit"].astype(np.int32)
            unit_idx[unit_idx < 0] = len(UNIT_ARRAY) - 1

            def dic(indices, values):
                # Parquet cannot write a null inside a dictionary: nulls go in the indices' validity
                values = list(values)
                keep = [v is not None for v in values]
                remap = np.cumsum(keep) - 1
                idx = remap[indices]
                null = ~np.asarray(keep)[indices]
                return pa.DictionaryArray.from_arrays(
                    pa.array(idx.astype(np.int32), mask=null if null.any() else None),
                    pa.array([v for v in values if v is not None], pa.string()))

            observations = pa.Table.from_arrays([
                dic(cat["pos"], ids), pa.array(cat["time_us"], TS),
                _obs_ids(ids, cat["pos"], cat["seq"]), dic(cat["var"], _LOINC), dic(cat["var"], _VAR),
                pa.array(cat["value"], pa.float64()), dic(unit_idx, _UNIT), dic(cat["comparator"], _CMP),
                dic(cat["status"], _STATUS), _float_array(cat["ref_low"]), _float_array(cat["ref_high"]),
            ], names=SCHEMAS["observations"].names)
        else:
            observations = SCHEMAS["observations"].empty_table()
        return {
            "observations": observations,
            "patients": self._patients(ids),
            "conditions": self._conditions(ids),
            "medications": self._medications(ids),
            "labels": self._labels(ids),
        }

    def _patients(self, ids):
        birth = np.floor([p.birth_day for p in self.patients]).astype(np.int32)
        return pa.Table.from_arrays([
            pa.array(ids, pa.string()), pa.array(birth, pa.date32()),
            pa.array([p.sex for p in self.patients], pa.string()),
            pa.array([p.archetype for p in self.patients], pa.string()),
            pa.array([True] * len(ids), pa.bool_()),
        ], schema=SCHEMAS["patients"])

    def _conditions(self, ids):
        rows = []
        for pid, p in zip(ids, self.patients):
            if p.params.condition is not None:
                rows.append((pid, p.params.condition, p.disease_onset))
            rows += [(pid, "infection", e.start) for e in p.episodes if e.kind == "infection"]
        return pa.Table.from_arrays([
            pa.array([r[0] for r in rows], pa.string()), pa.array([r[1] for r in rows], pa.string()),
            _ts_array([r[2] for r in rows]),
            pa.array([CONDITION_CODES[r[1]][0] for r in rows], pa.string()),
            pa.array([CONDITION_CODES[r[1]][1] for r in rows], pa.string()),
        ], schema=SCHEMAS["conditions"])

    def _medications(self, ids):
        rows = []
        for pid, p in zip(ids, self.patients):
            end = p.dead_at if p.dead_at is not None else p.window[1]
            meds = sorted((m for m in p.medications if m.start <= end), key=lambda m: (m.start, m.drug))
            rows += [(pid, f"{pid}-M{k + 1}", m) for k, m in enumerate(meds)]
        ms = [r[2] for r in rows]
        return pa.Table.from_arrays([
            pa.array([r[0] for r in rows], pa.string()), pa.array([r[1] for r in rows], pa.string()),
            pa.array([m.drug for m in ms], pa.string()), _ts_array([m.start for m in ms]),
            _ts_array([m.end for m in ms]), pa.array([float(m.dose_value) for m in ms], pa.float64()),
            pa.array([m.dose_unit for m in ms], pa.string()),
            pa.array([float(m.frequency_per_day) for m in ms], pa.float64()),
            pa.array([m.route for m in ms], pa.string()),
        ], schema=SCHEMAS["medications"])

    def _labels(self, ids):
        rows = []
        for pid, p in zip(ids, self.patients):
            end = p.dead_at if p.dead_at is not None else p.window[1]
            for e in p.episodes:
                if e.start <= end:
                    rows.append((pid, f"{pid}-E{e.number}", e))
        es = [r[2] for r in rows]
        return pa.Table.from_arrays([
            pa.array([r[0] for r in rows], pa.string()), pa.array([r[1] for r in rows], pa.string()),
            pa.array([e.kind for e in es], pa.string()), _ts_array([e.start for e in es]),
            _ts_array([e.peak for e in es]),
            _ts_array([self._resolution(r[0], e) for r, e in zip(rows, es)]),
            pa.array([e.trigger for e in es], pa.string()), pa.array([e.severity for e in es], pa.string()),
        ], schema=SCHEMAS["labels"])

    def _resolution(self, pid: str, e) -> float | None:
        p = self.patients[int(pid[4:]) - 1 - self.patients[0].index]
        end = p.dead_at if p.dead_at is not None else p.window[1]
        return e.resolution if (e.resolution is not None and e.resolution <= end) else None

    # -- timeline JSON -------------------------------------------------------------------
    def _timeline(self, p: Patient, o: dict) -> dict:
        pid = patient_id(p.index)
        t = (o["time_us"] // 1_000_000).astype("datetime64[s]").astype(str)
        observations = []
        for k in range(o["var"].size):
            name = VARIABLES[o["var"][k]]
            oid = f"{pid}-{o['seq'][k]:0{OBS_SEQ_DIGITS}d}"
            time = t[k] + "Z"
            if name in _FINDING_SET:
                observations.append({"id": oid, "time": time, "finding": name, "value": bool(o["value"][k])})
                continue
            unit = UNIT_ARRAY[o["unit"][k]]
            if name == "weight":
                observations.append({"id": oid, "time": time, "vital": "weight", "value": float(o["value"][k]),
                                     "unit": unit})
                continue
            rec = {"id": oid, "time": time, "analyte": name, "value": float(o["value"][k]), "unit": unit,
                   "status": STATUSES[o["status"][k]]}
            c = o["comparator"][k]
            if c:
                rec["comparator"] = COMPARATORS[c]
            lo, hi = o["ref_low"][k], o["ref_high"][k]
            if not (np.isnan(lo) and np.isnan(hi)):
                rec["reference_range"] = {kk: float(v) for kk, v in (("low", lo), ("high", hi)) if not np.isnan(v)}
            observations.append(rec)
        end = p.dead_at if p.dead_at is not None else p.window[1]
        conds = []
        if p.params.condition is not None:
            conds.append({"code": p.params.condition, "onset": _iso(p.disease_onset)})
        conds += [{"code": "infection", "onset": _iso(e.start)} for e in p.episodes if e.kind == "infection"]
        meds = sorted((m for m in p.medications if m.start <= end), key=lambda m: (m.start, m.drug))
        medications = []
        for k, m in enumerate(meds):
            rec = {"id": f"{pid}-M{k + 1}", "drug": m.drug, "start": _iso(m.start),
                   "dose": {"value": float(m.dose_value), "unit": m.dose_unit},
                   "frequency_per_day": float(m.frequency_per_day), "route": m.route}
            if m.end is not None:
                rec["end"] = _iso(m.end)
            medications.append(rec)
        birth = str(np.datetime64(int(np.floor(p.birth_day)), "D"))
        return {"format": "maswatch-timeline/1", "synthetic": True,
                "patient": {"id": pid, "birth_date": birth, "sex": p.sex},
                "conditions": conds, "observations": observations, "medications": medications}


def plain_strings(table: pa.Table, name: str) -> pa.Table:
    """The table with the contract's schema (dictionary-encoded strings decoded)."""
    return table.cast(SCHEMAS[name]) if not table.schema.equals(SCHEMAS[name]) else table


OBS_SEQ_DIGITS = 6


def _obs_ids(ids: list[str], pos: np.ndarray, seq: np.ndarray) -> pa.Array:
    """'SYN-000001-000017': patient id, '-', zero-padded per-patient observation number.

    Built as one fixed-width byte buffer (vectorised); falls back to string joins when the
    patient ids of a chunk differ in length or a patient has 10**6 observations.
    """
    lengths = {len(i) for i in ids}
    if len(lengths) != 1 or (seq.size and seq.max() >= 10 ** OBS_SEQ_DIGITS):
        pid = pc.take(pa.array(ids, pa.string()), pa.array(pos))
        return pc.binary_join_element_wise(pid, pc.utf8_lpad(pc.cast(pa.array(seq), pa.string()),
                                                              OBS_SEQ_DIGITS, "0"), "-")
    width = lengths.pop()
    total = width + 1 + OBS_SEQ_DIGITS
    buf = np.empty((seq.size, total), dtype=np.uint8)
    buf[:, :width] = np.frombuffer("".join(ids).encode("ascii"), np.uint8).reshape(len(ids), width)[pos]
    buf[:, width] = ord("-")
    for k in range(OBS_SEQ_DIGITS):
        buf[:, total - 1 - k] = 48 + (seq // 10 ** k) % 10
    offsets = np.arange(seq.size + 1, dtype=np.int32) * total
    return pa.StringArray.from_buffers(seq.size, pa.py_buffer(offsets), pa.py_buffer(buf.ravel()))


def _iso(day: float) -> str:
    return str(np.datetime64(int(_ts([day])[0]) // 1_000_000, "s")) + "Z"


def write_chunk(chunk: Chunk, out_dir: Path, part: int, formats: tuple[str, ...], row_group_rows: int) -> None:
    """Write one chunk's part files (and timelines) into ``out_dir``."""
    name = f"part-{part:05d}"
    for table, tab in chunk.tables.items():
        d = out_dir / table
        d.mkdir(parents=True, exist_ok=True)
        if "parquet" in formats:
            # store_schema=False: dictionary-encoded columns read back as plain strings
            with pq.ParquetWriter(d / f"{name}.parquet", tab.schema, compression="zstd", store_schema=False) as w:
                w.write_table(tab, row_group_size=row_group_rows)
        if "csv" in formats:
            pacsv.write_csv(plain_strings(tab, table), d / f"{name}.csv")
    if "timeline" in formats:
        d = out_dir / "timelines"
        d.mkdir(parents=True, exist_ok=True)
        for doc in chunk.timelines:
            (d / f"{doc['patient']['id']}.json").write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
