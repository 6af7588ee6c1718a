"""Check a synthetic cohort against its own ground-truth labels (SYNTHETIC data only).

Builds evaluation points (every time a patient had blood drawn) with the latest valid
value of each analyte and finding inside its look-back window (``maswatch.lookback``),
runs the project's instruments on them (``maswatch.instruments``: no rule is
re-implemented here) and relates the verdicts to the labelled episodes. Used by the
tests and by ``benchmarks/bench_synth.py`` to show that MAS episodes mostly meet the
2016 criteria and that they are rarely met without one (distributions.md §7.2). This is
a validation aid for generated data, not the project's timeline engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import analytes
from ..batch import FINDING_IDS, QUANTITY_IDS, SnapshotBatch
from ..instruments import evaluate_all
from ..lookback import DEFAULT_LOOKBACK, Lookback

CONTEXT_OF_CONDITION = {"sjia": "sjia", "aosd": "aosd", "sle": "sle", "other_rheumatic": "other_rheumatic"}
_CMP_CODE = {None: 0, "<": 1, "<=": 2, ">=": 3, ">": 4}


def canonical_observations(observations: pa.Table | pd.DataFrame) -> pd.DataFrame:
    """Corrections applied (amended replaces, entered-in-error removes), values in canonical units."""
    o = observations.to_pandas() if isinstance(observations, pa.Table) else observations.copy()
    withdrawn = set(o.loc[o.status.isin(["entered-in-error", "cancelled"]), "obs_id"])
    o = o[~o.obs_id.isin(withdrawn)].drop_duplicates("obs_id", keep="last").reset_index(drop=True)
    canon = o["value"].to_numpy(dtype=float).copy()
    for (a, u), idx in o.groupby(["analyte", "unit"], dropna=True).groups.items():
        if a in analytes.registry():
            rows = o.index.get_indexer(idx)
            canon[rows] = analytes.get(a).conversion(u).apply(o["value"].to_numpy()[rows])
    o["canonical"] = canon
    o["cmp_code"] = o["comparator"].map(lambda c: _CMP_CODE[None if pd.isna(c) else c]).astype(np.int8)
    return o


def evaluation_points(tables: dict[str, pa.Table], lookback: Lookback = DEFAULT_LOOKBACK):
    """(points DataFrame [patient_id, time], SnapshotBatch) at every distinct blood-draw time."""
    o = canonical_observations(tables["observations"])
    labs = o[o.analyte.isin(analytes.LAB_IDS)]
    pts = labs[["patient_id", "time"]].drop_duplicates().sort_values(["time", "patient_id"]).reset_index(drop=True)
    n = len(pts)
    lab_cols, cmp_cols, finding_cols = {}, {}, {}
    for q in QUANTITY_IDS + FINDING_IDS:
        src = o[o.analyte == q][["patient_id", "time", "canonical", "cmp_code"]].sort_values("time")
        if src.empty:
            continue
        tol = pd.Timedelta(hours=lookback.window_hours(q))
        m = pd.merge_asof(pts, src, on="time", by="patient_id", tolerance=tol, direction="backward")
        if q in FINDING_IDS:
            finding_cols[q] = m["canonical"].to_numpy(dtype=float)  # 1.0 / 0.0 / NaN -> tri-state
        else:
            lab_cols[q] = m["canonical"].to_numpy(dtype=float)
            cmp_cols[q] = m["cmp_code"].fillna(0).to_numpy(dtype=np.int8)
    pat = tables["patients"].to_pandas().set_index("patient_id")
    birth = pd.to_datetime(pat.loc[pts.patient_id, "birth_date"].to_numpy()).tz_localize("UTC")
    age = (pts.time.to_numpy() - birth.to_numpy()) / np.timedelta64(1, "D") / 365.25 \
        if False else (pts.time - pd.Series(birth, index=pts.index)).dt.days.to_numpy() / 365.25
    cond = tables["conditions"].to_pandas()
    ctx_of = cond[cond.code.isin(CONTEXT_OF_CONDITION)].drop_duplicates("patient_id").set_index("patient_id").code
    ctx = pts.patient_id.map(ctx_of).map(CONTEXT_OF_CONDITION).fillna("none").to_numpy()
    batch = SnapshotBatch.from_columns(n, labs=lab_cols, comparators=cmp_cols, findings=finding_cols,
                                       age_years=age.astype(float), context=ctx.astype(str))
    return pts, batch


def episode_verdicts(tables: dict[str, pa.Table], instrument: str = "ravelli2016",
                     settings=None, margin_days: float = 14.0) -> dict:
    """When ``instrument`` is first met relative to each labelled episode.

    Returns {"episodes": DataFrame (one row per label with first_met time and lead
    days relative to onset), "outside_mas_patients": patients meeting the instrument at
    a time not within [onset - margin, resolution + margin] of any MAS episode,
    "points": number of evaluation points}.
    """
    pts, batch = evaluation_points(tables)
    res = evaluate_all(batch, settings)[instrument]
    pts = pts.assign(met=res.verdict == 2)
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
