"""Disease-state trajectories of one synthetic patient (SYNTHETIC data).

A patient has a baseline (healthy values for age and sex, D§5) and a list of episodes:
flares of the underlying disease, infections and MAS. Each episode adds, on the log
scale, ``w(t) * delta`` to every analyte, where ``w`` rises over the episode's ramp,
holds, then decays with the treatment's recovery time constant. A MAS episode sits on
top of its trigger (a flare or an infection that has reached the pre-MAS level) and
moves the labs by the published pre-MAS -> MAS changes (D§7.3) over a 3-10 day
log-linear ramp (ASSUMPTION). Everything is drawn from a per-patient generator seeded
by (seed, patient index), so a patient is the same whatever the chunking.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np

from ..analytes import LAB_IDS
from . import params as P

A = len(LAB_IDS)
LAB_INDEX = {a: i for i, a in enumerate(LAB_IDS)}
FERRITIN = LAB_INDEX["ferritin"]
CALENDAR_START_DAY = float(np.datetime64(P.CALENDAR_START, "D").astype(np.int64))
CALENDAR_END_DAY = CALENDAR_START_DAY + P.CALENDAR_SPAN_DAYS + 365.0
_ICU_Z = 0.3853  # standard-normal quantile with 35% above it (P.ICU_SHARE)


def _state_arrays(table: dict[str, P.Dist]):
    mu = np.array([math.log(table[a].median) for a in LAB_IDS])
    lo = np.array([table[a].sigma_low for a in LAB_IDS])
    hi = np.array([table[a].sigma_high for a in LAB_IDS])
    return mu, lo, hi


def _merged(base: dict, overrides: dict) -> dict:
    return {**base, **overrides}


_STATES = {name: _state_arrays(t) for name, t in P.STATE_TABLES.items()}
_STATES["aosd_mas"] = _state_arrays(_merged(P.STILL_MAS, P.ADULT_STILL_MAS_OVERRIDES))
_STATES["sle_mas"] = _state_arrays(_merged(P.STILL_MAS, P.SLE_MAS_OVERRIDES))
_MAS_LOG_CHANGE = np.array([math.log(P.MAS_CHANGE[a][0]) for a in LAB_IDS])
_SEV_DIR = np.array([P.SEVERITY_DIRECTION[a] for a in LAB_IDS], dtype=float)
_CLIP_LOG = np.log(np.array([P.CLIP[a] for a in LAB_IDS], dtype=float))
_FEATURE_FREQ = {k: np.array(v) for k, v in P.FEATURE_FREQ.items()}
_ARCH = [P.ARCHETYPE_PARAMS[a] for a in P.ARCHETYPES]


def patient_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The patient's own random stream: counter-based Philox keyed by (seed, patient index).

    Independent of chunking and worker count; ``stream`` selects a disjoint counter range
    (0: disease course, 1: sampling).
    """
    return np.random.Generator(np.random.Philox(key=[seed, index], counter=[0, 0, stream, 0]))


