"""The active-learning log as a typed series, and its learning curve.

Each iteration of a loop leaves an :class:`IterationLog` (what was sampled, how many oracle calls,
the test error after the refit) in ``<iteration folder>/log.json`` beside its training set and
model; :func:`load_state` finds it again only when the file is whole and the training set and the
model still have the checksums it names. :func:`compare` answers the question the curves are for:
how many oracle calls random selection needs to reach the test error active learning reaches.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlip_bench.data.extxyz import sha256_of
from mlip_bench.engine.integrity import sha256_bytes, write_atomic
from mlip_bench.engine.records import from_jsonable, to_jsonable

LOG_NAME = "log.json"
MODEL_NAME = "model.mtp"
TRAINING_NAME = "training.extxyz"
LOG_FORMAT = "mlip-bench training iteration v1"


@dataclass(frozen=True, kw_only=True)
class IterationLog:
    """One iteration (0: the initial fit). Counts are cumulative where named so: `oracle_calls`
    (training labels asked for, the initial set included), `loop_oracle_calls` (those asked for
    while sampling), `md_steps` (MD steps run with the model while sampling). This iteration's
    `snapshots` graded, `above_select` of them with γ >= γ_select, `broken_trajectories` stopped
    at γ_break, `max_gamma` (dimensionless). Errors on the held-out oracle set after the refit
    (energy per atom RMSE and largest |error|, meV/atom, also per kind of structure; force-component
    RMSE and the largest per-structure force RMSE, eV/Å; `test_failures` structures the model could
    not evaluate) and on the training set; times in seconds."""

    iteration: int
    strategy: str
    oracle_calls: int
    new_structures: int
    n_training: int
    md_steps: int = 0
    loop_oracle_calls: int = 0
    oracle_failures: int = 0
    snapshots: int = 0
    above_select: int = 0
    broken_trajectories: int = 0
    max_gamma: float = math.nan
    test_energy_rmse_meV_per_atom: float = math.nan
    test_force_rmse_eV_per_A: float = math.nan
    test_energy_max_meV_per_atom: float = math.nan
    test_force_max_eV_per_A: float = math.nan
    test_energy_rmse_by_kind_meV_per_atom: dict[str, float] = field(default_factory=dict)
    test_failures: int = 0
    train_energy_rmse_meV_per_atom: float = math.nan
    train_force_rmse_eV_per_A: float = math.nan
    sample_seconds: float = 0.0
    oracle_seconds: float = 0.0
    fit_seconds: float = 0.0
    training_sha256: str = ""
    mtp_sha256: str = ""

    @property
    def calls_avoided_share(self) -> float:
        """Share of the model's sampling steps that needed no oracle call (as paper 000's 98.2 %):
        1 - loop_oracle_calls / md_steps; NaN before any sampling."""
        return 1.0 - self.loop_oracle_calls / self.md_steps if self.md_steps else math.nan


@dataclass(frozen=True)
class ModelState:
    """A finished iteration: its folder, model (``.mtp``), training set (extxyz) and log."""

    folder: Path
    log: IterationLog

    @property
    def mtp_path(self) -> Path:
        return self.folder / MODEL_NAME

    @property
    def training_path(self) -> Path:
        return self.folder / TRAINING_NAME


def write_log(folder: Path, log: IterationLog) -> ModelState:
    """Write ``folder/log.json`` (last: its presence marks the iteration finished)."""
    payload = json.dumps(to_jsonable(log), sort_keys=True)
    document = {"format": LOG_FORMAT, "sha256": sha256_bytes(payload.encode()), "log": payload}
    write_atomic(folder / LOG_NAME, json.dumps(document, indent=1).encode())
    return ModelState(folder, log)


def load_state(folder: Path) -> ModelState | None:
    """The finished iteration in `folder`, or None when it is absent, damaged or its files changed
    (then the iteration is redone)."""
    try:
        document = json.loads((folder / LOG_NAME).read_bytes())
        payload = document["log"]
        if document.get("format") != LOG_FORMAT or sha256_bytes(payload.encode()) != document["sha256"]:
            return None
        log = from_jsonable(IterationLog, json.loads(payload))
        state = ModelState(folder, log)
        if sha256_of(state.mtp_path) != log.mtp_sha256 or sha256_of(state.training_path) != log.training_sha256:
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return state


METRICS = ("energy", "forces", "energy_max")


@dataclass(frozen=True)
class CurvePoint:
    """Test errors after a refit with `oracle_calls` training labels (units as IterationLog's)."""

    oracle_calls: int
    energy_rmse_meV_per_atom: float
    force_rmse_eV_per_A: float
    calls_avoided_share: float
    energy_max_meV_per_atom: float = math.nan


@dataclass(frozen=True)
class LearningCurve:
    """One strategy's test error against oracle calls, in iteration order."""

    strategy: str
    points: tuple[CurvePoint, ...]

    @classmethod
    def from_logs(cls, strategy: str, logs: Sequence[IterationLog]) -> LearningCurve:
        points = tuple(
            CurvePoint(
                log.oracle_calls,
                log.test_energy_rmse_meV_per_atom,
                log.test_force_rmse_eV_per_A,
                log.calls_avoided_share,
                log.test_energy_max_meV_per_atom,
            )
            for log in logs
        )
        return cls(strategy, points)

    def error(self, point: CurvePoint, metric: str) -> float:
        """`point`'s error in `metric` (one of METRICS)."""
        if metric == "energy_max":
            return point.energy_max_meV_per_atom
        return point.energy_rmse_meV_per_atom if metric == "energy" else point.force_rmse_eV_per_A

    def calls_to_reach(self, target: float, *, metric: str = "energy") -> float | None:
        """The oracle calls at which the test error first comes down to `target`: linear in calls
        and log-error between the last point above it and the first at or below it (so the
        baseline is not charged for the spacing of its points); None: never."""
        previous: tuple[int, float] | None = None
        for point in self.points:
            value = self.error(point, metric)
            if not math.isfinite(value):
                continue
            if value <= target:
                if previous is None or previous[1] <= value or target <= 0:
                    return float(point.oracle_calls)
                calls0, value0 = previous
                share = (math.log(value0) - math.log(target)) / (math.log(value0) - math.log(value))
                return calls0 + share * (point.oracle_calls - calls0)
            previous = (point.oracle_calls, value)
        return None


@dataclass(frozen=True)
class Comparison:
    """At each point of the `active` curve: the error it reached, its calls, and the calls the
    `baseline` needed to reach that error (None: not within its budget, `baseline_max_calls`)."""

    metric: str
    rows: tuple[tuple[int, float, float | None], ...]
    baseline_max_calls: int

    def ratios(self) -> list[float]:
        """calls(baseline) / calls(active) per point; inf where the baseline never got there."""
        return [math.inf if need is None else need / calls for calls, _, need in self.rows]

    def reaches_factor(self, factor: float = 2.0) -> bool:
        """True when some error the active curve reaches costs the baseline >= `factor` times the
        calls (or more than its whole budget, when that budget is >= `factor` times the calls)."""
        for (calls, _, need), ratio in zip(self.rows, self.ratios(), strict=True):
            if need is not None and ratio >= factor:
                return True
            if need is None and self.baseline_max_calls >= factor * calls:
                return True
        return False


def compare(active: LearningCurve, baseline: LearningCurve, *, metric: str = "energy") -> Comparison:
    """How many calls `baseline` needs for each error `active` reaches (after its first point)."""
    rows = []
    for point in active.points[1:]:
        error = active.error(point, metric)
        rows.append((point.oracle_calls, error, baseline.calls_to_reach(error, metric=metric)))
    return Comparison(metric, tuple(rows), max((p.oracle_calls for p in baseline.points), default=0))


def figure(curves: Sequence[LearningCurve], *, title: str = "") -> Any:
    """A plotly figure: test energy RMSE (meV/atom, log axis), force RMSE (eV/Å) and largest
    energy error (meV/atom) against oracle calls, one line per strategy."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=("energy RMSE", "force RMSE", "largest energy error"))
    for curve in curves:
        calls = [p.oracle_calls for p in curve.points]
        for col, metric in ((1, "energy"), (2, "forces"), (3, "energy_max")):
            values = [curve.error(p, metric) for p in curve.points]
            fig.add_scatter(
                x=calls, y=values, mode="lines+markers", name=curve.strategy, legendgroup=curve.strategy,
                showlegend=col == 1, row=1, col=col,
            )  # fmt: skip
    fig.update_xaxes(title_text="oracle calls (training labels)")
    fig.update_yaxes(title_text="test energy RMSE (meV/atom)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="test force RMSE (eV/Å)", type="log", row=1, col=2)
    fig.update_yaxes(title_text="largest test |energy error| (meV/atom)", type="log", row=1, col=3)
    fig.update_layout(title=title or "learning curves", template="plotly_white")
    return fig


def write_figure(curves: Sequence[LearningCurve], path: Path, *, title: str = "") -> Path:
    """The figure as a self-contained HTML file (plotly.js inlined: it opens without a network, as
    the suite's reports do); returns `path`."""
    html = figure(curves, title=title).to_html(include_plotlyjs=True, full_html=True)
    write_atomic(path, html.encode())
    return path


def table(curves: Sequence[LearningCurve]) -> str:
    """A plain-text table of the curves: strategy, calls, test errors, share of calls avoided."""
    lines = [
        f"{'strategy':<8} {'calls':>6} {'E RMSE meV/at':>14} {'F RMSE eV/A':>12} {'E max meV/at':>13} {'avoided':>8}"
    ]
    for curve in curves:
        for p in curve.points:
            avoided = f"{100 * p.calls_avoided_share:7.1f}%" if math.isfinite(p.calls_avoided_share) else "       -"
            lines.append(
                f"{curve.strategy:<8} {p.oracle_calls:>6} {p.energy_rmse_meV_per_atom:>14.3f} "
                f"{p.force_rmse_eV_per_A:>12.4f} {p.energy_max_meV_per_atom:>13.2f} {avoided}"
            )
    return "\n".join(lines)
