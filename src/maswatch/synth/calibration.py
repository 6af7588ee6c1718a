"""Check a synthetic cohort against its own ground-truth labels (SYNTHETIC data only).

The cohort goes through the project's own pipeline — the long-format reader
(``maswatch.sources``: units by the registry, corrections as the sources record them)
and the population screen (``maswatch.screen``: evaluation points with the shared
look-back semantics of docs/evaluation-points.md, the instruments of
``maswatch.instruments``) — and the verdicts are related to the labelled episodes. No rule
and no evaluation-point logic is re-implemented here. Used by the tests and by
``benchmarks/bench_synth.py`` to show that MAS episodes mostly meet the 2016 criteria and
that they are rarely met without one (docs/clinical/distributions.md §7.2).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def _write(tables: dict[str, pa.Table], d: Path, names=("observations", "patients", "conditions")) -> None:
    for name in names:
        if name in tables:
            pq.write_table(tables[name], d / f"{name}.parquet")


def canonical_observations(observations: pa.Table) -> pd.DataFrame:
    """Valid observations (corrections applied) with canonical values, via ``maswatch.sources``
    and the screen's correction rule: columns patient_id, time, obs_id, analyte, canonical."""
    from .. import sources
    from ..screen.points import valid_sql

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _write({"observations": observations}, d, ("observations",))
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            sources.load("long", d, con)
            df = con.sql(f"SELECT patient_id, t_us, obs_id, analyte, value AS canonical "
                         f"FROM ({valid_sql('duckdb', source_order='seq')}) ORDER BY patient_id, t_us, analyte, obs_id"
                         ).df()
        finally:
            con.close()
    df["time"] = pd.to_datetime(df.pop("t_us"), unit="us", utc=True)
    return df


def evaluation_points(tables: dict[str, pa.Table], instrument: str) -> pd.DataFrame:
    """The screen's evaluation points (patient_id, time, verdict of ``instrument``: 0/1/2)."""
    from ..screen import ScreenOptions, screen

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _write(tables, d)
        screen(d, "long", d / "out", ScreenOptions(write_points=True))
        pts = pq.read_table(d / "out" / "points.parquet", columns=["patient_id", "time", f"{instrument}__verdict"])
    return pts.to_pandas().rename(columns={f"{instrument}__verdict": "verdict"})


def episode_verdicts(tables: dict[str, pa.Table], instrument: str = "ravelli2016",
                     margin_days: float = 14.0) -> dict:
    """When ``instrument`` is first met relative to each labelled episode.

    Returns {"episodes": DataFrame (one row per label with first_met time and lead
    days relative to onset), "outside_mas_patients": patients meeting the instrument at
    a time not within [onset - margin, resolution + margin] of any MAS episode,
    "points": number of evaluation points}.
    """
    pts = evaluation_points(tables, instrument)
    pts = pts.assign(met=pts.verdict == 2)
    lab = tables["labels"].to_pandas()
    mas = lab[lab.kind == "mas"].copy()
    end = mas.resolution.fillna(mas.peak + pd.Timedelta(days=30))
    mas["win_lo"] = mas.onset - pd.Timedelta(days=margin_days)
    mas["win_hi"] = end + pd.Timedelta(days=margin_days)
    met = pts[pts.met]
    j = met.merge(mas[["patient_id", "episode_id", "onset", "win_lo", "win_hi"]], on="patient_id", how="left")
    j["in_mas"] = (j.time >= j.win_lo) & (j.time <= j.win_hi)
    in_any = j.groupby(["patient_id", "time"]).in_mas.any()
    outside = in_any[~in_any].reset_index()
    first = j[j.in_mas & (j.time >= j.onset)].groupby("episode_id").time.min()
    lab["first_met"] = lab.episode_id.map(first)
    lab["days_onset_to_met"] = (lab.first_met - lab.onset).dt.total_seconds() / 86400
    return {"episodes": lab, "outside_mas_patients": outside.patient_id.nunique(),
            "outside_mas_points": len(outside), "points": len(pts),
            "patients": tables["patients"].num_rows,
            "non_mas_patients": int(tables["patients"].num_rows - mas.patient_id.nunique())}
