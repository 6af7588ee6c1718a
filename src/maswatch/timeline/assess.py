"""The assessment of one patient at time ``at``, and its history at every result time.

Composition only: the instruments, trend signals, alert levels and response
definitions decide; this module builds the evaluation points once (one batch), runs
them once, and assembles the explainable result.

Episodes. MAS onset is the first evaluation time at which a classification or
diagnostic set (2016 sJIA-MAS criteria, HLH-2004, HScore, jSLE 2009 guidelines) is met
in a patient it applies to — alert level ``alert`` (``alerts.CORE_INSTRUMENTS``). The
episode lasts until remission (``treatment.response_status``); evaluation times after
remission belong to a new monitoring segment, in which criteria met again start a new
episode (recurrence), and alert de-duplication starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from .. import alerts, report, trends
from ..batch import CONTEXTS
from ..errors import InputError
from ..instruments import INSTRUMENTS, InstrumentResult, evaluate_all
from ..instruments._base import ItemResult
from ..logic import VERDICT_NAMES
from ..lookback import DEFAULT_LOOKBACK, Lookback
from ..settings import DEFAULT, Settings
from ..treatment import LabPoint, active_therapies, glucocorticoid_exposure, response_status, treatment_lines
from .observations import from_us, iso, to_us
from .points import Points, build_points, given_row, inputs_row

if TYPE_CHECKING:
    from . import Timeline

DISCLAIMER = "Decision support only: not a diagnosis. Every result is evidence for a clinician to weigh."
RESPONSE_ANALYTES = ("wbc", "platelets", "ldh", "alt", "ast", "fibrinogen", "ferritin")
DIFFERENTIAL = {
    "ms_score": "MAS vs active systemic JIA (flare without MAS)",
    "ferritin_esr": "MAS vs systemic JIA flare",
    "mh_score": "MAS vs primary (familial) HLH",
}
KEY_LABS = ("platelets", "ferritin", "ast", "fibrinogen", "wbc", "esr", "crp")
"""Shown in each history row: the labs whose change matters most (criteria.md §8)."""
_VERDICTS = np.array(VERDICT_NAMES, dtype=object)
_LEVELS = np.array(alerts.LEVELS, dtype=object)


@dataclass
class Episode:
    number: int
    onset_us: int
    remission_us: int | None
    response: object  # treatment.ResponseStatus at ``at``


@dataclass
class Assessment:
    timeline: "Timeline"
    at_us: int
    points: Points
    results: dict[str, InstrumentResult]
    signals: dict[str, np.ndarray]
    parts: dict[str, dict[str, np.ndarray]]
    """alerts.reason_parts: per reason, the evidence behind it (instrument / signal -> bool column)."""
    masks: dict[str, np.ndarray]
    levels: np.ndarray
    notify: np.ndarray
    segment: np.ndarray
    episodes: list[Episode]
    settings: Settings
    lookback: Lookback
    trend_config: trends.TrendConfig
    result_time: np.ndarray = field(default=None)  # bool: the point is a result time (else the requested 'at')

    # ---------------------------------------------------------------- per-row pieces
    @property
    def n(self) -> int:
        return len(self.points.times)

    @property
    def at(self) -> datetime:
        return from_us(self.at_us)

    @property
    def level(self) -> str:
        return alerts.LEVELS[int(self.levels[-1])] if self.n else "none"

    def instruments_row(self, i: int) -> dict:
        """Exactly the ``maswatch evaluate`` row for the snapshot at point ``i``."""
        b = self.points.batch.row(i)
        b.given = [given_row(self.points, self.timeline.table, self.timeline.observations, i)]
        one = {iid: _row_result(r, i) for iid, r in self.results.items()}
        return report.rows(one, b)[0]["instruments"]

    def episode_at(self, i: int) -> Episode | None:
        t = int(self.points.times[i])
        for ep in self.episodes:
            if ep.onset_us <= t and (ep.remission_us is None or t <= ep.remission_us):
                return ep
        return None

    # ---------------------------------------------------------------- JSON
    def first_times(self, verdict: int) -> dict[str, str | None]:
        out = {}
        for iid, r in self.results.items():
            hit = np.flatnonzero(r.verdict == verdict)
            out[iid] = iso(int(self.points.times[hit[0]])) if len(hit) else None
        return out

    def peak_scores(self) -> dict[str, dict]:
        out = {}
        for iid, r in self.results.items():
            bounds = _score_bounds(r)
            if bounds is not None:
                out[iid] = _peak(*bounds, self.points.times)
        return out

    def history_json(self) -> list[dict]:
        times = iso_times(self.points.times)
        lv = _LEVELS[self.levels].tolist()
        verdicts = {iid: _VERDICTS[r.verdict].tolist() for iid, r in self.results.items()}
        scores = {iid: _score_column(r) for iid, r in self.results.items()}
        notify = self.notify.tolist()
        prelim = self.points.preliminary.tolist()
        seg = self.segment.tolist()
        ep_no = _episode_numbers(self)
        res_t = self.result_time.tolist()
        ids = list(self.results)
        b = self.points.batch
        labs = {}
        for a in KEY_LABS:
            q = b.lab(a)
            if q.present.any():
                col = np.array(json_numbers(q.value()), dtype=object)
                col[q.present & ~q.exact] = "censored"
                labs[a] = (col.tolist(), q.present.tolist())
        row_labs = [{a: vals[i] for a, (vals, present) in labs.items() if present[i]} for i in range(self.n)]
        rows = [
            {"time": times[i], "alert_level": lv[i], "notify": notify[i], "episode": ep_no[i], "segment": seg[i],
             "result_time": res_t[i], "uses_preliminary": prelim[i], "labs": row_labs[i],
             "verdicts": {k: verdicts[k][i] for k in ids},
             "scores": {k: scores[k][i] for k in ids if scores[k] is not None}}
            for i in range(self.n)
        ]
        # a notification carries its explanation and the tests to order at that time
        for i in np.flatnonzero(self.notify).tolist():
            rows[i]["explanation"] = alerts.explain(self.results, self.signals, b, i, self.parts)
            rows[i]["tests_to_order"] = [t["input"] for t in alerts.tests_to_order(self.instruments_row(i))]
        return rows

    def current_json(self) -> dict:
        if self.n == 0:
            return {"alert_level": "none", "explanation": [], "instruments": None,
                    "note": "no laboratory, vital or finding observations at or before this time"}
        i = self.n - 1
        tl = self.timeline
        instruments = self.instruments_row(i)
        ep = self.episode_at(i)
        return {
            "alert_level": self.level,
            "alert_levels": list(alerts.LEVELS),
            "notify": bool(self.notify[i]),
            "explanation": alerts.explain(self.results, self.signals, self.points.batch, i, self.parts),
            "context": CONTEXTS[int(self.points.batch.context[i])],
            "age_years": None if not self.points.batch.age.present[i] else round(float(self.points.batch.age.lo[i]), 3),
            "inputs": inputs_row(self.points, tl.table, tl.observations, i),
            "uses_preliminary": bool(self.points.preliminary[i]),
            "instruments": instruments,
            "differential": _differential(instruments),
            "trends": trends.evidence(self.points.batch, self.points.reference, i, self.trend_config, self.signals),
            "tests_to_order": alerts.tests_to_order(instruments),
            "treatment": self.treatment_json(),
            "response": self.response_json(ep),
            "episode": self.episode_json(i),
        }

    def response_json(self, ep: Episode | None) -> dict | None:
        """Response of the episode in progress, else of the last one (after its remission)."""
        ep = ep or (self.episodes[-1] if self.episodes else None)
        if ep is None:
            return None
        return {"episode": ep.number, **ep.response.to_json()}

    def episode_json(self, i: int) -> dict:
        ep = self.episode_at(i)
        past = [{"number": e.number, "onset": iso(e.onset_us),
                 "remission": None if e.remission_us is None else iso(e.remission_us)} for e in self.episodes]
        if ep is None:
            state = "in remission" if self.episodes and self.episodes[-1].remission_us is not None else "no episode"
        else:
            state = "active" if ep.remission_us is None else "remission"
        return {
            "state": state,
            "current": None if ep is None else ep.number,
            "recurrence": bool(ep is not None and ep.number > 1),
            "episodes": past,
            "definition": "onset: first time a classification/diagnostic set (ravelli2016, hlh2004, hscore, parodi2009) "
                          "is met in a patient it applies to; ends at remission (treatment.response_status); "
                          "criteria met again after remission start a new episode (recurrence)",
        }

    def treatment_json(self) -> dict:
        meds = self.timeline.medications
        at = self.at
        exposure = glucocorticoid_exposure(meds, self.timeline.table.weights, at)
        return {
            "active": active_therapies(meds, at),
            "lines": treatment_lines(meds, at),
            "medications": [_med_json(m) for m in meds if m.start <= at],
            "glucocorticoids": exposure.to_json(),
        }

    def settings_json(self) -> dict:
        return {
            "lookback_hours": {"values": dict(self.lookback.hours),
                               "label": "ASSUMPTION — no paper sets look-back windows (maswatch.lookback)"},
            "trends": self.trend_config.to_json(),
            "instruments": self.settings.model_dump(),
            "unverified": {iid: self.settings.unverified(iid) for iid in INSTRUMENTS if self.settings.unverified(iid)},
            "alert_levels": {"levels": list(alerts.LEVELS),
                             "reasons": [{"reason": r.id, "level": alerts.LEVELS[r.level], "text": r.text}
                                         for r in alerts.REASONS],
                             "label": "composition is maswatch's own (no paper defines alert levels)"},
        }

    def to_json(self) -> dict:
        tl = self.timeline
        return {
            "patient": tl.patient.model_dump(mode="json", exclude_none=True),
            "synthetic": tl.synthetic,
            **({"label": "SYNTHETIC data — not a real patient"} if tl.synthetic else {}),
            "at": iso(self.at_us),
            "assessment": self.current_json(),
            "history": self.history_json(),
            "first_met": self.first_times(2),
            "first_indeterminate": self.first_times(1),
            "peak_scores": self.peak_scores(),
            "corrections": {"removed": tl.table.removed, "replaced": tl.table.replaced},
            "settings": self.settings_json(),
            "disclaimer": DISCLAIMER,
        }


def _row_result(r: InstrumentResult, i: int) -> InstrumentResult:
    """One row of a column result (for rendering that row with ``report``)."""
    sl = slice(i, i + 1)
    return InstrumentResult(
        spec=r.spec, verdict=r.verdict[sl], applicable=r.applicable[sl],
        items={k: ItemResult(v.status[sl], None if v.points_min is None else v.points_min[sl],
                             None if v.points_max is None else v.points_max[sl]) for k, v in r.items.items()},
        score_min=None if r.score_min is None else r.score_min[sl],
        score_max=None if r.score_max is None else r.score_max[sl],
        extras={k: v[sl] for k, v in r.extras.items()}, notes={k: v[sl] for k, v in r.notes.items()},
        unverified=r.unverified, settings_used=r.settings_used,
    )


def _num(x: float):
    return report._num(x)


def json_numbers(x: np.ndarray) -> list:
    """Vectorised ``report._num``: ints stay ints, NaN/inf -> None, floats rounded to 6 places."""
    v = np.round(np.asarray(x, dtype=np.float64), 6)
    finite = np.isfinite(v)
    out = v.astype(object)
    ints = finite & (v == np.floor(v)) & (np.abs(v) < 2**53)
    out[ints] = v[ints].astype(np.int64).astype(object)
    out[~finite] = None
    return out.tolist()


def iso_times(us: np.ndarray) -> list[str]:
    """Vectorised ``observations.iso``: UTC ISO 8601 with 'Z'."""
    us = np.asarray(us, dtype=np.int64)
    unit = "s" if not (us % 1_000_000).any() else "us"
    return [s + "Z" for s in np.datetime_as_string(us.astype("datetime64[us]"), unit=unit).tolist()]


def _score_bounds(r: InstrumentResult) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The lowest and highest value still possible of an instrument's score, count or ratio."""
    if r.score_min is not None:
        return r.score_min, r.score_max, "points"
    if "criteria_met" in r.extras:
        return r.extras["criteria_met"], r.extras["criteria_possible"], "criteria of 8"
    if "ratio_min" in r.extras:
        return r.extras["ratio_min"], r.extras["ratio_max"], "ng/mL per mm/h"
    return None


