"""The melting point from interface (coexistence) runs, as pure functions of arrays: the verdict of
one run from its solid-fraction series (:func:`judge`: the solid grows, shrinks, neither, or turns
into another crystal), and Tm at one pressure from the verdicts at trial temperatures
(:func:`melting_point`: the bracket between the highest temperature that froze and the lowest that
melted, and within it the zero of the interface growth rate).

A solid-solid transition (the parent crystal's share falls while another crystal's rises and the
total solid stays) is reported as such (``"fcc->bcc"``), never as melting; a liquid that freezes as
another crystal than the parent (``"liquid->bcc"``) is reported too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mlip_bench.errors import PropertyError

#: PTM structures that count as crystalline (ico is the liquid's signature)
CRYSTALS = ("fcc", "hcp", "bcc", "sc")
OUTCOMES = ("freezes", "melts", "undecided", "solid-solid")


@dataclass(frozen=True)
class Verdict:
    """One coexistence run: `outcome` (one of :data:`OUTCOMES`); `rate_per_ps`: least-squares slope
    of the normalised solid fraction against time (1/ps; > 0 the solid grows) and its standard
    error; `change`: mean of the last quarter of the series minus the first quarter's;
    `transition`: ``"fcc->bcc"`` for a solid-solid transition (else ""); `grown_as`: the crystal
    that gained most when the solid grew (else "")."""

    outcome: str
    rate_per_ps: float
    rate_sem_per_ps: float
    change: float
    transition: str = ""
    grown_as: str = ""


@dataclass(frozen=True)
class Trial:
    """What the bracket needs of one run: its temperature (K), seed and verdict."""

    temperature_K: float
    seed: int
    verdict: Verdict


@dataclass(frozen=True)
class MeltPoint:
    """Tm at one pressure (K, NaN when not bracketed). `low_K`/`high_K`: the bracket (highest
    temperature that froze, lowest that melted; swapped into order when runs near Tm disagree;
    -inf/inf when one side is missing) and `half_width_K`; `method`: ``"rate zero crossing"``
    (``"... (line)"`` when fitted), ``"bracket midpoint"`` or "" without a bracket; `seed_tm_K`:
    Tm from each seed's runs alone, `seed_std_K` their standard deviation (NaN below two);
    `transitions`: solid-solid transitions seen (``"fcc->bcc"``, ``"liquid->bcc"``); `note`: why Tm
    is missing or what to mind."""

    tm_K: float
    low_K: float
    high_K: float
    half_width_K: float
    method: str
    seed_tm_K: tuple[float, ...] = ()
    seed_std_K: float = math.nan
    transitions: tuple[str, ...] = ()
    note: str = ""


def _quarter_means(values: np.ndarray) -> tuple[float, float]:
    k = max(1, len(values) // 4)
    return float(values[:k].mean()), float(values[-k:].mean())


def _change(values: np.ndarray) -> float:
    """Mean of the last quarter minus mean of the first quarter (one sample at least each)."""
    first, last = _quarter_means(np.asarray(values, float))
    return last - first


def growth_rate(time_ps: np.ndarray, solid: np.ndarray) -> tuple[float, float]:
    """Least-squares slope (1/ps) of `solid` against `time_ps` and its standard error (NaN with
    fewer than 2 and 3 points)."""
    t, y = np.asarray(time_ps, float), np.asarray(solid, float)
    if len(t) < 2 or np.ptp(t) == 0:
        return math.nan, math.nan
    slope, intercept = np.polyfit(t, y, 1)
    if len(t) < 3:
        return float(slope), math.nan
    residual = y - (slope * t + intercept)
    sem = math.sqrt(float(residual @ residual) / (len(t) - 2) / float(((t - t.mean()) ** 2).sum()))
    return float(slope), sem


def judge(
    time_ps: np.ndarray,
    solid: np.ndarray,
    structures: Mapping[str, np.ndarray],
    *,
    parent: str = "fcc",
    min_change: float = 0.05,
    low: float = 0.1,
    high: float = 0.9,
) -> Verdict:
    """The verdict of one run. `solid`: solid fraction normalised to the crystal's own (1 = all
    crystal), shape (n,); `structures`: share of all atoms in each PTM structure (name -> (n,)).
    The run melts when its last sample is at or below `low`, freezes at or above `high`, else by
    the sign of `change` beyond `min_change`; a solid-solid transition takes precedence: the
    `parent` share falls by more than `min_change` while another crystal's rises by more, and
    the total solid does not fall by more. Raises PropertyError for an empty or ragged series."""
    t, y = np.asarray(time_ps, float), np.asarray(solid, float)
    if len(t) == 0 or len(y) != len(t) or any(len(v) != len(t) for v in structures.values()):
        raise PropertyError(f"melt series: {len(t)} times, {len(y)} solid fractions, structures of other lengths")
    rate, sem = growth_rate(t, y)
    change = _change(y)
    gains = {n: _change(s) for n, s in structures.items() if n in CRYSTALS}
    others = {n: g for n, g in gains.items() if n != parent}
    gainer = max(others, key=lambda n: others[n], default="")
    if gains.get(parent, 0.0) < -min_change and others.get(gainer, 0.0) > min_change and change > -min_change:
        return Verdict("solid-solid", rate, sem, change, transition=f"{parent}->{gainer}")
    if y[-1] <= low or (y[-1] < high and change <= -min_change):
        return Verdict("melts", rate, sem, change)
    if y[-1] >= high or change >= min_change:
        grown = max(gains, key=lambda n: gains[n], default="")
        grown = grown if gains.get(grown, 0.0) > min_change / 2 else ""
        return Verdict("freezes", rate, sem, change, grown_as=grown)
    return Verdict("undecided", rate, sem, change)


def melting_point(trials: Sequence[Trial], *, parent: str = "fcc") -> MeltPoint:
    """Tm from runs at trial temperatures (any seeds) at one pressure; see :class:`MeltPoint`.
    Solid-solid runs are left out of the bracket and named in `transitions`. Per-seed estimates
    come from each seed's runs alone."""
    transitions = sorted(
        {t.verdict.transition for t in trials if t.verdict.transition}
        | {
            f"liquid->{t.verdict.grown_as}"
            for t in trials
            if t.verdict.outcome == "freezes" and t.verdict.grown_as not in ("", parent, "hcp")
        }
    )
    point = _bracket([t for t in trials if t.verdict.outcome != "solid-solid"])
    seeds = sorted({t.seed for t in trials})
    seed_tm: tuple[float, ...] = ()
    seed_std = math.nan
    if len(seeds) > 1:
        seed_tm = tuple(
            _bracket([t for t in trials if t.seed == s and t.verdict.outcome != "solid-solid"]).tm_K for s in seeds
        )
        finite = [v for v in seed_tm if math.isfinite(v)]
        seed_std = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
    if not trials:
        note = "no trial run finished"
    elif transitions and not point.note:
        note = f"solid-solid: {', '.join(transitions)}"
    else:
        note = "; ".join(filter(None, [point.note, f"solid-solid: {', '.join(transitions)}" if transitions else ""]))
    return MeltPoint(
        point.tm_K, point.low_K, point.high_K, point.half_width_K, point.method, seed_tm, seed_std,
        tuple(transitions), note,
    )  # fmt: skip


