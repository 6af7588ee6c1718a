"""Synthetic MAS cohort generator (``maswatch synth``). All output is SYNTHETIC.

Patients with sJIA, AOSD, SLE, other rheumatic disease and febrile-infection controls,
with flares, infections and MAS episodes shaped on published value distributions
(``docs/clinical/distributions.md``; every parameter and its status is in
:mod:`maswatch.synth.params`). Each patient is drawn from a generator seeded by
(seed, patient index), so a cohort is identical whatever the chunk size or number of
worker processes. Output is streamed chunk by chunk (bounded memory).

API::

    generate(out_dir, patients, seed, formats=("parquet",), workers=1, ...) -> SynthSummary
    cohort(patients, seed, ...) -> dict[str, pyarrow.Table]        # in memory, for tests
    patients_for_rows(rows, seed, ...) -> int                       # patient count for a row target
"""

from __future__ import annotations

import math
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa

from . import params
from .params import GENERATOR_VERSION, DataQuality, SynthOptions
from .writers import SCHEMAS, TABLES, Chunk, plain_strings, write_chunk

FORMATS = ("parquet", "timeline", "csv")
DEFAULT_CHUNK_PATIENTS = 1000
ROW_GROUP_ROWS = 1 << 20

__all__ = ["generate", "cohort", "patients_for_rows", "SynthSummary", "SynthOptions", "DataQuality",
           "FORMATS", "TABLES", "SCHEMAS", "GENERATOR_VERSION"]


@dataclass
class SynthSummary:
    out_dir: str
    patients: int
    seed: int
    formats: tuple[str, ...]
    workers: int
    chunk_patients: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def observation_rows_per_second(self) -> float:
        return self.rows.get("observations", 0) / self.seconds if self.seconds > 0 else float("nan")


def _check(patients: int, seed: int, formats: Iterable[str], workers: int, chunk_patients: int) -> tuple[str, ...]:
    if not isinstance(patients, int) or patients < 1:
        raise ValueError(f"patients must be a positive integer, got {patients!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    fmts = tuple(dict.fromkeys(f.strip().lower() for f in formats))
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise ValueError(f"unknown output format(s) {bad or fmts}; choose from {', '.join(FORMATS)}")
    if workers < 1 or chunk_patients < 1:
        raise ValueError(f"workers and chunk_patients must be >= 1, got {workers}, {chunk_patients}")
    return fmts


def cohort(patients: int, seed: int, options: SynthOptions | None = None, *, timelines: bool = False,
           chunk_patients: int = DEFAULT_CHUNK_PATIENTS) -> dict[str, pa.Table]:
    """Generate a small cohort in memory: {table name: Arrow table} (plus "timelines" docs if asked)."""
    _check(patients, seed, ("parquet",), 1, chunk_patients)
    options = options or SynthOptions()
    parts: dict[str, list] = {t: [] for t in TABLES}
    docs: list[dict] = []
    for start in range(0, patients, chunk_patients):
        ch = Chunk(seed, start, min(patients, start + chunk_patients), options, timelines)
        for t in TABLES:
            parts[t].append(ch.tables[t])
        docs += ch.timelines
    out = {t: plain_strings(pa.concat_tables([plain_strings(x, t) for x in parts[t]]), t) for t in TABLES}
    if timelines:
        out["timelines"] = docs  # type: ignore[assignment]
    return out


def _run_chunk(args) -> tuple[int, dict[str, int]]:
    seed, start, stop, options, out_dir, part, formats = args
    ch = Chunk(seed, start, stop, options, "timeline" in formats)
    write_chunk(ch, Path(out_dir), part, formats, ROW_GROUP_ROWS)
    return stop - start, {t: ch.tables[t].num_rows for t in TABLES}


def generate(out_dir: str | os.PathLike, patients: int, seed: int, formats: Iterable[str] = ("parquet",),
             workers: int = 1, *, options: SynthOptions | None = None,
             chunk_patients: int = DEFAULT_CHUNK_PATIENTS,
             progress: Callable[[int, int], None] | None = None) -> SynthSummary:
    """Write a SYNTHETIC cohort to ``out_dir`` (see writers.py for the layout) and return a summary.

    ``progress(patients_done, rows_done)`` is called after each chunk. ``out_dir`` must be
    empty or absent: parts of an older cohort are never mixed with a new one.
    """
    fmts = _check(patients, seed, formats, workers, chunk_patients)
    options = options or SynthOptions()
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"output directory {out} is not empty; choose a new directory")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    summary = SynthSummary(str(out), patients, seed, fmts, workers, chunk_patients, {t: 0 for t in TABLES})
    tasks = [(seed, s, min(patients, s + chunk_patients), options, str(out), k, fmts)
             for k, s in enumerate(range(0, patients, chunk_patients))]
    _write_readme(out, summary, options)  # first, so a partial directory is already labelled SYNTHETIC
    done = 0

    def collect(result):
        nonlocal done
        n, rows = result
        done += n
        for t, r in rows.items():
            summary.rows[t] += r
        if progress:
            progress(done, summary.rows["observations"])

    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            collect(_run_chunk(task))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            # bounded look-ahead keeps memory independent of the cohort size
            pending = []
            it = iter(tasks)
            for task in it:
                pending.append(pool.submit(_run_chunk, task))
                if len(pending) >= 2 * workers:
                    collect(pending.pop(0).result())
            for f in pending:
                collect(f.result())
    summary.seconds = time.perf_counter() - t0
    summary.peak_rss_mb = _peak_rss_mb()
    _write_readme(out, summary, options)
    return summary