def _score_column(r: InstrumentResult):
    bounds = _score_bounds(r)
    if bounds is None:
        return None
    lo, hi, _ = bounds
    lo_l, hi_l = json_numbers(lo), json_numbers(hi)
    same = (np.asarray(lo, dtype=np.float64) == np.asarray(hi, dtype=np.float64)).tolist()
    return [a if eq else [a, b] for a, b, eq in zip(lo_l, hi_l, same)]


def _peak(lo: np.ndarray, hi: np.ndarray, unit: str, times: np.ndarray) -> dict:
    lo = lo.astype(np.float64)
    hi = hi.astype(np.float64)
    out = {"unit": unit, "highest_certain": None, "time": None, "highest_possible": None, "time_possible": None}
    if len(lo) and np.isfinite(lo).any():
        k = int(np.nanargmax(np.where(np.isfinite(lo), lo, -np.inf)))
        out["highest_certain"], out["time"] = _num(lo[k]), iso(int(times[k]))
    if len(hi) and np.isfinite(hi).any():
        k = int(np.nanargmax(np.where(np.isfinite(hi), hi, -np.inf)))
        out["highest_possible"], out["time_possible"] = _num(hi[k]), iso(int(times[k]))
    return out


def _differential(instruments: dict) -> dict:
    out = {}
    for iid, question in DIFFERENTIAL.items():
        r = instruments[iid]
        entry = {"question": question, "verdict": r["verdict"], "applicable": r["applicable"],
                 "population": r["population"], "intended_use": r["intended_use"], "cutoff": r["cutoff"],
                 "reference": r["reference"], "missing": r["missing"], "unverified": r["unverified"]}
        for k in ("score", "score_min", "score_max", "ratio", "ratio_min", "ratio_max"):
            if k in r:
                entry[k] = r[k]
        out[iid] = entry
    return out


