"""The patient page's trend charts: stored results and their assessment in, SVG out.

Presentation only. Values are the timeline's own parse of the stored rows (canonical units,
corrections applied by the one rule); cut-offs are the instrument modules' constants
(:mod:`maswatch.render.cutoffs`); the alert-level band, episodes and treatment come from
the full assessment JSON of the stored data (``monitoring.full``: the stored row has no
per-time history). Nothing clinical is computed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..analytes import get as analyte
from ..display import unit_text
from ..render import LEVEL_FILLS, Marker, Series, TimeAxis, TreatmentBar, level_bands, time_series_chart, treatment_chart
from ..render.cutoffs import cutoffs
from ..timeline import Timeline
from ..timeline.observations import from_us

WINDOWS = {"7": 7, "30": 30, "90": 90, "all": None}
"""Chart windows (days before the assessment time) the page offers; 30 by default."""
DEFAULT_WINDOW = "30"


@dataclass(frozen=True)
class Panel:
    title: str
    analytes: tuple[str, ...]
    log: bool = False
    why: str = ""
    zero: bool = True
    """Linear axis from 0 (counts, most labs); off where 0 is meaningless (body temperature)."""


PANELS = (
    Panel("Ferritin", ("ferritin",), log=True, why="log scale: ferritin spans orders of magnitude in MAS"),
    Panel("Platelets", ("platelets",)),
    Panel("WBC and neutrophils", ("wbc", "neutrophils")),
    Panel("Haemoglobin", ("hemoglobin",)),
    Panel("AST and ALT", ("ast", "alt"), log=True, why="log scale: transaminases span orders of magnitude"),
    Panel("LDH", ("ldh",)),
    Panel("Fibrinogen", ("fibrinogen",)),
    Panel("Triglycerides", ("triglycerides",)),
    Panel("D-dimer", ("d_dimer",)),
    Panel("ESR against CRP", ("esr", "crp"), why="a falling ESR with a rising CRP suggests consumption of fibrinogen"),
    Panel("Temperature", ("temperature",), zero=False, why="axis not from 0: 37 against 39 °C must be readable"),
)
TREATMENT_ORDER = ("methylprednisolone", "prednisolone", "prednisone", "dexamethasone", "hydrocortisone",
                   "ciclosporin", "anakinra", "emapalumab", "etoposide", "ruxolitinib")
"""Treatment rows: glucocorticoids first, then the usual escalation (docs/clinical/criteria.md §10)."""


def _t(s: str | None) -> datetime | None:
    return None if not s else datetime.fromisoformat(s.replace("Z", "+00:00"))


def axis_for(out: dict, window: str, first: datetime | None) -> TimeAxis:
    end = _t(out["at"])
    days = WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])
    start = first or end - timedelta(days=1)
    if days is not None:
        start = max(start, end - timedelta(days=days))
    if end - start < timedelta(hours=2):  # one result: give the axis a width
        start = end - timedelta(hours=12)
    return TimeAxis(start, end + timedelta(hours=2), "date (UTC)")


def first_time(tl: Timeline) -> datetime | None:
    ts = [int(s.t[0]) for s in tl.table.series.values() if len(s.t)]
    return from_us(min(ts)) if ts else None


def _bands(out: dict, axis: TimeAxis):
    hist = [h for h in out.get("history", []) if _t(h["time"]) is not None]
    if not hist:
        return []
    return level_bands([_t(h["time"]) for h in hist], [h["alert_level"] for h in hist], axis.end, LEVEL_FILLS)


def _markers(out: dict, axis: TimeAxis) -> list[Marker]:
    ms = []
    for ep in ((out["assessment"].get("episode") or {}).get("episodes") or []):
        for key, label in (("onset", f"MAS episode {ep['number']} onset"), ("remission", f"episode {ep['number']} remission")):
            t = _t(ep.get(key))
            if t is not None and axis.start <= t <= axis.end:
                ms.append(Marker(t, label))
    return ms


def _series(tl: Timeline, aid: str, axis: TimeAxis) -> Series | None:
    s = tl.table.series.get(aid)
    if s is None or not len(s.t):
        return None
    times = [from_us(int(t)) for t in s.t]
    keep = [i for i, t in enumerate(times) if axis.start <= t <= axis.end]
    if not keep:
        return None
    name = analyte(aid).label.split(" (")[0]
    return Series(name, [times[i] for i in keep], [float(s.value[i]) for i in keep],
                  censored=[bool(int(s.comparator[i]) & 7) for i in keep])


def lab_charts(tl: Timeline, out: dict, window: str, synthetic: bool) -> list[dict]:
    """One chart per panel with data in the window; panels without data are listed, not drawn."""
    axis = axis_for(out, window, first_time(tl))
    bands, markers = _bands(out, axis), _markers(out, axis)
    tag = " — SYNTHETIC" if synthetic else ""
    pid = (out.get("patient") or {}).get("id", "")
    charts = []
    for p in PANELS:
        drawn = [(a, x) for a, x in ((a, _series(tl, a, axis)) for a in p.analytes) if x is not None]
        if not drawn:
            charts.append({"title": p.title, "svg": None})
            continue
        series = [x for _, x in drawn]
        units = [unit_text(analyte(a).canonical_unit) for a, _ in drawn]
        unit = units[0] if len(set(units)) == 1 else " · ".join(f"{x.label} {u}" for x, u in zip(series, units))
        ths = tuple(th for a in p.analytes for th in cutoffs(a))
        note = "Background: the alert level at each time (its name is written in the band). " + p.why
        charts.append({"title": p.title, "svg": time_series_chart(
            series, title=f"{p.title}, patient {pid}{tag}", y_label=p.title, unit=unit, axis=axis, log=p.log, zero=p.zero,
            thresholds=ths, bands=bands, markers=markers, note=note + (" SYNTHETIC data." if synthetic else ""))})
    return charts


def _dose_text(m: dict) -> str:
    d = m.get("dose") or {}
    if "value" not in d:
        return "dose not recorded"
    per = f" ×{m['frequency_per_day']:g}/day" if m.get("frequency_per_day") else ""
    return f"{d['value']:g} {d.get('unit', '')}{per}".strip()


def treatment_svg(out: dict, window: str, first: datetime | None, synthetic: bool) -> str | None:
    meds = ((out["assessment"].get("treatment") or {}).get("medications")) or []
    axis = axis_for(out, window, first)
    bars = []
    for m in meds:
        start, end = _t(m.get("start")), _t(m.get("end"))
        if start is None or start > axis.end or (end is not None and end < axis.start):
            continue
        bars.append(TreatmentBar(m["drug"], max(start, axis.start), None if end is None else min(end, axis.end),
                                 _dose_text(m)))
    if not bars:
        return None
    rank = {d: i for i, d in enumerate(TREATMENT_ORDER)}
    bars.sort(key=lambda b: (rank.get(b.row, len(rank)), b.start))
    pid = (out.get("patient") or {}).get("id", "")
    return treatment_chart(bars, title=f"Treatment, patient {pid}" + (" — SYNTHETIC" if synthetic else ""),
                           axis=axis, markers=_markers(out, axis),
                           note="Each bar is one prescription line, its dose written on it." +
                                (" SYNTHETIC data." if synthetic else ""))