def _bracket(trials: Sequence[Trial]) -> MeltPoint:
    """Tm, bracket and method from runs of any seeds (no seed statistics)."""
    nan, inf = math.nan, math.inf
    froze = [t.temperature_K for t in trials if t.verdict.outcome == "freezes"]
    melted = [t.temperature_K for t in trials if t.verdict.outcome == "melts"]
    temps = sorted({t.temperature_K for t in trials})
    if not froze and not melted:
        note = "every trial undecided (runs too short?)" if trials else "no usable trial"
        return MeltPoint(nan, temps[0] if temps else nan, temps[-1] if temps else nan, nan, "", note=note)
    if not melted:
        note = f"every trial froze: Tm above {max(froze):g} K (rerun higher: tm_guess_K about {1.25 * max(froze):.0f})"
        return MeltPoint(nan, max(froze), inf, nan, "", note=note)
    if not froze:
        note = f"every trial melted: Tm below {min(melted):g} K (rerun lower: tm_guess_K about {0.8 * min(melted):.0f})"
        return MeltPoint(nan, -inf, min(melted), nan, "", note=note)
    low, high = max(froze), min(melted)
    note = ""
    if low > high:  # stochastic near Tm: the bracket spans the runs that disagree
        low, high = high, low
        note = f"runs disagree between {low:g} and {high:g} K"
    tm, method = _rate_zero(trials, low, high)
    if not math.isfinite(tm):
        tm, method = (low + high) / 2, "bracket midpoint"
    return MeltPoint(tm, low, high, (high - low) / 2, method, note=note)


def _rate_zero(trials: Sequence[Trial], low: float, high: float) -> tuple[float, str]:
    """Zero of the mean growth rate at the temperatures in [low, high]: interpolated between the two
    neighbouring temperatures where it changes sign (regula falsi on the nearest pair: the
    interface velocity is linear in the undercooling only near Tm, and freezing and melting
    kinetics differ away from it); a straight line through all of them when the sign changes more
    than once (noise). NaN with fewer than two temperatures or a rate that does not fall."""
    by_t: dict[float, list[float]] = {}
    for t in trials:
        if low <= t.temperature_K <= high and math.isfinite(t.verdict.rate_per_ps):
            by_t.setdefault(t.temperature_K, []).append(t.verdict.rate_per_ps)
    if len(by_t) < 2:
        return math.nan, ""
    temps = np.array(sorted(by_t))
    rates = np.array([np.mean(by_t[t]) for t in temps])
    crossings = [i for i in range(len(temps) - 1) if rates[i] > 0 >= rates[i + 1]]
    rising = [i for i in range(len(temps) - 1) if rates[i] <= 0 < rates[i + 1]]
    if len(crossings) == 1 and not rising:
        i = crossings[0]
        tm = temps[i] + (temps[i + 1] - temps[i]) * rates[i] / (rates[i] - rates[i + 1])
        return float(tm), "rate zero crossing"
    slope, intercept = np.polyfit(temps, rates, 1)
    if slope >= 0:
        return math.nan, ""
    return float(np.clip(-intercept / slope, low, high)), "rate zero crossing (line)"
