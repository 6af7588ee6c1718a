"""The assessment of one patient at time ``at``, and its history at every result time.

Composition only: the instruments, trend signals, alert levels and response
definitions decide; this module builds the evaluation points once (one batch), runs
them once, and assembles the explainable result.

Episodes. MAS onset is the first evaluation time at which a classification or
diagnostic set (2016 sJIA-MAS criteria, HLH-2004 by its clinical route, HScore, jSLE 2009
guidelines) is met in a patient it applies to — alert level ``alert`` (``alerts.CORE_INSTRUMENTS``). The
episode lasts until remission (``treatment.response_status``); evaluation times after
remission belong to a new monitoring segment, in which criteria met again start a new
episode (recurrence), and alert de-duplication starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from .. import alerts, display, freshness, reading, report, trends
from ..batch import CONTEXTS, FINDING_IDS
from ..errors import InputError
from ..diary.signs import FAMILY_SIGN_LOOKBACK_HOURS
from ..instruments import INSTRUMENTS, InstrumentResult, evaluate_all
from ..instruments._base import ItemResult
from ..logic import VERDICT_NAMES
from ..lookback import DEFAULT_LOOKBACK, Lookback
from ..schemas.assessment import ASSESSMENT_SCHEMA
from ..settings import DEFAULT, Settings
from ..treatment import active_therapies, glucocorticoid_exposure, treatment_lines
from ..treatment.response import LabColumns, response_from_columns
from .observations import from_us, iso, to_us
from .observations import US_PER_HOUR, ObservationTable, Series
from .points import Points, build_points, given_row, inputs_row, window_us

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
"""Shown in each history row: the labs whose change matters most (docs/clinical/criteria.md §8)."""
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
    fresh_levels: np.ndarray = field(default=None)
    """The level from the results inside their look-back windows alone (``levels`` may carry more)."""
    stale: dict[str, np.ndarray] = field(default_factory=dict)
    """Per input key, bool per point: its latest result in the segment aged out of its window."""
    overdue: dict[str, np.ndarray] = field(default_factory=dict)
    """Per analyte, bool per point: an episode is active and its latest result is older than due."""
    carried: np.ndarray = field(default=None)
    """bool per point: the level shown is above ``fresh_levels`` because results are stale."""
    active: np.ndarray = field(default=None)
    """bool per point: an episode is active (onset reached, remission not yet)."""
    freshness: freshness.Freshness = field(default=freshness.DEFAULT_FRESHNESS)

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
        return report.instrument_rows(one, b, 0)

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
        """One row per evaluation time, built column by column (NumPy) and zipped into rows: no
        per-cell lookups, the cost of a 2,000-point history is the dicts themselves."""
        n = self.n
        ids = list(self.results)
        verdict_cols = [_VERDICTS[r.verdict].tolist() for r in self.results.values()]
        scores = {iid: col for iid, r in self.results.items() if (col := _score_column(r)) is not None}
        b = self.points.batch
        lab_names, lab_vals, lab_present = [], [], []
        for a in KEY_LABS:
            q = b.lab(a)
            if q.present.any():
                col = np.array(json_numbers(q.value()), dtype=object)
                col[q.present & ~q.exact] = "censored"
                lab_names.append(a)
                lab_vals.append(col.tolist())
                lab_present.append(q.present.tolist())
        if lab_names:
            row_labs = [dict(compress(zip(lab_names, v), p)) for v, p in zip(zip(*lab_vals), zip(*lab_present))]
        else:
            row_labs = [{} for _ in range(n)]
        verdict_rows = _dict_rows(ids, verdict_cols) if ids else [{} for _ in range(n)]
        score_rows = [dict(zip(scores, v)) for v in zip(*scores.values())] if scores else [{} for _ in range(n)]
        rows = [
            {"time": t, "alert_level": lv, "level_from_fresh_results": flv, "stale": st, "overdue": od, "notify": nt,
             "episode": ep, "segment": sg, "result_time": rt, "uses_preliminary": pr, "labs": lb, "verdicts": vd,
             "scores": sc}
            for t, lv, flv, st, od, nt, ep, sg, rt, pr, lb, vd, sc in zip(
                iso_times(self.points.times), _LEVELS[self.levels].tolist(), _LEVELS[self.fresh_levels].tolist(),
                _keys_per_row(self.stale, n), _keys_per_row(self.overdue, n), self.notify.tolist(),
                _episode_numbers(self), self.segment.tolist(), self.result_time.tolist(),
                self.points.preliminary.tolist(), row_labs, verdict_rows, score_rows)
        ]
        for i in np.flatnonzero(self.notify).tolist():
            rows[i].update(self._notification_json(i))
        return rows

    def _notification_json(self, i: int) -> dict:
        """A notification carries its explanation and the tests to order at that time."""
        return {"explanation": self._explain(i),
                "tests_to_order": [t["input"] for t in alerts.tests_to_order(self.instruments_row(i))]}

    def _explain(self, i: int) -> list[dict]:
        """The reasons at row ``i``; a family-reported sign says when it was reported."""
        signs = [k for k, m in self.parts.get("family_red_flag", {}).items() if m[i]]
        at = int(self.points.times[i])
        said = {}
        for sign, last in alerts.family_report_times({k: self.timeline.table.symptoms[k] for k in signs},
                                                     self.points.times[i:i + 1]).items():
            t = int(last[0])
            ago = (at - t) / 1e6  # seconds before the reading; none said when it is the reading's own time
            said[sign] = f"reported {iso(t)}" + (f", {display.duration(ago)} before" if ago >= 60 else "")
        return alerts.explain(self.results, self.signals, self.points.batch, i, self.parts,
                              {"family_red_flag": said} if said else None)

    def history_for_changes(self, known: set[tuple[int, str]]) -> list[dict]:
        """The rows of :meth:`history_json` that ``timeline.changes`` reads, with only the fields it
        reads: time, level, ``notify``, segment, and — on a notified row of a (segment, level) not in
        ``known`` — the notification's explanation and tests to order. The rows: every notified
        one, and the start of the final run of the last level with the row before it (``changes``
        walks back from the end while the level is unchanged: the run between adds nothing).
        What the service stores instead of the whole history (its labs, verdicts and scores are
        most of the cost); tested equal to :meth:`history_json`'s rows."""
        if self.n == 0:
            return []
        levels = self.levels
        other = np.flatnonzero(levels != levels[-1])
        start = int(other[-1]) + 1 if len(other) else 0
        idx = sorted({*np.flatnonzero(self.notify).tolist(), start, *([start - 1] if start else [])})
        rows = []
        for i, t in zip(idx, iso_times(self.points.times[idx])):
            row = {"time": t, "alert_level": alerts.LEVELS[int(levels[i])], "notify": bool(self.notify[i]),
                   "segment": int(self.segment[i])}
            if row["notify"] and (row["segment"], row["alert_level"]) not in known:
                row.update(self._notification_json(i))
            rows.append(row)
        return rows

    def current_json(self) -> dict:
        if self.n == 0:
            return {"alert_level": "none", "explanation": [], "instruments": None,
                    "note": "no laboratory, vital or finding observations at or before this time"}
        i = self.n - 1
        tl = self.timeline
        instruments = self.instruments_row(i)
        ep = self.episode_at(i)
        fresh = self.freshness_json(i)
        explanation = self._explain(i)
        if fresh["reason"]:
            explanation.insert(0, {"reason": "results_stale", "level": self.level, "text": fresh["reason"],
                                   "evidence": [x["input"] for x in fresh["stale"] + fresh["overdue"]]})
        b = self.points.batch.row(i)
        b.given = [given_row(self.points, tl.table, tl.observations, i)]
        facts = report.facts(b, 0)
        due = {**{_path(x["input"]): "stale" for x in fresh["stale"]},
               **{_path(x["input"]): "overdue" for x in fresh["overdue"]}}
        head = reading.headline(instruments, facts)
        head["text"] = self._level_prefix(i, fresh) + head["text"]
        return {
            "alert_level": self.level,
            "alert_levels": list(alerts.LEVELS),
            "notify": bool(self.notify[i]),
            "reading": head,
            "next_steps": reading.next_steps(instruments, facts, due),
            "freshness": fresh,
            "explanation": explanation,
            "context": CONTEXTS[int(self.points.batch.context[i])],
            "age_years": None if not self.points.batch.age.present[i] else round(float(self.points.batch.age.lo[i]), 3),
            "inputs": [{**x, "age_hours": _hours(self.at_us - _us(x["time"]))}
                       for x in inputs_row(self.points, tl.table, tl.observations, i)],
            "uses_preliminary": bool(self.points.preliminary[i]),
            "instruments": instruments,
            "differential": _differential(instruments),
            "trends": trends.evidence(self.points.batch, self.points.reference, i, self.trend_config, self.signals),
            "tests_to_order": alerts.tests_to_order(instruments),
            "treatment": self.treatment_json(),
            "response": self.response_json(ep),
            "episode": self.episode_json(i),
        }

    def freshness_json(self, i: int) -> dict:
        """Row ``i``: stale results, overdue labs, and the level carried because of them."""
        t = int(self.points.times[i])
        stale, overdue = [], []
        for key, col in self.stale.items():
            if col[i]:
                last = _last_time(self.timeline.table.series[key], t)
                stale.append({"input": key, "last_time": iso(last), "age_hours": _hours(t - last),
                              "lookback_hours": self.lookback.window_hours(key)})
        for key, col in self.overdue.items():
            if col[i]:
                s = self.timeline.table.series.get(key)
                last = None if s is None else _last_time(s, t)
                overdue.append({"input": key, "last_time": None if last is None else iso(last),
                                "age_hours": None if last is None else _hours(t - last),
                                "due_every_hours": self.freshness.overdue_hours[key]})
        fresh_level = alerts.LEVELS[int(self.fresh_levels[i])]
        carried = bool(self.levels[i] != self.fresh_levels[i])
        reason = None
        if carried:
            names = ", ".join(f"{display.label(_path(x['input']))} ({display.number(x['age_hours'], 2)} h old; look-back "
                              f"{display.number(x['lookback_hours'])} h)" for x in stale)
            late = ", ".join(display.label(_path(x["input"])) for x in overdue)
            reason = (f"results stale: {names or 'none'}" + (f"; overdue: {late}" if late else "")
                      + f" — level kept at {alerts.LEVELS[int(self.levels[i])]} (the results still inside their "
                      f"look-back windows alone would read {fresh_level}); repeat the labs")
        return {
            "stale": stale,
            "overdue": overdue,
            "episode_active": bool(self.active[i]),
            "level_from_fresh_results": fresh_level,
            "level_carried": carried,
            "reason": reason,
        }

    def _level_prefix(self, i: int, fresh: dict) -> str:
        """'ALERT — ', or for a carried level what the last results showed and when."""
        text = self.level.upper()
        if fresh["level_carried"]:
            seg = self.segment == self.segment[i]
            same = np.flatnonzero(seg & (self.fresh_levels == self.levels[i]) & (np.arange(self.n) < i))
            if len(same):
                j = int(same[-1])
                b = self.points.batch.row(j)
                b.given = [given_row(self.points, self.timeline.table, self.timeline.observations, j)]
                then = reading.headline(self.instruments_row(j), report.facts(b, 0))["text"]
                text += f" carried, results stale (last results at {iso(int(self.points.times[j]))}: {then})"
            else:
                text += " carried, results stale"
            return text + "; from fresh results alone: "
        if fresh["overdue"]:
            text += " (labs overdue: " + ", ".join(display.label(_path(x["input"])) for x in fresh["overdue"]) + ")"
        return text + " — "

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
            "definition": "onset: first time a classification/diagnostic set (ravelli2016, hlh2004 by its clinical "
                          "route of 5 of 8, hscore, parodi2009) is met in a patient it applies to; ends at remission (treatment.response_status); "
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
            "freshness": self.freshness.to_json(),
            "instruments": self.settings.model_dump(),
            "unverified": {iid: self.settings.unverified(iid) for iid in INSTRUMENTS if self.settings.unverified(iid)},
            "alert_levels": {"levels": list(alerts.LEVELS),
                             "reasons": [{"reason": r.id, "level": alerts.LEVELS[r.level], "text": r.text}
                                         for r in alerts.REASONS],
                             "label": "composition is maswatch's own (no paper defines alert levels)"},
        }

    def to_json(self, *, history: bool = True) -> dict:
        """What ``maswatch assess --json`` prints. ``history=False`` leaves out the ``history``
        rows (one per evaluation time: most of the cost and size) for callers that show only the
        assessment at ``at`` — CDS cards, a ward list; every other key is the same."""
        tl = self.timeline
        return {
            "schema": ASSESSMENT_SCHEMA,
            "patient": tl.patient.model_dump(mode="json", exclude_none=True),
            "synthetic": tl.synthetic,
            **({"label": "SYNTHETIC data — not a real patient"} if tl.synthetic else {}),
            "at": iso(self.at_us),
            "assessment": self.current_json(),
            **({"history": self.history_json()} if history else {}),
            "first_met": self.first_times(2),
            "first_indeterminate": self.first_times(1),
            "peak_scores": self.peak_scores(),
            "corrections": {"removed": tl.table.removed, "replaced": tl.table.replaced},
            "settings": self.settings_json(),
            "disclaimer": DISCLAIMER,
        }


