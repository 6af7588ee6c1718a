"""When a synthetic patient is measured, and what the lab reports (SYNTHETIC data).

Outpatient visits are sparse (every 1-4 months, D§6), inpatient stays have a daily
morning panel with per-test missingness that tapers once the episode settles (D§7.4),
send-out tests (sCD25, IL-18, CXCL9) are drawn rarely, temperatures every 4-8 hours.
Each patient's lab ("site") has its own unit conventions and assay ceiling; values are
rounded as the lab reports them. A small, configurable share of results is preliminary,
amended or entered in error (README.txt of each cohort says how they look).
``observe`` draws one patient's schedule (numpy over that patient's rows); the values and
what the lab reports are computed for a whole chunk of patients at once (``report``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import analytes
from ..analytes import LAB_IDS
from . import params as P
from .model import A, FERRITIN, LAB_INDEX, Patient, patient_rng

FINDINGS = ("fever", "hepatomegaly", "splenomegaly", "cns_involvement", "hemorrhage", "active_arthritis",
            "marrow_hemophagocytosis")
VARIABLES = LAB_IDS + ("temperature", "weight") + FINDINGS
"""Every quantity an observation row can carry; index = ``var`` code."""
V_TEMP = A
V_WEIGHT = A + 1
V_FINDING0 = A + 2
V_FEVER = V_FINDING0
V_EXAM = tuple(V_FINDING0 + 1 + i for i in range(len(P.FEATURES)))  # follows P.FEATURES order
V_MARROW = V_FINDING0 + len(FINDINGS) - 1
if FINDINGS[1:6] != P.FEATURES:  # exam findings share P.FEATURES' order
    raise RuntimeError("sampling.FINDINGS and params.FEATURES disagree")

STATUSES = ("final", "preliminary", "amended", "corrected", "entered-in-error", "cancelled")
ST_FINAL, ST_PRELIM, ST_AMENDED, ST_EIE = 0, 1, 2, 4
COMPARATORS = (None, "<", "<=", ">=", ">")
LOINC = tuple((analytes.get(v).loinc[0] if analytes.get(v).loinc else None) if v in analytes.registry()
              else None for v in VARIABLES)
# the registry lists no LOINC for scd25/il18/cxcl9 (codes UNVERIFIED, docs/clinical/criteria.md §15): emitted as null

# ---- per-site unit tables -------------------------------------------------------------
UNITS: list[str] = []


def _unit_index(u: str) -> int:
    if u not in UNITS:
        UNITS.append(u)
    return UNITS.index(u)


def _site_tables(site: P.Site):
    nv = len(VARIABLES)
    unit = np.full(nv, -1, dtype=np.int16)
    mul = np.ones(nv)
    add = np.zeros(nv)
    dec = np.zeros(nv, dtype=np.int64)
    for v, name in enumerate(VARIABLES):
        if name in FINDINGS:
            continue
        if name == "weight":
            unit[v], dec[v] = _unit_index("kg"), 1
            continue
        a = analytes.get(name)
        u = site.temperature_unit if name == "temperature" else (site.units.get(name) or a.canonical_unit)
        conv = a.conversion(u)  # raises if a site table names a unit the registry refuses
        # inverse of canonical = (x - s) * m / d
        mul[v], add[v] = conv.divide / conv.multiply, conv.subtract
        unit[v] = _unit_index(u)
        # keep the canonical precision, shifted by the unit's order of magnitude (g/L Hb -> 0 dp)
        dec[v] = P.UNIT_DECIMALS.get((name, u), a.decimals - round(math.log10(mul[v])))
    return unit, mul, add, dec


SITE_TABLES = [_site_tables(s) for s in P.SITES]
UNIT_ARRAY = tuple(UNITS) + (None,)  # index -1 -> null
_LAB_GROUP = np.array([{"platelets": 0, "wbc": 0, "hemoglobin": 0, "neutrophils": 0, "ast": 1, "alt": 1,
                        "fibrinogen": 2, "d_dimer": 2}.get(a, 3 + i) for i, a in enumerate(LAB_IDS)])
_DRAW_P = np.array([[P.DRAW_PROBABILITY[a][k] for a in LAB_IDS] for k in range(3)])
_CLIP = np.array([P.CLIP[a] for a in LAB_IDS], dtype=float)
_WITHIN_CV = np.array([P.WITHIN_PERSON_CV[a] for a in LAB_IDS])
_LOWER_LIMIT = np.array([P.LOWER_LIMIT.get(a, 0.0) for a in LAB_IDS])
_SEND_OUTS = tuple(LAB_INDEX[a] for a in ("scd25", "il18", "cxcl9"))
_QUOTIDIAN = {"still_active", "still_mas", "aosd_mas"}


def _weekday_visits(days: np.ndarray, rng) -> np.ndarray:
    """Move visits off weekends and give them office hours (08:00-16:30)."""
    d = np.floor(days)
    dow = (d + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    d = d + np.where(dow == 5, 2, np.where(dow == 6, 1, 0))
    return d + rng.uniform(8.0, 16.5, d.size) / 24.0


def _inside(t: np.ndarray, stays) -> np.ndarray:
    m = np.zeros(t.size, dtype=bool)
    for a, b in stays:
        m |= (t >= a) & (t <= b)
    return m


def observe(p: Patient, seed: int, options: P.SynthOptions) -> dict[str, np.ndarray]:
    """All observation rows of one patient, sorted in time, in the units its lab reports."""
    rng = patient_rng(seed, p.index, 1)
    w0, w1 = p.window
    end = p.dead_at if p.dead_at is not None else w1
    stays = p.admissions
    rheum = p.params.condition is not None

    # --- contacts -------------------------------------------------------------------
    glo, ghi = p.params.visit_gap_days
    n_max = int((w1 - w0) / glo) + 2
    visits = w0 + rng.uniform(0, glo) + np.concatenate([[0.0], np.cumsum(rng.uniform(glo, ghi, n_max))])
    extra = [e.start + 0.5 + 2.5 * rng.random() for e in p.episodes if not e.admitted and e.kind != "mas"]
    extra += [b + d for _, b in stays for d in P.POST_DISCHARGE_VISITS_DAYS]
    visits = _weekday_visits(np.concatenate([visits, np.asarray(extra, dtype=float)]), rng)
    visits = visits[(visits >= w0) & (visits <= end) & ~_inside(visits, stays)]

    ev_t, ev_kind, ev_factor = [visits], [np.zeros(visits.size, np.int8)], [np.ones(visits.size)]
    for a, b in stays:
        days = np.arange(math.floor(a) + 1, math.floor(b) + 1, dtype=float)
        rt = days + rng.uniform(5.0, 7.0, days.size) / 24.0
        rt = rt[rt <= b]
        if options.twice_daily_share and rng.random() < options.twice_daily_share:
            rt = np.sort(np.concatenate([rt, rt + 12.0 / 24.0]))
        k = rt - a
        active_mas = np.zeros(rt.size, dtype=bool)
        for e in p.episodes:
            if e.kind == "mas":
                active_mas |= (rt >= e.start) & (rt <= e.peak + 2)
        factor = np.where((k >= P.TAPER_AFTER_DAYS) & ~active_mas, P.TAPER_DRAW_FACTOR, 1.0)
        ev_t += [np.array([a]), rt]
        ev_kind += [np.array([2], np.int8), np.ones(rt.size, np.int8)]
        ev_factor += [np.ones(1), factor]
    ev_t = np.concatenate(ev_t)
    ev_kind = np.concatenate(ev_kind)
    ev_factor = np.concatenate(ev_factor)
    keep = ev_t <= end
    ev_t, ev_kind, ev_factor = ev_t[keep], ev_kind[keep], ev_factor[keep]

    # --- laboratory draws ---------------------------------------------------------------
    u = rng.random((ev_t.size, 3 + A))[:, _LAB_GROUP]
    draw = u < _DRAW_P[ev_kind] * ev_factor[:, None]
    e_r, a_r = np.nonzero(draw)
    lab_t = ev_t[e_r]
    so_t, so_a = [], []
    for e in p.episodes:
        if e.kind == "mas" and e.diagnosis is not None and e.diagnosis <= end:
            for a_i, name in zip(_SEND_OUTS, ("scd25", "il18", "cxcl9")):
                if rng.random() < P.SEND_OUT_P_MAS[name]:
                    so_t.append(e.diagnosis + 0.5 * rng.random())
                    so_a.append(a_i)
                    t_rep = e.diagnosis + 7
                    while t_rep < (e.resolution or end) and t_rep <= end and rng.random() < P.SEND_OUT_REPEAT_WEEKLY:
                        so_t.append(t_rep)
                        so_a.append(a_i)
                        t_rep += 7
    for a, _b in stays:
        for a_i, name in zip(_SEND_OUTS, ("scd25", "il18", "cxcl9")):
            if a <= end and rng.random() < P.SEND_OUT_P_OTHER_ADMISSION[name]:
                so_t.append(a)
                so_a.append(a_i)
    if so_t:
        lab_t = np.concatenate([lab_t, np.asarray(so_t)])
        a_r = np.concatenate([a_r, np.asarray(so_a, dtype=a_r.dtype)])

    # --- temperature and findings: when they are recorded -------------------------------
    temp_t = [visits[rng.random(visits.size) < 0.8]]
    for a, b in stays:
        steps = rng.uniform(*P.TEMPERATURE_EVERY_HOURS, int((b - a) * 24 / P.TEMPERATURE_EVERY_HOURS[0]) + 2) / 24
        tt = a + np.cumsum(steps)
        temp_t.append(tt[tt <= b])
    temp_t = np.concatenate(temp_t)
    temp_t = temp_t[temp_t <= end]
    fev_t = np.concatenate([ev_t[ev_kind > 0], visits[rng.random(visits.size) < 0.6]])
    exam_t = ev_t[(ev_kind == 2) | ((ev_kind == 1) & (rng.random(ev_t.size) < P.EXAM_FINDINGS_P_PER_DAY))]
    k_arth = P.FEATURES.index("active_arthritis")
    arth_t = visits[rng.random(visits.size) < P.OUTPATIENT_ARTHRITIS_EXAM] if rheum else visits[:0]

    marrow = [(e.marrow[0], float(e.marrow[1])) for e in p.episodes if e.marrow and e.marrow[0] <= end]
    mar_t = np.array([m[0] for m in marrow], dtype=float)
    wt_t = np.concatenate([ev_t[ev_kind == 2], visits[rng.random(visits.size) < 0.85]])

    # Values that depend on the disease course are computed for the whole chunk at once
    # (``_course_values``); only marrow results and weight are known here.
    t = np.concatenate([lab_t, temp_t, fev_t, np.tile(exam_t, len(V_EXAM)), arth_t, mar_t, wt_t])
    var = np.concatenate([a_r, np.full(temp_t.size, V_TEMP), np.full(fev_t.size, V_FEVER),
                          np.repeat(np.array(V_EXAM), exam_t.size), np.full(arth_t.size, V_EXAM[k_arth]),
                          np.full(mar_t.size, V_MARROW), np.full(wt_t.size, V_WEIGHT)]).astype(np.int64)
    known = np.concatenate([np.full(t.size - mar_t.size - wt_t.size, np.nan), [m[1] for m in marrow],
                            np.asarray(p.weight_kg(wt_t), dtype=float)])
    minute = np.round(t * 1440.0).astype(np.int64)
    order = np.argsort(minute * 32 + var, kind="stable")  # time order (to the minute), then variable
    n = minute.size
    # per-row noise and data-quality uniforms, drawn here so they belong to this patient's stream
    return {"minute": minute[order], "var": var[order], "known": known[order],
            "noise": rng.standard_normal(n), "dq": rng.random((n, 3))}


_HORIZON = math.log(1e5)  # an episode's effect is ignored once below 1e-5 of its size


def _course_values(patients: list[Patient], pos, minute, var, known, noise) -> np.ndarray:
    """Canonical values of the rows that depend on the disease course, for a whole chunk.

    Each row is paired only with the episodes of its patient whose active window covers
    it (found by binary search: rows are sorted by patient, then time), so the cost is
    proportional to the rows inside episodes. Labs: baseline + sum of w_e(t) * delta_e
    (log scale) + within-person noise; temperature: 36.7 Cel + noise + fever spikes;
    fever and exam findings: whether an active episode has them.
    """
    n = minute.size
    t = minute / 1440.0
    rows = [(k, e) for k, p in enumerate(patients) for e in p.episodes]
    E = len(rows)
    lab_sum = np.zeros(n)
    amp = np.zeros(n)
    on = np.zeros(n, dtype=bool)
    present = np.zeros(n, dtype=bool)
    if E:
        ep_pos = np.array([k for k, _ in rows], dtype=np.int64)
        es = [e for _, e in rows]
        start = np.array([e.start for e in es])
        peak = np.array([e.peak for e in es])
        plateau = np.array([e.plateau_end for e in es])
        tau = np.array([e.tau for e in es])
        fever_end = np.array([e.fever_end if e.fever else -np.inf for e in es])
        fever_on = start + 0.3 * (peak - start)
        height = np.array([1.5 + 1.3 * ((e.number * 0.618) % 1.0) for e in es])  # per-episode spike height
        quotidian = np.array([e.state in _QUOTIDIAN for e in es])
        delta = np.stack([e.delta for e in es])
        features = np.stack([e.features for e in es])
        stop = np.maximum(plateau + _HORIZON * tau * P.FERRITIN_TAU_FACTOR, fever_end)
        key = pos * (1 << 32) + minute
        lo = np.searchsorted(key, ep_pos * (1 << 32) + np.floor(start * 1440.0).astype(np.int64), "left")
        hi = np.searchsorted(key, ep_pos * (1 << 32) + np.ceil(stop * 1440.0).astype(np.int64), "right")
        counts = hi - lo
        total = int(counts.sum())
        pe = np.repeat(np.arange(E), counts)
        pr = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
        tr, vr = t[pr], var[pr]
        dt = tr - start[pe]
        w = np.minimum(dt / np.maximum(peak - start, 1e-3)[pe], 1.0)
        slow = np.where(vr == FERRITIN, 1.0 / P.FERRITIN_TAU_FACTOR, 1.0)  # ferritin falls more slowly
        w *= np.exp(np.maximum(tr - plateau[pe], 0.0) * slow / -tau[pe])
        w[dt < 0] = 0.0
        lab = vr < A
        lab_sum = np.bincount(pr[lab], weights=w[lab] * delta[pe[lab], vr[lab]], minlength=n)
        fev = ((vr == V_TEMP) | (vr == V_FEVER)) & (tr >= fever_on[pe]) & (tr < fever_end[pe])
        if fev.any():
            hour = (tr[fev] % 1.0) * 24.0
            shape = np.where(quotidian[pe[fev]], 0.55 + 0.45 * np.cos(2 * np.pi * (hour - 17.0) / 24.0),
                             0.75 + 0.25 * np.cos(2 * np.pi * (hour - 18.0) / 24.0))
            np.maximum.at(amp, pr[fev], height[pe[fev]] * shape)
            on[pr[fev]] = True
        ex = (vr >= V_EXAM[0]) & (vr <= V_EXAM[-1])
        ex &= w > 0.25
        ex[ex] = features[pe[ex], vr[ex] - V_EXAM[0]]
        present[pr[ex]] = True

    out = known.copy()
    is_lab = var < A
    base = np.stack([p.base for p in patients])[pos[is_lab], var[is_lab]]
    lv = np.exp(base + lab_sum[is_lab] + _WITHIN_CV[var[is_lab]] * noise[is_lab])
    out[is_lab] = np.minimum(np.maximum(lv, _CLIP[var[is_lab], 0]), _CLIP[var[is_lab], 1])
    tm = var == V_TEMP
    out[tm] = np.minimum(np.maximum(36.7 + 0.25 * noise[tm] + amp[tm], 35.0), 41.5)
    fv = var == V_FEVER
    out[fv] = on[fv]
    ex_rows = (var >= V_EXAM[0]) & (var <= V_EXAM[-1])
    out[ex_rows] = present[ex_rows]
    return out


def report(patients: list[Patient], raw: list[dict], options: P.SynthOptions) -> dict[str, np.ndarray]:
    """Chunk-wide, vectorised: site units, rounding, censoring, reference ranges,
    data-quality events, time order and per-patient observation numbers.

    Returns columns over all rows of the chunk, grouped by patient (``pos`` = position of
    the patient in ``patients``) and in time order within a patient.
    """
    sizes = np.array([r["var"].size for r in raw], dtype=np.int64)
    pos = np.repeat(np.arange(len(raw)), sizes)
    minute = np.concatenate([r["minute"] for r in raw])
    var = np.concatenate([r["var"] for r in raw])
    canon = _course_values(patients, pos, minute, var, np.concatenate([r["known"] for r in raw]),
                           np.concatenate([r["noise"] for r in raw]))
    u = np.concatenate([r["dq"] for r in raw])
    site = np.array([p.site for p in patients], dtype=np.int64)[pos]
    n = minute.size
    is_lab = var < A
    lab_idx = np.where(is_lab, var, 0)

    cmp = np.zeros(n, dtype=np.int8)
    limit = _LOWER_LIMIT_V[var]
    below = canon < limit
    canon = np.where(below, limit, canon)
    cmp[below] = 1
    ceiling = _SITE_CEILING[site]
    over = (var == FERRITIN) & (canon > ceiling)
    canon = np.where(over, ceiling, canon)
    cmp[over] = 4

    dq = options.data_quality
    status = np.where(is_lab & (u[:, 0] < dq.preliminary), ST_PRELIM, ST_FINAL).astype(np.int8)
    cand = is_lab & (cmp == 0) & (status == ST_FINAL)
    amend = np.flatnonzero(cand & (u[:, 1] < dq.amended))
    eie = np.flatnonzero(cand & (u[:, 1] >= dq.amended) & (u[:, 1] < dq.amended + dq.entered_in_error))
    fix = np.concatenate([amend, eie])  # rows followed by a correction
    # An amended result first went out wrong (e.g. a dilution not accounted for), an
    # entered-in-error one belonged to another specimen; the original row carries the wrong value.
    wrong = np.concatenate([canon[amend] * _AMEND_FACTORS[(u[amend, 2] * len(_AMEND_FACTORS)).astype(np.int64)],
                            canon[eie] * np.exp(1.4 * (u[eie, 2] - 0.5))])
    a_fix = lab_idx[fix]
    wrong = np.minimum(np.maximum(wrong, _CLIP[a_fix, 0]), _CLIP[a_fix, 1])
    first_value = canon.copy()
    first_value[fix] = wrong
    fix_value = np.concatenate([canon[amend], wrong[amend.size:]])

    # rows are in order within each patient; insert each correction right after its original
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    seq = np.arange(n) - offsets[pos] + 1
    order_fix = np.argsort(fix, kind="stable")
    fix = fix[order_fix]
    fix_value = fix_value[order_fix]
    fix_status = np.concatenate([np.full(amend.size, ST_AMENDED, np.int8),
                                 np.full(eie.size, ST_EIE, np.int8)])[order_fix]
    new_base = np.arange(n) + np.searchsorted(fix, np.arange(n), side="left")
    new_fix = fix + np.arange(fix.size) + 1
    total = n + fix.size

    def merged(base_col, fix_col):
        out = np.empty(total, dtype=np.result_type(base_col, fix_col))
        out[new_base] = base_col
        out[new_fix] = fix_col
        return out

    all_pos = merged(pos, pos[fix])
    all_minute = merged(minute, minute[fix])
    all_var = merged(var, var[fix])
    all_val = merged(first_value, fix_value)
    all_cmp = merged(cmp, cmp[fix])
    all_status = merged(status, fix_status)
    all_seq = merged(seq, seq[fix])
    all_site = merged(site, site[fix])

    key = all_site * len(VARIABLES) + all_var
    mul, add, scale = _MUL.ravel()[key], _ADD.ravel()[key], _SCALE.ravel()[key]

    def rounded(x):
        # scale = 10**decimals; for negative decimals (/uL counts) x * 0.001 rounds to an
        # integer and dividing by 0.001 gives the exact multiple of 1000
        return np.rint(x * scale) / scale

    lab_v = np.where(all_var < A, all_var, 0)
    no_ref = all_var >= A
    ref_low = np.stack([p.ref_low for p in patients])[all_pos, lab_v]
    ref_high = np.stack([p.ref_high for p in patients])[all_pos, lab_v]
    ref_low[no_ref] = np.nan
    ref_high[no_ref] = np.nan
    return {
        "pos": all_pos,
        "time_us": all_minute * 60_000_000,
        "var": all_var,
        "value": rounded(all_val * mul + add),
        "unit": _UNIT.ravel()[key],
        "comparator": all_cmp,
        "status": all_status,
        "ref_low": rounded(ref_low * mul + add),
        "ref_high": rounded(ref_high * mul + add),
        "seq": all_seq,
    }


_AMEND_FACTORS = np.array([0.5, 0.8, 1.25, 2.0])
_LOWER_LIMIT_V = np.concatenate([_LOWER_LIMIT, np.zeros(len(VARIABLES) - A)])
_SITE_CEILING = np.array([np.inf if s.ferritin_ceiling is None else s.ferritin_ceiling for s in P.SITES])
_UNIT = np.stack([s[0] for s in SITE_TABLES])
_MUL = np.stack([s[1] for s in SITE_TABLES])
_ADD = np.stack([s[2] for s in SITE_TABLES])
_DEC = np.stack([s[3] for s in SITE_TABLES])
_SCALE = np.power(10.0, _DEC.astype(float))


__all__ = ["observe", "report", "VARIABLES", "FINDINGS", "STATUSES", "COMPARATORS", "LOINC", "UNIT_ARRAY"]
