"""Alert level per evaluation point, its explanation, and de-duplication of notifications.

Pure vectorised rules over instrument results, trend signals and the patient context;
the same functions serve ``assess`` (one patient) and ``screen`` (a population).

Levels (ordered; int8 code = index in ``LEVELS``):

- ``none``    nothing below applies. Not "normal": missing tests are listed separately.
- ``watch``   partial evidence: any trend signal; an MAS/HLH set still open
              (indeterminate) with two or more items met; ferritin:ESR or OHI met.
- ``concern`` review now: MS score met in a febrile patient
              with known sJIA/AOSD (validated there to tell MAS from active sJIA; silent elsewhere); two or more of the changes the
              expert consensus ranked highest (platelets falling, ferritin rising, AST
              rising; docs/clinical/criteria.md §8); one of them, reaching the range of the 2016 criteria
              item, in a patient with known sJIA/Still's disease or SLE, where MAS is a known
              complication (docs/clinical/criteria.md §8–10); the set made for the patient's known disease
              (2016 criteria in sJIA/AOSD, jSLE 2009 in SLE) still open with two or more items met;
              a sign the family reported at home in the last 24 h (``family_red_flag``, docs/family.md).
- ``alert``   a classification or diagnostic set is met in a patient it applies to (or
              whose population is not known): 2016 sJIA-MAS criteria, HLH-2004 (its clinical
              route, 5 of 8: a molecular diagnosis is a lifelong fact, not a state at time t),
              HScore, jSLE 2009 guidelines.

An instrument outside its validated population (context or age: ``applicable`` NO) never
raises the level: it is shown apart (docs/clinical/criteria.md §3, §5, §7, §12 for the age-limited ones).

The composition is ours (no paper defines alert levels); its inputs are the published
instruments and the HEURISTIC trend signals (docs/clinical/criteria.md §8), which is why a trend alone
never goes beyond ``concern``. It was checked on a SYNTHETIC cohort (``maswatch synth``) for
alarm burden, not validated on patients. Notifications repeat only when the level worsens
within an episode (:func:`notify_mask`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batch import CONTEXT_TEXT, CONTEXTS, SnapshotBatch
from .instruments import InstrumentResult
from .logic import NO, UNKNOWN, YES
from .trends import SIGNALS

LEVELS = ("none", "watch", "concern", "alert")
NONE, WATCH, CONCERN, ALERT = range(len(LEVELS))

CORE_INSTRUMENTS = ("ravelli2016", "hlh2004", "hscore", "parodi2009")
"""Classification/diagnostic sets whose verdict defines an episode of MAS / HLH."""

KNOWN_CONTEXTS = ("sjia", "aosd", "sle")
"""Diseases in which MAS is a known complication (issue 3: known context raises concern)."""

DISEASE_SPECIFIC = ("ravelli2016", "parodi2009")
"""Sets made for one disease (sJIA; juvenile SLE): partial evidence in that known disease is a concern."""

CLINICAL_ROUTE = {"hlh2004": "clinical_criteria"}
"""Sets read through one route at time t: HLH-2004's 5-of-8 clinical criteria (its molecular
route is a patient fact that would otherwise mark every time point; docs/clinical/criteria.md §2)."""

CONSENSUS_ITEMS = {"falling_platelets": "platelets", "rising_ferritin": "ferritin", "rising_ast": "ast"}
"""The 2016 sJIA-MAS criteria item each top-ranked change moves into (PLT <= 181, ferritin > 684,
AST > 48 U/L; docs/clinical/criteria.md §1): a change that reaches the abnormal range, not one within normal."""

_KNOWN_CTX_CODES = np.array([CONTEXTS.index(c) for c in KNOWN_CONTEXTS], dtype=np.int8)


@dataclass(frozen=True)
class Reason:
    id: str
    level: int
    text: str


REASONS: tuple[Reason, ...] = (
    Reason("core_met", ALERT, "{names} met in a patient the criteria apply to (or whose population is not known)"),
    Reason("ms_score_met", CONCERN, "MS score at or above its cut-off (MAS vs active sJIA; sJIA/AOSD)"),
    Reason("ravelli_labs_without_fever", CONCERN, "the laboratory part of the 2016 criteria is met (ferritin > 684 "
                                                  "and 2 of 4) in known {context}, but fever is absent or not "
                                                  "recorded: MAS without fever occurs (2 of 27 afebrile, Boston)"),
    Reason("consensus_trends", CONCERN, "two or more of the changes ranked highest by the expert consensus: {names} "
                                        "(heuristic thresholds — not validated)"),
    Reason("consensus_trend_known_context", CONCERN, "{names}, now in the range of the 2016 criteria, in a patient with "
                                                     "known {context}, where MAS is a known complication (trend "
                                                     "thresholds heuristic — not validated)"),
    Reason("disease_set_open_known_context", CONCERN, "{names} not settled (indeterminate) with two or more items met, "
                                                      "in the known {context} it was made for"),
    Reason("core_open_with_evidence", WATCH, "{names} not settled (indeterminate), with two or more items already met"),
    Reason("trend", WATCH, "trend signal: {names} (heuristic — not validated)"),
    Reason("ferritin_esr_met", WATCH, "ferritin:ESR ratio at or above 21.5 (MAS vs sJIA flare; sensitivity 82%, "
                                      "specificity 78%)"),
    Reason("ohi_met", WATCH, "OHI index positive (derived in malignancy-associated HLH)"),
    Reason("family_red_flag", CONCERN, "reported by the family at home: {names} (home diary; the family was "
                                       "told to call — docs/family.md)"),
)
_REASON = {r.id: r for r in REASONS}


PARTIAL_EVIDENCE_ITEMS = 2
"""An open (indeterminate) set counts as partial evidence once this many of its items are met
(ours: one item, e.g. ferritin >= 500 alone in HLH-2004, is too common to alert on)."""


def _partial_evidence(res: InstrumentResult) -> np.ndarray:
    met = np.zeros(len(res.verdict), dtype=np.int16)
    for iid, it in res.items.items():
        if iid != "molecular_diagnosis":  # not a clinical item (CLINICAL_ROUTE)
            met += it.status == YES
    return met >= PARTIAL_EVIDENCE_ITEMS


def route_verdict(iid: str, res: InstrumentResult) -> np.ndarray:
    """The verdict the alert levels read: the clinical route where the set has one."""
    route = CLINICAL_ROUTE.get(iid)
    return res.extras[route] if route is not None else res.verdict


def reason_parts(
    results: dict[str, InstrumentResult], signals: dict[str, np.ndarray], batch: SnapshotBatch
) -> dict[str, dict[str, np.ndarray]]:
    """Per reason id, the named pieces of evidence (instrument or signal id -> bool column)."""
    n = batch.n
    core = {i: results[i] for i in CORE_INSTRUMENTS if i in results}
    known_ctx = np.isin(batch.context, _KNOWN_CTX_CODES)
    yes = {s.id: signals[s.id] == YES for s in SIGNALS if s.id in signals}
    ravelli = results.get("ravelli2016")

    def verdict(iid: str, v) -> np.ndarray:
        return results[iid].verdict == v if iid in results else np.zeros(n, bool)

    def applies(iid: str) -> np.ndarray:
        return results[iid].applicable != NO if iid in results else np.zeros(n, bool)

    open_ = {k: (route_verdict(k, r) == UNKNOWN) & _partial_evidence(r) for k, r in core.items()}
    context_fits = {k: r.spec.applicability(batch.context) == YES for k, r in core.items()}
    # fever as HLH-2004 reads it: the finding, or the temperature when no finding is given
    febrile = results["hlh2004"].items["fever"].status == YES if "hlh2004" in results else np.zeros(n, bool)
    return {
        "core_met": {k: (route_verdict(k, r) == YES) & (r.applicable != NO) for k, r in core.items()},
        # The MS score separates MAS from active sJIA in febrile patients (its derivation population):
        # it says nothing where sJIA/AOSD is not known, nor when the patient is not febrile (an afebrile
        # child with normal labs scores about -1.7, above the -2.1 cut-off).
        "ms_score_met": {"ms_score": verdict("ms_score", YES) & (results["ms_score"].applicable == YES) & febrile
                         if "ms_score" in results else np.zeros(n, bool)},
        "ravelli_labs_without_fever": {
            "ravelli2016": (ravelli.extras["laboratory_criteria"] == YES) & (ravelli.items["fever"].status != YES)
            & (ravelli.applicable == YES)
            if ravelli is not None else np.zeros(n, bool)},
        "consensus_trends": {s.id: yes[s.id] for s in SIGNALS if s.high_rank and s.id in yes},
        "consensus_trend_known_context": {
            s: yes[s] & (ravelli.items[item].status == YES) & known_ctx
            for s, item in CONSENSUS_ITEMS.items() if s in yes and ravelli is not None and item in ravelli.items
        },
        # the disease it was made for is known; only an unknown age may leave applicability open
        "disease_set_open_known_context": {k: open_[k] & context_fits[k] & (core[k].applicable != NO)
                                           for k in DISEASE_SPECIFIC if k in core},
        "core_open_with_evidence": {k: open_[k] & (r.applicable != NO) for k, r in core.items()},
        "trend": yes,
        "ferritin_esr_met": {"ferritin_esr": verdict("ferritin_esr", YES) & applies("ferritin_esr")},
        "ohi_met": {"ohi": verdict("ohi", YES) & applies("ohi")},
        "family_red_flag": {},  # evidence from the timeline's reported signs: family_red_flag_parts
    }


def family_red_flag_parts(symptoms: dict[str, np.ndarray], times: np.ndarray, window_us: int) -> dict[str, np.ndarray]:
    """Per reported sign, a bool column: reported at or before t and less than ``window_us`` before it.

    A family's report (home diary: seizure, hard to wake, listless, ...) raises ``concern`` —
    review now — and never ``alert``, which stays for a published set met: the family itself
    was told at once to call the team or the emergency number (docs/family.md). Ours, not a
    published rule; the window is an ASSUMPTION (maswatch.diary.signs)."""
    times = np.asarray(times, np.int64)
    return {sign: (last > np.iinfo(np.int64).min) & (times - last < window_us)
            for sign, last in family_report_times(symptoms, times).items()}


def family_report_times(symptoms: dict[str, np.ndarray], times: np.ndarray) -> dict[str, np.ndarray]:
    """Per reported sign, the time (int64 µs) of its last report at or before each of ``times``
    (the int64 minimum where there is none): what an explanation says of when it was seen."""
    times = np.asarray(times, np.int64)
    out = {}
    for sign, t in symptoms.items():
        j = np.searchsorted(t, times, side="right")
        out[sign] = np.where(j > 0, t[np.maximum(j - 1, 0)], np.iinfo(np.int64).min)
    return out


_AT_LEAST_TWO = {"consensus_trends"}
"""Reasons that need two pieces of evidence; every other reason needs one."""


def _combine(rid: str, parts: dict[str, np.ndarray], n: int) -> np.ndarray:
    count = np.zeros(n, np.int16)
    for m in parts.values():
        count += m
    return count >= (2 if rid in _AT_LEAST_TWO else 1)


def reason_masks(
    results: dict[str, InstrumentResult], signals: dict[str, np.ndarray], batch: SnapshotBatch
) -> dict[str, np.ndarray]:
    """Per reason id, a bool column: where that reason applies."""
    return masks_from_parts(reason_parts(results, signals, batch), batch.n)


def masks_from_parts(parts: dict[str, dict[str, np.ndarray]], n: int) -> dict[str, np.ndarray]:
    return {rid: _combine(rid, p, n) for rid, p in parts.items()}


def alert_levels(
    results: dict[str, InstrumentResult], signals: dict[str, np.ndarray], batch: SnapshotBatch
) -> np.ndarray:
    """int8 level per row (index into ``LEVELS``): the highest level of any reason that applies."""
    return levels_from_masks(reason_masks(results, signals, batch), batch.n)


def levels_from_masks(masks: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The level per row given :func:`reason_masks` (to reuse masks already computed)."""
    level = np.zeros(n, dtype=np.int8)
    for rid, mask in masks.items():
        level = np.where(mask, np.maximum(level, _REASON[rid].level), level).astype(np.int8, copy=False)
    return level