def _med_json(m) -> dict:
    return m.model_dump(mode="json", exclude_none=True)


def _episode_numbers(a: Assessment) -> list[int | None]:
    out: list[int | None] = [None] * a.n
    t = a.points.times
    for ep in a.episodes:
        end = np.iinfo(np.int64).max if ep.remission_us is None else ep.remission_us
        for k in np.flatnonzero((t >= ep.onset_us) & (t <= end)).tolist():
            out[k] = ep.number
    return out


def _lab_points(tl: "Timeline", until_us: int, since_us: int) -> dict[str, list[LabPoint]]:
    out = {}
    for a in RESPONSE_ANALYTES:
        s = tl.table.series.get(a)
        if s is None:
            continue
        k = np.flatnonzero((s.t >= since_us) & (s.t <= until_us))
        comps = (None, "<", "<=", ">=", ">")
        out[a] = [
            LabPoint(from_us(int(s.t[j])), float(s.value[j]),
                     None if np.isnan(s.low[j]) else float(s.low[j]),
                     None if np.isnan(s.high[j]) else float(s.high[j]),
                     comps[int(s.comparator[j])])
            for j in k.tolist()
        ]
    return out


def _fever(tl: "Timeline", until_us: int) -> list[tuple[datetime, bool]] | None:
    s = tl.table.series.get("fever")
    if s is None:
        return None
    k = np.flatnonzero(s.t <= until_us)
    return [(from_us(int(s.t[j])), bool(s.value[j])) for j in k.tolist()]


