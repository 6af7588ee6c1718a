"""Early warning on a SYNTHETIC cohort: lead time of the alert levels before the 2016
criteria are first met, and how often the levels fire without an MAS episode.

Everything here is measured on data made by ``maswatch synth`` (labelled synthetic; its
ground truth is the generator's own episode labels). It shows what the alert logic does
on patients shaped by published distributions; it is not a clinical validation.

For each labelled MAS episode: the first time the 2016 sJIA-MAS criteria are met inside
the episode (onset - 3 d to resolution), and the first time each alert level is reached
from 14 days before onset; lead time = criteria time - level time (positive = earlier
warning). Outside episodes (more than 7 days from any labelled MAS episode): the number
of notifications (a level raised, de-duplicated as in ``maswatch assess``) per patient.

    python benchmarks/lead_time.py [--patients 600] [--seed 11] [--mas-scale 3]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from datetime import datetime

import numpy as np

from maswatch import alerts, synth, timeline
from maswatch.synth import SynthOptions

US_PER_H = 3_600_000_000
DAY = 24 * US_PER_H


def _us(ts) -> int:
    if isinstance(ts, datetime):
        return int(ts.timestamp() * 1_000_000)
    return int(ts.value // 1000)  # pandas Timestamp (ns)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=600)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--mas-scale", type=float, default=3.0, help="multiply the published MAS frequency (more episodes)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    tables = synth.cohort(args.patients, args.seed, SynthOptions(mas_ever_scale=args.mas_scale), timelines=True)
    labels = tables["labels"].to_pandas()
    mas = labels[labels.kind == "mas"]
    episodes_by_patient = defaultdict(list)
    for row in mas.itertuples():
        end = row.resolution if row.resolution is not None and not _isnat(row.resolution) else row.peak
        episodes_by_patient[row.patient_id].append((_us(row.onset), _us(end)))

    lead = {lvl: [] for lvl in alerts.LEVELS[1:]}
    reached_before = {lvl: 0 for lvl in alerts.LEVELS[1:]}
    criteria_met_episodes = 0
    outside = {lvl: 0 for lvl in alerts.LEVELS[1:]}
    outside_patients_with = {lvl: set() for lvl in alerts.LEVELS[1:]}
    patient_days_outside = 0.0
    n_assessed = 0
    for doc in tables["timelines"]:
        tl = timeline.parse(doc)
        a = timeline.assess(tl)
        n_assessed += 1
        times = np.asarray(a.points.times, dtype=np.int64)
        if len(times) == 0:
            continue
        levels = np.asarray(a.levels)
        notify = np.asarray(a.notify)
        met = a.results["ravelli2016"].verdict == 2
        eps = episodes_by_patient.get(tl.patient.id, [])
        near = np.zeros(len(times), dtype=bool)
        for onset, end in eps:
            near |= (times >= onset - 7 * DAY) & (times <= end + 7 * DAY)
            window = (times >= onset - 3 * DAY) & (times <= end)
            hit = np.flatnonzero(window & met)
            if not len(hit):
                continue
            criteria_met_episodes += 1
            t_met = times[hit[0]]
            for code, lvl in enumerate(alerts.LEVELS[1:], start=1):
                first = np.flatnonzero((times >= onset - 14 * DAY) & (times <= t_met) & (levels >= code))
                if len(first):
                    lead[lvl].append((t_met - times[first[0]]) / US_PER_H)
                    if times[first[0]] < t_met:
                        reached_before[lvl] += 1
        span_days = (times[-1] - times[0]) / DAY
        patient_days_outside += span_days * (1 - near.mean())
        for code, lvl in enumerate(alerts.LEVELS[1:], start=1):
            k = int(np.sum(notify & ~near & (levels == code)))
            outside[lvl] += k
            if k:
                outside_patients_with[lvl].add(tl.patient.id)
    elapsed = time.perf_counter() - t0

    print("SYNTHETIC cohort — measured on generated data, not a clinical validation")
    print(f"patients {args.patients} (seed {args.seed}, MAS frequency x{args.mas_scale:g}); "
          f"labelled MAS episodes {len(mas)}; episodes in which the 2016 criteria were met: {criteria_met_episodes}")
    print(f"{'level':8} {'reached before criteria':>24} {'median lead (h)':>16} {'IQR (h)':>16}")
    for lvl in alerts.LEVELS[1:]:
        xs = np.array(lead[lvl])
        if len(xs):
            q1, med, q3 = np.percentile(xs, [25, 50, 75])
            share = f"{reached_before[lvl]}/{criteria_met_episodes} ({100 * reached_before[lvl] / max(criteria_met_episodes, 1):.0f}%)"
            print(f"{lvl:8} {share:>24} {med:16.1f} {f'{q1:.0f}-{q3:.0f}':>16}")
        else:
            print(f"{lvl:8} {'-':>24}")
    print(f"outside MAS episodes (> 7 d away): {patient_days_outside / 365.25:.1f} patient-years observed")
    for lvl in alerts.LEVELS[1:]:
        rate = outside[lvl] / max(patient_days_outside / 365.25, 1e-9)
        print(f"  {lvl:8} notifications: {outside[lvl]:5d}  = {rate:6.2f} per patient-year; "
              f"patients ever notified: {len(outside_patients_with[lvl])}/{n_assessed}")
    print(f"({elapsed:.1f} s: generate + assess {n_assessed} timelines)")


def _isnat(x) -> bool:
    try:
        import pandas as pd

        return pd.isna(x)
    except Exception:
        return False


if __name__ == "__main__":
    main()