def patients_for_rows(rows: int, seed: int, options: SynthOptions | None = None, pilot: int = 2000) -> int:
    """Patient count expected to give about ``rows`` observation rows (deterministic pilot estimate)."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    options = options or SynthOptions()
    # rows per patient are heavy-tailed (long admissions): a pilot of 2000 patients, only the
    # cheap part of the pipeline (no tables), estimates the mean to about +-3%
    from .model import simulate_patient
    from .sampling import observe
    n = sum(observe(simulate_patient(seed, i, options), seed, options)["var"].size for i in range(pilot))
    per_patient = max(n / pilot, 1.0)
    return max(1, math.ceil(rows / per_patient))


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0  # Linux reports KiB


def _write_readme(out: Path, s: SynthSummary, options: SynthOptions) -> None:
    dq = options.data_quality
    lines = [
        "SYNTHETIC DATA - NOT REAL PATIENTS",
        "=" * 35,
        "",
        f"Generated by maswatch synth ({GENERATOR_VERSION}); seed {s.seed}; {s.patients} patients;",
        f"formats {', '.join(s.formats)}; chunk {s.chunk_patients} patients (rows do not depend on it).",
        f"Archetype mix {dict(zip(params.ARCHETYPES, options.archetype_mix))}; MAS probability scale "
        f"{options.mas_ever_scale}; twice-daily inpatient draws share {options.twice_daily_share}.",
        "Every patient is invented. Values are drawn from published distributions where they exist",
        "(docs/clinical/distributions.md) and from labelled ASSUMPTIONS elsewhere; see",
        "maswatch/synth/params.py for each number, its source and its status.",
        "",
        "Tables (one directory per table of part files part-NNNNN.parquet, zstd; .csv if asked):",
        "  observations  patient_id, time (UTC), obs_id, loinc, analyte, value, unit (as the lab reported it;",
        "                not always canonical), comparator, status, ref_low, ref_high (in unit)",
        "  patients      patient_id, birth_date, sex, archetype, synthetic (always true)",
        "  conditions    patient_id, code, onset, icd10, snomed",
        "  medications   patient_id, med_id, drug, start, end, dose_value, dose_unit, frequency_per_day, route",
        "  labels        GROUND TRUTH (synthetic): patient_id, episode_id, kind (mas|flare|infection), onset",
        "                (clinical onset: the episode's lab changes begin), peak, resolution (null if the",
        "                patient died or follow-up ended first), trigger, severity (mild|moderate|severe|fatal)",
        "  timelines/    one maswatch-timeline/1 JSON per patient (if asked)",
        "",
        "Data-quality events (deliberate, labelled here):",
        f"  - preliminary: ~{dq.preliminary:.1%} of lab results have status 'preliminary'.",
        f"  - amended: ~{dq.amended:.2%} of lab results first appear with a wrong value (status final), then",
        "    a later row with the same obs_id, same time and status 'amended' carries the correct value.",
        f"  - entered-in-error: ~{dq.entered_in_error:.2%} of lab results belong to another specimen; a later",
        "    row with the same obs_id and status 'entered-in-error' withdraws them.",
        "  - censored results: ferritin above the site's assay ceiling (40000 or 100000 ng/mL at some",
        "    sites) is reported as comparator '>' and the ceiling; CRP < 0.5 mg/L and D-dimer < 190",
        "    ng/mL FEU as comparator '<' and the limit.",
        "  - units follow the patient's lab site (e.g. TG mg/dL or mmol/L, fibrinogen mg/dL or g/L,",
        "    platelets 10*9/L, 10*3/uL, K/uL or /uL, Hb g/dL or g/L, temperature Cel or [degF]).",
        "  - time is the specimen collection time; send-out tests (sCD25, IL-18, CXCL9) would be",
        "    resulted days later (not represented).",
        "",
        "Rows written: " + (", ".join(f"{t} {n}" for t, n in s.rows.items()) if s.seconds else "(in progress)"),
    ]
    (out / "README.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