def _episodes(tl: "Timeline", times: np.ndarray, onset_mask: np.ndarray, at_us: int) -> list[Episode]:
    episodes: list[Episode] = []
    start = np.iinfo(np.int64).min  # segment start (exclusive): the previous remission
    fever = _fever(tl, at_us)
    while True:
        cand = np.flatnonzero(onset_mask & (times > start))
        if len(cand) == 0:
            break
        onset = int(times[cand[0]])
        status = response_status(from_us(onset), from_us(at_us), _lab_points(tl, at_us, onset), fever)
        rt = status.remission_time
        rem = None if rt is None else to_us(rt)
        episodes.append(Episode(len(episodes) + 1, onset, rem, status))
        if rem is None or rem <= onset:
            break
        start = rem
    return episodes


def assess(
    tl: "Timeline", at: datetime | None = None, *, settings: Settings = DEFAULT,
    lookback: Lookback = DEFAULT_LOOKBACK, trend_config: trends.TrendConfig = trends.DEFAULT_TRENDS,
) -> Assessment:
    """Evaluate ``tl`` at every result time up to ``at`` (default: the last result time) and at ``at``."""
    all_times = tl.table.times()
    if at is None:
        at_us = int(all_times[-1]) if len(all_times) else to_us(datetime.now().astimezone())
    else:
        if at.tzinfo is None or at.utcoffset() is None:
            raise InputError("at", "the time needs a UTC offset, e.g. 2024-05-01T08:00:00Z")
        at_us = to_us(at)
    times = all_times[all_times <= at_us]
    result_time = np.ones(len(times), bool)
    if len(all_times) and (len(times) == 0 or times[-1] != at_us):
        times = np.append(times, np.int64(at_us))
        result_time = np.append(result_time, False)
    pts = build_points(tl.table, times, tl.patient, tl.conditions, lookback, trends.reference_columns(trend_config))
    results = evaluate_all(pts.batch, settings)
    sig = trends.signals(pts.batch, pts.reference, trend_config)
    parts = alerts.reason_parts(results, sig, pts.batch)
    masks = alerts.masks_from_parts(parts, pts.batch.n)
    levels = alerts.levels_from_masks(masks, pts.batch.n)
    episodes = _episodes(tl, times, masks["core_met"], at_us)
    remissions = np.array([e.remission_us for e in episodes if e.remission_us is not None], dtype=np.int64)
    segment = np.searchsorted(remissions, times, side="left").astype(np.int64)  # remissions strictly before t
    notify = alerts.notify_mask(np.zeros(len(times), np.int8), levels, segment)
    return Assessment(
        timeline=tl, at_us=at_us, points=pts, results=results, signals=sig, parts=parts, masks=masks, levels=levels,
        notify=notify, segment=segment, episodes=episodes, settings=settings, lookback=lookback,
        trend_config=trend_config, result_time=result_time,
    )