_FINDINGS = set(FINDING_IDS) | {"temperature"}


def _path(key: str) -> str:
    """Series key -> snapshot input path ('ferritin' -> 'labs.ferritin', 'fever' -> 'findings.fever')."""
    return f"findings.{key}" if key in _FINDINGS else f"labs.{key}"


def _dict_rows(keys: list[str], columns: list[list]) -> list[dict]:
    """``{key: column[i]}`` per row i, for columns of few distinct rows (verdicts): each distinct
    row is built once and copied (a copy per row: no row shares an object with another)."""
    built: dict[tuple, dict] = {}
    out = []
    for v in zip(*columns):
        d = built.get(v)
        if d is None:
            d = built[v] = dict(zip(keys, v))
        out.append(d.copy())
    return out


def _keys_per_row(cols: dict[str, np.ndarray], n: int) -> list[list[str]]:
    out: list[list[str]] = [[] for _ in range(n)]
    for key, col in cols.items():
        for k in np.flatnonzero(col).tolist():
            out[k].append(key)
    return out


def _hours(us: int) -> float:
    return round(us / US_PER_HOUR, 2)


def _us(text: str) -> int:
    return to_us(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _last_time(s: Series, t: int) -> int | None:
    """Time of the series' latest value at or before ``t`` (None if there is none)."""
    pos = int(np.searchsorted(s.t, t, side="right")) - 1
    return None if pos < 0 else int(s.t[pos])


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
        unverified=r.unverified, settings_used=r.settings_used, adult_age_years=r.adult_age_years,
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
    out = json_numbers(lo)
    apart = np.flatnonzero(np.asarray(lo, dtype=np.float64) != np.asarray(hi, dtype=np.float64))  # NaN too
    for j, b in zip(apart.tolist(), json_numbers(np.asarray(hi)[apart])):
        out[j] = [out[j], b]  # a range: [lowest, highest] still possible
    return out


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
        entry = {"question": question, "verdict": r["verdict"], "score_display": r.get("score_display"),
                 "applicable": r["applicable"],
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


def _lab_columns(tl: "Timeline", until_us: int, since_us: int) -> dict[str, LabColumns]:
    """The response analytes' results in ``[since_us, until_us]``, as the timeline holds them."""
    out = {}
    for a in RESPONSE_ANALYTES:
        s = tl.table.series.get(a)
        if s is None:
            continue
        k = slice(int(np.searchsorted(s.t, since_us, side="left")), int(np.searchsorted(s.t, until_us, side="right")))
        out[a] = LabColumns(t=s.t[k], value=s.value[k], low=s.low[k], high=s.high[k], comparator=s.comparator[k])
    return out


def _fever(tl: "Timeline", until_us: int) -> tuple[np.ndarray, np.ndarray] | None:
    s = tl.table.series.get("fever")
    if s is None:
        return None
    k = slice(0, int(np.searchsorted(s.t, until_us, side="right")))
    return s.t[k], s.value[k] != 0


def _episodes(tl: "Timeline", times: np.ndarray, onset_mask: np.ndarray, at_us: int) -> list[Episode]:
    episodes: list[Episode] = []
    start = np.iinfo(np.int64).min  # segment start (exclusive): the previous remission
    fever = _fever(tl, at_us)
    while True:
        cand = np.flatnonzero(onset_mask & (times > start))
        if len(cand) == 0:
            break
        onset = int(times[cand[0]])
        status = response_from_columns(from_us(onset), from_us(at_us), _lab_columns(tl, at_us, onset), fever)
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
    overdue: freshness.Freshness = freshness.DEFAULT_FRESHNESS,
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
    parts["family_red_flag"] = alerts.family_red_flag_parts(tl.table.symptoms, times,
                                                            window_us(FAMILY_SIGN_LOOKBACK_HOURS))
    masks = alerts.masks_from_parts(parts, pts.batch.n)
    levels = alerts.levels_from_masks(masks, pts.batch.n)
    episodes = _episodes(tl, times, masks["core_met"], at_us)
    remissions = np.array([e.remission_us for e in episodes if e.remission_us is not None], dtype=np.int64)
    segment = np.searchsorted(remissions, times, side="left").astype(np.int64)  # remissions strictly before t
    active = _active(episodes, times)
    since = np.where(segment > 0, remissions[np.maximum(segment - 1, 0)] if len(remissions) else 0,
                     np.iinfo(np.int64).min).astype(np.int64)
    series_t = {k: s.t for k, s in tl.table.series.items()}
    stale = freshness.stale_columns(series_t, times, {k: window_us(lookback.window_hours(k)) for k in series_t}, since)
    late = freshness.overdue_columns(series_t, times, overdue, active)
    any_stale = np.zeros(len(times), bool)
    for col in stale.values():
        any_stale |= col
    any_overdue = np.zeros(len(times), bool)
    for col in late.values():
        any_overdue |= col
    # a level can be carried only below the highest already reached in the segment, and only in
    # an active episode or from concern up: elsewhere the counterfactual is not needed
    reached = freshness.running_max_by_group(levels, segment)
    needed = any_stale & (levels < reached) & (active | (reached >= alerts.CONCERN))
    counterfactual = _levels_if_fresh(tl, times, needed, segment, since, settings, lookback, trend_config, levels)
    shown, carried = freshness.carried_levels(levels, counterfactual, segment, any_stale, active, any_overdue)
    notify = alerts.notify_mask(np.zeros(len(times), np.int8), shown, segment)
    return Assessment(
        timeline=tl, at_us=at_us, points=pts, results=results, signals=sig, parts=parts, masks=masks, levels=shown,
        notify=notify, segment=segment, episodes=episodes, settings=settings, lookback=lookback,
        trend_config=trend_config, result_time=result_time, fresh_levels=levels,
        stale={k: v for k, v in stale.items() if v.any()}, overdue={k: v for k, v in late.items() if v.any()},
        carried=carried, active=active, freshness=overdue,
    )


def _active(episodes: list[Episode], times: np.ndarray) -> np.ndarray:
    """bool per time: inside an episode, from onset until (not including) remission."""
    out = np.zeros(len(times), bool)
    for ep in episodes:
        end = np.iinfo(np.int64).max if ep.remission_us is None else ep.remission_us
        out |= (times >= ep.onset_us) & (times < end)
    return out


_FOREVER_HOURS = 1e6
"""A look-back longer than any record: every result of the segment counts as if fresh."""


def _levels_if_fresh(tl: "Timeline", times: np.ndarray, rows: np.ndarray, segment: np.ndarray, since: np.ndarray,
                     settings: Settings, lookback: Lookback, trend_config: trends.TrendConfig,
                     levels: np.ndarray) -> np.ndarray:
    """The level at the rows where results are stale if every result of the monitoring segment
    still counted (the same instruments and alert rules; one batch per segment)."""
    out = np.asarray(levels, np.int8).copy()
    forever = Lookback(hours={k: _FOREVER_HOURS for k in lookback.hours})
    for seg in np.unique(segment[rows]).tolist():
        k = np.flatnonzero(rows & (segment == seg))
        table = _table_since(tl.table, int(since[k[0]]))
        pts = build_points(table, times[k], tl.patient, tl.conditions, forever, trends.reference_columns(trend_config))
        results = evaluate_all(pts.batch, settings)
        sig = trends.signals(pts.batch, pts.reference, trend_config)
        out[k] = alerts.alert_levels(results, sig, pts.batch)
    return out


def _table_since(table: ObservationTable, since_us: int) -> ObservationTable:
    """The observations at or after ``since_us`` (the current monitoring segment)."""
    series = {}
    for key, s in table.series.items():
        j = int(np.searchsorted(s.t, since_us, side="left"))
        if j == len(s.t):
            continue  # nothing of this key in the segment
        series[key] = Series(key=s.key, t=s.t[j:], value=s.value[j:], comparator=s.comparator[j:], src=s.src[j:],
                             preliminary=s.preliminary[j:], low=s.low[j:], high=s.high[j:])
    return ObservationTable(series=series, weights=table.weights)
