"""Screening outputs from a stream of result batches (sorted by patient, then time).

Both engines end here, so their files are byte-identical for the same results:
``points.parquet`` (one row per evaluation point: verdicts, scores, level),
``episodes.parquet/.csv``, ``evidence.parquet/.csv``, ``summary.json``,
``unit_report.csv``, ``metrics.json`` (with labels) and ``report.html``. Data files are
sorted and carry no run timestamp (determinism); only the HTML shows the run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .. import alerts, trends
from ..instruments import INSTRUMENTS
from .arrow_eval import SCORED, verdict_col
from .columns import csv_ready, integers, run_starts
from .episodes import EpisodeRule, episodes_chunk
from .points import INPUT_IDS, code_col, value_col
from .metrics import MetricsAccumulator
from .output_dir import finite_or_none, write_json
from .report_data import EXAMPLE_COLUMNS, ScoreHistograms

ROW_GROUP_ROWS = 1_000_000
N_EXAMPLES = 4


def point_output_columns() -> list[str]:
    cols = ["patient_id", "time", "age_years", "context", "preliminary", "alert_level"]
    for iid in INSTRUMENTS:
        cols.append(verdict_col(iid))
        if iid in SCORED:
            cols += [f"{iid}__score_min", f"{iid}__score_max"]
    cols += ["hlh2004__criteria_met", "ferritin_esr__ratio_min", "ferritin_esr__ratio_max"]
    cols += [f"signal__{s}" for s in trends.SIGNAL_IDS]
    for a in INPUT_IDS:  # the snapshot behind each verdict (canonical units; code = comparator + 8 if preliminary)
        cols += [value_col(a), code_col(a)]
    return cols


class FixedRowGroupWriter:
    """Parquet writer whose row groups hold exactly ``rows`` rows (the last fewer), so the
    file does not depend on how an engine happened to batch its results."""

    def __init__(self, path: Path, schema: pa.Schema, rows: int = ROW_GROUP_ROWS):
        self.writer = pq.ParquetWriter(str(path), schema, compression="zstd")
        self.rows = rows
        self.pending: list[pa.Table] = []
        self.n = 0

    def write(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.n += table.num_rows
        while self.n >= self.rows:
            t = pa.concat_tables(self.pending)
            self.writer.write_table(t.slice(0, self.rows), row_group_size=self.rows)
            rest = t.slice(self.rows)
            self.pending, self.n = [rest], rest.num_rows

    def close(self) -> None:
        if self.n:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=self.rows)
        self.writer.close()


@dataclass
class Summary:
    """Counts for the report, accumulated chunk by chunk (whole patients per chunk)."""

    points: int = 0
    patients: int = 0
    points_by_level: np.ndarray = field(default_factory=lambda: np.zeros(len(alerts.LEVELS), np.int64))
    patients_by_peak_level: np.ndarray = field(default_factory=lambda: np.zeros(len(alerts.LEVELS), np.int64))
    verdicts: dict = field(default_factory=lambda: {i: np.zeros(3, np.int64) for i in INSTRUMENTS})
    both_met_points: np.ndarray = field(default_factory=lambda: np.zeros((len(INSTRUMENTS),) * 2, np.int64))
    both_met_patients: np.ndarray = field(default_factory=lambda: np.zeros((len(INSTRUMENTS),) * 2, np.int64))
    histograms: ScoreHistograms = field(default_factory=ScoreHistograms)
    preliminary_points: int = 0
    episodes: int = 0
    examples: list = field(default_factory=list)

    def add(self, table: pa.Table, episodes: pa.Table) -> None:
        n = table.num_rows
        if n == 0:
            return
        self.points += n
        offsets = np.flatnonzero(run_starts(table.column("patient_id")))
        self.patients += offsets.size
        level = integers(table.column("alert_level"), 0)
        self.points_by_level += np.bincount(level, minlength=len(alerts.LEVELS))
        self.patients_by_peak_level += np.bincount(np.maximum.reduceat(level, offsets), minlength=len(alerts.LEVELS))
        met = np.zeros(n, dtype=np.int64)  # bit j set: instrument j met at the point
        for j, iid in enumerate(INSTRUMENTS):
            v = integers(table.column(verdict_col(iid)), 0)
            self.verdicts[iid] += np.bincount(v, minlength=3)
            met |= (v == 2).astype(np.int64) << j
        self.both_met_points += _pair_counts(met)
        self.both_met_patients += _pair_counts(np.bitwise_or.reduceat(met, offsets))
        self.histograms.add(table)
        self.preliminary_points += int(pc.sum(table.column("preliminary")).as_py() or 0)
        self.episodes += episodes.num_rows
        self._examples(table, episodes)

    def _examples(self, table: pa.Table, episodes: pa.Table) -> None:
        """Keep the example timelines of the N most severe episodes (deterministic order)."""
        if episodes.num_rows == 0:
            return
        e = episodes.select(["patient_id", "episode", "peak_alert_level", "peak_hscore", "start", "end"])
        # only this chunk's N most severe can enter the list: select them in Arrow, not in Python
        ranked = e.append_column("h", pc.fill_null(e.column("peak_hscore"), -1.0))
        top = pc.select_k_unstable(ranked, k=min(N_EXAMPLES, e.num_rows), sort_keys=[
            ("peak_alert_level", "descending"), ("h", "descending"), ("patient_id", "ascending"), ("episode", "ascending")])
        e = e.take(top).to_pylist()
        cand = self.examples + [
            {"key": (-r["peak_alert_level"], -(r["peak_hscore"] if r["peak_hscore"] is not None else -1), r["patient_id"],
                     r["episode"]), "episode": r, "series": None} for r in e
        ]
        cand.sort(key=lambda c: c["key"])
        keep = cand[:N_EXAMPLES]

        for c in keep:
            if c["series"] is None:
                sel = np.flatnonzero(pc.equal(table.column("patient_id"), c["episode"]["patient_id"])
                                     .to_numpy(zero_copy_only=False))
                sub = table.take(pa.array(sel)).select(list(EXAMPLE_COLUMNS))
                c["series"] = sub.to_pydict()
        self.examples = keep

    def to_json(self) -> dict:
        names = list(INSTRUMENTS)
        return {
            "points": self.points,
            "patients": self.patients,
            "episodes": self.episodes,
            "preliminary_points": self.preliminary_points,
            "points_by_alert_level": dict(zip(alerts.LEVELS, map(int, self.points_by_level))),
            "patients_by_peak_alert_level": dict(zip(alerts.LEVELS, map(int, self.patients_by_peak_level))),
            "verdicts": {i: dict(zip(("not_met", "indeterminate", "met"), map(int, v))) for i, v in self.verdicts.items()},
            "instruments": names,
            "both_met_points": self.both_met_points.tolist(),
            "both_met_patients": self.both_met_patients.tolist(),
            "histograms": self.histograms.to_json(),
        }


def _pair_counts(met_bits: np.ndarray) -> np.ndarray:
    """[i, j] = rows on which instruments i and j are both met, from per-row bit sets
    (one histogram of the bit patterns instead of an n-row matrix product)."""
    k = len(INSTRUMENTS)
    hist = np.bincount(met_bits, minlength=1 << k)
    bits = (np.arange(1 << k)[:, None] >> np.arange(k)) & 1
    return bits.T @ (hist[:, None] * bits)


class TableSink:
    """Parquet (fixed row groups) + CSV written chunk by chunk, so memory stays bounded.

    Chunks must arrive in key order (whole patients, sorted) — checked, because the files
    must not depend on how an engine batched its results.
    """

    HEAD_ROWS = 50

    def __init__(self, stem: Path, keys: tuple[str, ...] = ("patient_id", "episode")):
        self.stem, self.keys = stem, keys
        self.parquet: FixedRowGroupWriter | None = None
        self.csv: pacsv.CSVWriter | None = None
        self.last_key = None
        self.rows = 0
        self.head: pa.Table | None = None

    def write(self, t: pa.Table) -> None:
        if self.parquet is None:
            self.parquet = FixedRowGroupWriter(self.stem.with_suffix(".parquet"), t.schema)
            self.csv = pacsv.CSVWriter(str(self.stem.with_suffix(".csv")), csv_ready(t.slice(0, 0)).schema)
            self.head = t.slice(0, 0)
        if t.num_rows == 0:
            return
        if not _is_sorted(t, self.keys):
            raise RuntimeError(f"{self.stem.name}: rows of a chunk are not in ({', '.join(self.keys)}) order")
        first = tuple(t.column(k)[0].as_py() for k in self.keys)
        if self.last_key is not None and first <= self.last_key:
            raise RuntimeError(f"{self.stem.name}: chunks arrived out of patient order")
        self.last_key = tuple(t.column(k)[-1].as_py() for k in self.keys)
        self.parquet.write(t)
        self.csv.write_table(csv_ready(t))
        if self.head.num_rows < self.HEAD_ROWS:
            self.head = pa.concat_tables([self.head, t.slice(0, self.HEAD_ROWS - self.head.num_rows)])
        self.rows += t.num_rows

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
            self.csv.close()


def write_outputs(
    result_chunks,
    out: Path,
    *,
    episode_rule: EpisodeRule = EpisodeRule(),
    labels: pa.Table | None = None,
    unit_report=None,
    synthetic: bool = False,
    write_points: bool = True,
    report_context: dict | None = None,
    progress=None,
) -> dict:
    """Consume whole-patient result tables (in patient order); write every output file;
    return the summary. Memory is bounded by one chunk: every file is streamed."""
    out.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    metrics = MetricsAccumulator(labels, episode_rule.gap_us) if labels is not None else None
    points_writer = None
    episodes_sink = TableSink(out / "episodes")
    evidence_sink = TableSink(out / "evidence", ("patient_id", "episode", "time"))
    try:
        for chunk in result_chunks:
            if write_points:
                slim = chunk.select(point_output_columns())
                if points_writer is None:
                    points_writer = FixedRowGroupWriter(out / "points.parquet", slim.schema)
                points_writer.write(slim)
            eps, ev = episodes_chunk(chunk, episode_rule)
            episodes_sink.write(eps)
            evidence_sink.write(ev)
            summary.add(chunk, eps)
            if metrics is not None:
                metrics.add(chunk)
            if progress is not None:
                progress(chunk.num_rows)
    finally:
        for w in (points_writer, episodes_sink, evidence_sink):
            if w is not None:
                w.close()
    episodes = episodes_sink.head if episodes_sink.head is not None else pa.table({})
    if callable(unit_report):  # computed once the stream is through (it may count rows as they pass)
        unit_report = unit_report()
    if unit_report is None:
        unit_report = pa.table({"source": pa.array([], pa.string()), "source_code": pa.array([], pa.string()),
                                "source_unit": pa.array([], pa.string()), "rows": pa.array([], pa.int64())})
    pacsv.write_csv(csv_ready(unit_report), str(out / "unit_report.csv"))
    result = {"synthetic": synthetic, "summary": summary.to_json(),
              "settings": (report_context or {}).get("settings", {})}
    if metrics is not None:
        result["metrics"] = metrics.result()
        result["metrics"] = finite_or_none(result["metrics"])
        write_json(out / "metrics.json", result["metrics"])
    write_json(out / "summary.json", {"synthetic": synthetic, **summary.to_json(), **(report_context or {})})
    from .report_html import render_report

    (out / "report.html").write_text(render_report(
        summary=summary, episodes=episodes, episode_rows=episodes_sink.rows, unit_report=unit_report, metrics=result.get("metrics"),
        synthetic=synthetic, context=report_context or {}), encoding="utf-8")
    return result


def _is_sorted(t: pa.Table, keys) -> bool:
    """Rows in ascending (non-strict) lexicographic order of ``keys``: adjacent rows compared."""
    n = t.num_rows
    if n < 2:
        return True
    undecided = np.ones(n - 1, dtype=bool)  # equal on every key so far
    for k in keys:
        col = t.column(k)
        a, b = col.slice(0, n - 1), col.slice(1)
        if pc.any(pc.and_(pa.array(undecided), pc.greater(a, b))).as_py():
            return False
        undecided &= pc.equal(a, b).to_numpy(zero_copy_only=False)
    return True