def _pick(rng, cumulative: list[float]) -> int:
    """Index drawn with the probabilities whose running sum is ``cumulative``."""
    return min(bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


def reference_range(analyte: str, age: float, sex: str) -> tuple[float | None, float | None]:
    """The (low, high) reference interval in canonical units for age and sex (D§5); low None = one-sided."""
    for max_age, rsex, low, high, _status, _src in P.REFERENCE_RANGES[analyte]:
        if age < max_age and (rsex is None or rsex == sex):
            return low, high
    return None, None


def _reference_arrays(age: float, sex: str):
    low = np.full(A, np.nan)
    high = np.full(A, np.nan)
    for i, a in enumerate(LAB_IDS):
        lo, hi = reference_range(a, age, sex)
        if hi is not None:
            high[i] = hi
            low[i] = np.nan if lo is None else lo
    return low, high


_REF_CACHE: dict = {}


def reference_arrays(age: float, sex: str):
    """Cached (low, high) arrays over LAB_IDS for the age band and sex."""
    key = (sex, min(int(age), 18) if age >= 1 else 0 if age < 0.5 else 0.5)
    hit = _REF_CACHE.get(key)
    if hit is None:
        hit = _REF_CACHE[key] = _reference_arrays(age, sex)
    return hit


def baseline_log(rng: np.random.Generator, age: float, sex: str) -> np.ndarray:
    """Healthy values for this person: log-normal around the middle of the reference range."""
    low, high = reference_arrays(age, sex)
    lo = np.where(np.isnan(low), high / 8.0, low)  # one-sided "< high": ASSUMPTION low = high/8
    mid = 0.5 * (np.log(lo) + np.log(high))
    sigma = (np.log(high) - np.log(lo)) / 3.92 * P.BASELINE_BETWEEN_SIGMA_FRACTION
    for a, d in P.BASELINE_WITHOUT_RANGE.items():
        i = LAB_INDEX[a]
        mid[i], sigma[i] = d.mu, d.sigma_low
    return mid + sigma * rng.standard_normal(A)


def draw_state(rng: np.random.Generator, state: str, z_shared: float = 0.0, loading: float = 0.0,
               age: float = 30.0, sex: str = "female") -> np.ndarray:
    """Log values for a disease state; optional shared severity axis (sign per analyte)."""
    mu, s_lo, s_hi = _STATES[state]
    z = loading * _SEV_DIR * z_shared + math.sqrt(1 - loading * loading) * rng.standard_normal(A)
    out = mu + np.where(z < 0, s_lo, s_hi) * z
    if age < 17 and state.endswith("mas"):
        # D§7.1: adult-derived enzyme shapes rescaled to paediatric upper limits (derived).
        _, child_hi = reference_arrays(age, sex)
        _, adult_hi = reference_arrays(30.0, sex)
        for a in P.PAEDIATRIC_RESCALE_BY_ULN:
            i = LAB_INDEX[a]
            out[i] += math.log(child_hi[i] / adult_hi[i])
    return np.minimum(np.maximum(out, _CLIP_LOG[:, 0]), _CLIP_LOG[:, 1])


@dataclass
class Medication:
    drug: str
    start: float
    end: float | None
    dose_value: float
    dose_unit: str
    frequency_per_day: float
    route: str


@dataclass
class Episode:
    kind: str  # mas | flare | infection
    state: str
    start: float  # clinical onset: the component starts to rise
    peak: float
    plateau_end: float
    tau: float
    delta: np.ndarray
    trigger: str
    fever: bool
    fever_end: float
    features: np.ndarray  # bool over P.FEATURES
    severity: str = "mild"
    resolution: float | None = None
    admitted: bool = False
    diagnosis: float | None = None
    marrow: tuple[float, bool] | None = None
    number: int = 0
    mas_related: bool = False  # a MAS episode or its trigger: never dropped for overlap
    meds: list = field(default_factory=list)  # this episode's prescriptions (kept only with it)

    def weight(self, t: np.ndarray, slow: np.ndarray | float = 1.0) -> np.ndarray:
        """Activation w(t) in [0, 1]: linear rise to the peak, plateau, exponential recovery
        with time constant ``tau / slow`` (``slow`` < 1 for analytes that fall more slowly)."""
        dt = t - self.start
        w = np.minimum(dt * (1.0 / max(self.peak - self.start, 1e-3)), 1.0)
        w *= np.exp(np.maximum(t - self.plateau_end, 0.0) * slow * (-1.0 / self.tau))
        w[dt < 0] = 0.0
        return w


@dataclass
class Patient:
    index: int
    archetype: str
    params: P.ArchetypeParams
    sex: str
    birth_day: float
    window: tuple[float, float]
    disease_onset: float | None
    base: np.ndarray
    ref_low: np.ndarray
    ref_high: np.ndarray
    weight_factor: float
    site: int
    episodes: list[Episode] = field(default_factory=list)
    admissions: list[tuple[float, float]] = field(default_factory=list)
    medications: list[Medication] = field(default_factory=list)
    dead_at: float | None = None

    def age_at(self, day: float) -> float:
        return (day - self.birth_day) / 365.25

    def weight_kg(self, day) -> np.ndarray:
        return weight_for_age(self.age_at(np.asarray(day, dtype=float)), self.sex) * self.weight_factor


def weight_for_age(age, sex: str):
    """Typical weight (kg) for age: APLS formulas (ASSUMPTION; not in D§), adult plateau 70/62 kg."""
    age = np.asarray(age, dtype=float)
    adult = 70.0 if sex == "male" else 62.0
    w = np.where(age < 1, 4.0 + 6.0 * age, np.where(age < 6, 2 * age + 8, 3 * age + 7))
    return np.minimum(w, adult)


def _u(rng, lohi) -> float:
    return lohi[0] + (lohi[1] - lohi[0]) * rng.random()


def _lognormal_days(rng, d: P.Dist) -> float:
    return float(math.exp(d.mu + d.sigma_low * rng.standard_normal()))


def _features(rng, state: str) -> np.ndarray:
    return rng.random(len(P.FEATURES)) < _FEATURE_FREQ[state]


def simulate_patient(seed: int, index: int, options: P.SynthOptions) -> Patient:
    """Draw one patient's demographics, disease course, episodes, admissions and drugs."""
    rng = patient_rng(seed, index)
    k = _pick(rng, list(accumulate(options.archetype_mix)))
    arch, ap = P.ARCHETYPES[k], _ARCH[k]
    sex = "female" if rng.random() < ap.female else "male"
    age0 = min(max(math.exp(math.log(ap.age_median) + ap.age_sigma * rng.standard_normal()), ap.age_clip[0]),
               ap.age_clip[1])
    calendar0 = CALENDAR_START_DAY + rng.random() * P.CALENDAR_SPAN_DAYS
    site = _pick(rng, _SITE_CUM)
    base = baseline_log(rng, age0, sex)
    patient = Patient(index, arch, ap, sex, 0.0, (0.0, 0.0), None, base, *reference_arrays(age0, sex),
                      float(math.exp(0.12 * rng.standard_normal())), site)

    if ap.condition is None:  # febrile control: one admitted infection inside a short window
        start = calendar0
        w0 = start - _u(rng, (0, 10))
        patient.window = (w0, w0 + _u(rng, P.CONTROL_FOLLOW_UP_DAYS))
        patient.birth_day = start - age0 * 365.25
        patient.episodes.append(_plain_episode(rng, patient, "infection", "infection", start, "community", True))
    else:
        _disease_course(rng, patient, age0, calendar0, options)
    _finish(rng, patient)
    return patient


_SITE_CUM = list(accumulate(s.weight for s in P.SITES))
_TRIGGER_CUM = list(accumulate(P.TRIGGER_MIX))


def _disease_course(rng, p: Patient, age0: float, calendar0: float, options: P.SynthOptions) -> None:
    ap = p.params
    incident = rng.random() < P.INCIDENT_SHARE
    follow = min(max(_lognormal_days(rng, P.FOLLOW_UP_DAYS), P.FOLLOW_UP_CLIP_DAYS[0]), P.FOLLOW_UP_CLIP_DAYS[1])
    onset = calendar0 if incident else calendar0 - _lognormal_days(rng, P.PREVALENT_DURATION_DAYS)
    w0 = calendar0 - (_u(rng, (0, 3)) if incident else 0.0)
    w1 = w0 + follow
    mas_day = None
    if rng.random() < min(1.0, ap.mas_ever * options.mas_ever_scale):
        at_onset = rng.random() < ap.mas_at_onset
        mas_day = onset if at_onset else onset + _lognormal_days(rng, P.DISEASE_DURATION_AT_MAS)
        if at_onset and not incident:  # follow from diagnosis so the inaugural MAS is seen
            w0, w1 = onset - _u(rng, (0, 3)), onset + follow
        elif not (w0 + 7 <= mas_day <= w1 - 30):  # move the window so the MAS falls inside it
            w0 = max(onset - 3.0, mas_day - _u(rng, (0.1, 0.8)) * follow)
            w1 = w0 + follow
            if mas_day > w1 - 30:
                w1 = mas_day + 60.0
    p.window = (w0, w1)
    p.disease_onset = onset
    p.birth_day = calendar0 - age0 * 365.25
    age_onset = p.age_at(onset)
    if age_onset < 0.3:  # keep disease onset after early infancy
        p.birth_day = onset - 0.3 * 365.25

    eps: list[Episode] = []
    if w0 - 3 <= onset <= w1:
        eps.append(_plain_episode(rng, p, "flare", ap.active, onset, "disease_onset", rng.random() < 0.7))
    # Poisson flares and infections over the window (ASSUMPTION rates)
    years = (w1 - w0) / 365.25
    for kind, rate, state in (("flare", ap.flare_rate_per_year, ap.active),
                              ("infection", ap.infection_rate_per_year, "infection")):
        for day in np.sort(rng.uniform(w0, w1, rng.poisson(rate * years))):
            adm = ap.flare_admission if kind == "flare" else ap.infection_admission
            trig = "spontaneous" if kind == "flare" else "community"
            eps.append(_plain_episode(rng, p, kind, state, float(day), trig, rng.random() < adm))
    eps = _drop_overlaps(sorted(eps, key=lambda e: e.start))

    if mas_day is not None:
        n_mas = 0
        while mas_day is not None and mas_day < w1 - 5 and p.dead_at is None:
            trigger = "disease_onset" if (n_mas == 0 and abs(mas_day - onset) < 1e-9) else \
                P.TRIGGERS[_pick(rng, _TRIGGER_CUM)]
            # the MAS brings its own trigger episode: drop other episodes around it
            eps = [e for e in eps if e.mas_related or not (mas_day - 40 < e.start < mas_day + 45)]
            new = _mas_episode(rng, p, mas_day, trigger)
            eps.extend(new)
            n_mas += 1
            mas = new[-1]
            if p.dead_at is None and mas.resolution is not None and rng.random() < ap.recurrence:
                mas_day = mas.resolution + _lognormal_days(rng, P.RECURRENCE_GAP_DAYS)
            else:
                mas_day = None
        if p.dead_at is not None:
            eps = [e for e in eps if e.start < p.dead_at]
            p.window = (w0, p.dead_at)
        else:
            last = max(e.resolution or e.peak for e in eps if e.kind == "mas")
            p.window = (w0, max(w1, last + 30.0))
    p.episodes = sorted(eps, key=lambda e: e.start)


def _drop_overlaps(eps: list[Episode]) -> list[Episode]:
    kept: list[Episode] = []
    for e in eps:
        if kept and e.start < (kept[-1].resolution or kept[-1].peak) + 5:
            continue
        kept.append(e)
    return kept


def _plain_episode(rng, p: Patient, kind: str, state: str, start: float, trigger: str, admitted: bool) -> Episode:
    """A flare or an infection: rise over 1-3 days, plateau, recovery (all ASSUMPTION shapes)."""
    age = p.age_at(start) if p.birth_day else 30.0
    target = draw_state(rng, state, age=age, sex=p.sex)
    ramp = _u(rng, P.FLARE_RAMP_DAYS)
    plateau = _u(rng, P.INFECTION_PLATEAU_DAYS if kind == "infection" else P.FLARE_PLATEAU_DAYS)
    tau = _u(rng, P.FLARE_RECOVERY_TAU_DAYS)
    peak = start + ramp
    fever = rng.random() < P.FEVER_IN_FLARE[state]
    e = Episode(kind, state, start, peak, peak + plateau, tau, target - p.base,
                trigger, fever, peak + plateau + _u(rng, (0, 1)), _features(rng, state),
                admitted=admitted)
    e.resolution = e.plateau_end + tau * math.log(10)
    e.severity = "moderate" if admitted else "mild"
    if admitted and rng.random() < P.MARROW_DONE_IN_FLARE and kind == "flare":
        e.marrow = (peak + _u(rng, (0, 2)), bool(rng.random() < P.MARROW_HEMOPHAGOCYTOSIS_IN_FLARE))
    if kind == "flare" and (admitted or rng.random() < 0.5):
        mg_kg = _u(rng, (1.0, 2.0))  # ASSUMPTION flare regimen
        e.meds.append(Medication("prednisone", peak, peak + plateau + 21, round(mg_kg, 1), "mg/kg", 1.0, "oral"))
    return e


def _mas_episode(rng, p: Patient, onset: float, trigger: str) -> list[Episode]:
    """MAS on top of its trigger; returns [trigger episode (if any), MAS episode]."""
    ap = p.params
    age = p.age_at(onset)
    mas_state = ap.mas
    if p.archetype == "aosd" or (mas_state == "still_mas" and age >= 16):
        mas_state = "aosd_mas"
    z = float(rng.standard_normal())
    mas_log = draw_state(rng, mas_state, z, P.SEVERITY_LOADING, age, p.sex)
    pre_log = mas_log - _MAS_LOG_CHANGE - P.EPISODE_SCATTER_SIGMA * rng.standard_normal(A)
    ramp = _u(rng, P.MAS_RAMP_DAYS)
    peak = onset + ramp
    dx = onset + ramp * _u(rng, P.DIAGNOSIS_FRACTION_OF_RAMP)
    severe = z > _ICU_Z
    death_p = min(0.9, ap.death_given_mas / P.ICU_SHARE) if severe else 0.0
    tau, meds, fever_stop = _mas_treatment(rng, p, dx, mas_state)
    tau *= math.exp(0.25 * rng.standard_normal())
    feat_key = "sle_mas" if mas_state == "sle_mas" else "aosd_mas" if mas_state == "aosd_mas" else "still_mas"
    out: list[Episode] = []
    mas_delta = mas_log - p.base
    if trigger in ("active_disease", "infection", "disease_onset"):
        kind = "infection" if trigger == "infection" else "flare"
        lead = 0.0 if trigger == "disease_onset" else _u(rng, P.TRIGGER_TO_MAS_DAYS)
        t_start = onset - lead
        t_ramp = min(_u(rng, P.FLARE_RAMP_DAYS), lead) if lead > 0 else _u(rng, P.FLARE_RAMP_DAYS) * 0.5
        trig_state = "infection" if kind == "infection" else ap.active
        trig = Episode(kind, trig_state, t_start, t_start + max(t_ramp, 0.25), peak, tau,
                       pre_log - p.base,
                       "disease_onset" if trigger == "disease_onset" else ("community" if kind == "infection"
                                                                           else "spontaneous"),
                       rng.random() < P.FEVER_IN_FLARE[trig_state], dx + fever_stop,
                       _features(rng, trig_state), admitted=rng.random() < 0.5)
        trig.resolution = peak + tau * math.log(10)
        trig.severity = "moderate"
        trig.mas_related = True
        out.append(trig)
        mas_delta = mas_log - pre_log
    fever = rng.random() < P.FEVER_IN_MAS
    mas = Episode("mas", mas_state, onset, peak, peak, tau, mas_delta, trigger,
                  fever, dx + fever_stop, _features(rng, feat_key), admitted=True, diagnosis=dx, mas_related=True)
    mas.severity = "severe" if severe else ("moderate" if z > -0.5 else "mild")
    if rng.random() < P.MARROW_DONE_IN_MAS:
        mas.marrow = (dx + _u(rng, (0, 2)), bool(rng.random() < P.MARROW_HEMOPHAGOCYTOSIS_IN_MAS))
    if rng.random() < death_p:
        p.dead_at = peak + _u(rng, (0.5, 10))
        mas.severity = "fatal"
        mas.resolution = None
    else:
        mas.resolution = peak + tau * math.log(10)
    mas.meds.extend(meds)
    out.append(mas)
    return out


def _mas_treatment(rng, p: Patient, dx: float, mas_state: str):
    """MAS regimen (D§4.5 frequencies; doses ASSUMPTION) -> (recovery tau, medications, fever stop days)."""
    meds: list[Medication] = []
    kg = float(p.weight_kg(dx))
    mp_mg = P.MP_PULSE_MG_PER_KG * kg
    if mp_mg > P.MP_PULSE_MAX_G * 1000:
        meds.append(Medication("methylprednisolone", dx, dx + P.MP_PULSE_DAYS, P.MP_PULSE_MAX_G, "g", 1.0, "iv"))
    else:
        meds.append(Medication("methylprednisolone", dx, dx + P.MP_PULSE_DAYS, P.MP_PULSE_MG_PER_KG, "mg/kg",
                               1.0, "iv"))
    t = dx + P.MP_PULSE_DAYS
    for days, frac in P.PREDNISONE_TAPER:
        mg = min(P.PREDNISONE_MG_PER_KG * kg, P.PREDNISONE_MAX_MG) * frac
        meds.append(Medication("prednisone", t, t + days, round(mg / 2.5) * 2.5 or 2.5, "mg", 1.0, "oral"))
        t += days
    anakinra = rng.random() < P.P_ANAKINRA.get(mas_state if mas_state != "aosd_mas" else "still_mas", 0.3)
    csa = rng.random() < P.P_CICLOSPORIN
    if anakinra:
        dose = round(_u(rng, P.ANAKINRA_MG_PER_KG_DAY), 1)
        meds.append(Medication("anakinra", dx + _u(rng, (0, 1)), dx + 60, dose, "mg/kg", 1.0,
                               "iv" if dose > 4 else "sc"))
        tau = P.TAU_ANAKINRA
    elif csa:
        tau = P.TAU_CICLOSPORIN
    else:
        tau = P.TAU_GC_ALONE
    if csa:
        meds.append(Medication("ciclosporin", dx + _u(rng, (0, 2)), dx + 120,
                               P.CICLOSPORIN_MG_PER_KG_DAY / 2, "mg/kg", 2.0, "oral"))
    if rng.random() < P.P_IVIG:
        meds.append(Medication("ivig", dx, dx + 2, 1.0, "g/kg", 1.0, "iv"))
    fever_stop = _u(rng, P.FEVER_STOP_DAYS) if (anakinra or csa) else _u(rng, (2, 4))
    if rng.random() < P.P_GC_REFRACTORY * (0.5 if anakinra else 1.0):
        start = dx + _u(rng, (4, 8))
        meds.append(Medication("emapalumab", start, start + 28, P.EMAPALUMAB_MG_PER_KG, "mg/kg", 2 / 7, "iv"))
        tau = P.TAU_EMAPALUMAB
        fever_stop = start - dx + _u(rng, P.FEVER_STOP_DAYS)
        if rng.random() < P.P_ETOPOSIDE / P.P_GC_REFRACTORY:
            # HLH-94 150 mg/m2 (ASSUMPTION); expressed per kg with BSA ~ weight/30 m2/kg for children
            meds.append(Medication("etoposide", start + 3, start + 17, round(P.ETOPOSIDE_MG_PER_M2 / 30, 1),
                                   "mg/kg", 2 / 7, "iv"))
    return tau, meds, fever_stop


def _shift(p: Patient, days: float) -> None:
    """Move a whole patient in calendar time (whole weeks keep weekdays)."""
    p.window = (p.window[0] + days, p.window[1] + days)
    p.birth_day += days
    if p.disease_onset is not None:
        p.disease_onset += days
    if p.dead_at is not None:
        p.dead_at += days
    for e in p.episodes:
        e.start += days
        e.peak += days
        e.plateau_end += days
        e.fever_end += days
        if e.resolution is not None:
            e.resolution += days
        if e.diagnosis is not None:
            e.diagnosis += days
        if e.marrow is not None:
            e.marrow = (e.marrow[0] + days, e.marrow[1])
    for m in p.medications:
        m.start += days
        if m.end is not None:
            m.end += days


def _finish(rng, p: Patient) -> None:
    """Prescriptions (maintenance + episodes, cut at death), calendar placement, admissions
    (merged stays), episode numbering."""
    w0 = p.window[0]
    for drug, prob, dose, freq in P.MAINTENANCE.get(p.archetype, ()):
        if rng.random() < prob:
            start = max(w0, (p.disease_onset or w0) + 14)
            p.medications.append(Medication(drug, start, None, dose, "mg/kg", freq,
                                            "iv" if drug == "tocilizumab" else "sc"))
            break
    for e in p.episodes:
        p.medications.extend(e.meds)
    if p.dead_at is not None:
        p.medications = [m for m in p.medications if m.start < p.dead_at]
        for m in p.medications:
            if m.end is None or m.end > p.dead_at:
                m.end = p.dead_at
    late = p.window[1] - CALENDAR_END_DAY
    if late > 0:  # keep every patient inside the calendar (no follow-up in the future)
        _shift(p, -7.0 * math.ceil(late / 7.0))
    stays: list[list[float]] = []
    w0, w1 = p.window
    for e in p.episodes:
        if not e.admitted:
            continue
        if e.kind == "mas":
            admit = e.start + _u(rng, (0, 0.5)) * (e.peak - e.start)
            end = (e.resolution if e.resolution is not None else w1) + _u(rng, (0, 5))
        else:
            admit = e.start + _u(rng, (0.3, 2.5))
            end = max(admit + 2.0, e.plateau_end + 0.6 * e.tau * math.log(10)) + _u(rng, (0, 2))
        stays.append([admit, end])
    stays.sort()
    merged: list[list[float]] = []
    for s in stays:
        if merged and s[0] <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], s[1])
        else:
            merged.append(s)
    p.admissions = [(max(a, w0), min(b, w1)) for a, b in merged if min(b, w1) > max(a, w0)]
    for i, e in enumerate(p.episodes):
        e.number = i + 1