_SIGNAL_LABELS = {s.id: s.label for s in SIGNALS}


def _shown(name: str) -> str:
    """What a clinician reads for an evidence id: the instrument's title, the trend's label, else the
    id in words (a family-reported sign); the ids themselves stay in ``evidence``."""
    from .reading import TITLES

    if name in TITLES:
        return TITLES[name]
    if name in _SIGNAL_LABELS:
        label = _SIGNAL_LABELS[name]
        return label if label[:2].isupper() else label[0].lower() + label[1:]  # "LDH rising", "ferritin rising"
    return name.replace("_", " ")


def _context_shown(code) -> str:
    ctx = CONTEXTS[int(code)]
    return CONTEXT_TEXT.get(ctx, ctx)


def explain(
    results: dict[str, InstrumentResult], signals: dict[str, np.ndarray], batch: SnapshotBatch, i: int,
    parts: dict[str, dict[str, np.ndarray]] | None = None, details: dict[str, dict[str, str]] | None = None,
) -> list[dict]:
    """Row ``i``: the reasons behind its level, highest first, each with its level, text and evidence.
    ``details``: per reason, per evidence id, words added after its name (when a sign was reported)."""
    parts = parts if parts is not None else reason_parts(results, signals, batch)
    details = details or {}
    out = []
    for r in sorted(REASONS, key=lambda r: -r.level):
        if not _combine(r.id, {k: m[i:i + 1] for k, m in parts[r.id].items()}, 1)[0]:
            continue
        names = [k for k, m in parts[r.id].items() if m[i]]
        said = details.get(r.id, {})
        shown = ", ".join(_shown(k) + (f" ({said[k]})" if k in said else "") for k in names)
        text = r.text.format(names=shown, context=_context_shown(batch.context[i]))
        out.append({"reason": r.id, "level": LEVELS[r.level], "text": text, "evidence": names})
    return out


def notify_mask(
    patient_ids: np.ndarray, levels: np.ndarray, episode_ids: np.ndarray | None = None
) -> np.ndarray:
    """True where a notification is raised, for rows sorted by patient then time.

    Within one patient (and episode, if given) a notification is raised at the first row
    whose level is above ``none`` and thereafter only where the level exceeds every earlier
    level of that group: an unchanged or falling level, or a return to a level already
    notified, stays silent. A new episode (recurrence after remission) starts afresh.
    """
    levels = np.asarray(levels, dtype=np.int64)
    n = len(levels)
    if n == 0:
        return np.zeros(0, dtype=bool)
    pid = np.asarray(patient_ids)
    start = np.ones(n, dtype=bool)
    start[1:] = pid[1:] != pid[:-1]
    if episode_ids is not None:
        ep = np.asarray(episode_ids)
        start[1:] |= ep[1:] != ep[:-1]
    group = np.cumsum(start) - 1
    span = int(levels.max()) + 1 if n else 1
    key = group * span + levels
    running = np.maximum.accumulate(key)
    prior = np.empty(n, dtype=np.int64)
    prior[0] = -1
    prior[1:] = running[:-1]
    prior = np.maximum(prior, group * span)  # a new group starts from "none"
    return key > prior


def tests_to_order(instruments_row: dict) -> list[dict]:
    """The missing inputs that could settle the indeterminate instruments of one report row
    (``report.rows(...)[i]["instruments"]``), each with the instruments it would settle.

    Ordered by how many instruments each input could settle (most first), then by name.
    """
    wanted: dict[str, list[str]] = {}
    for iid, r in instruments_row.items():
        if r["verdict"] != "indeterminate" or r.get("applicable") is False:
            continue
        for path in r["missing"]:
            wanted.setdefault(path, []).append(iid)
    order = sorted(wanted, key=lambda p: (-len(wanted[p]), p))
    return [{"input": p, "kind": p.split(".")[0], "name": p.split(".", 1)[1], "settles": wanted[p]} for p in order]
