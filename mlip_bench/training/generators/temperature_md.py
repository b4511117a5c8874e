"""Paper 003's sampling MD (Sec. II.B.3): Langevin dynamics under a random temperature schedule,
its Eq. (2),

    T(t) = T_start + (t / t_max) (T_end - T_start) + T_mod sin²(π t / t0),

with T_start uniform in 10-1000 K, T_end in 10-600 K, T_mod in 0-2000 K and t0 in 10-50 ps.

The paper's text gives t_max = 250 fs, but its oscillation periods are 10-50 ps and its
trajectories "reach about 250 ps (about 2.5x10^5 timesteps)": 250 ps (1 fs steps) is what it ran.
The friction is not stated: 0.01 /fs (a 100 fs relaxation time) is ours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from mlip_bench.training.generators.common import check, check_range, label_of, rng_for, tag

NAME = "temperature_md"
_UPDATE_FS = 100.0


@dataclass(frozen=True, kw_only=True)
class TemperatureMdSettings:
    """Paper 003 Eq. (2) ranges; `snapshot_interval_fs` is how often a frame is kept."""

    t_start_min_K: float = 10.0
    t_start_max_K: float = 1000.0
    t_end_min_K: float = 10.0
    t_end_max_K: float = 600.0
    t_mod_min_K: float = 0.0
    t_mod_max_K: float = 2000.0
    period_min_ps: float = 10.0
    period_max_ps: float = 50.0
    duration_ps: float = 250.0
    timestep_fs: float = 1.0
    friction_per_fs: float = 0.01
    snapshot_interval_fs: float = 1000.0

    def __post_init__(self) -> None:
        for low, high in (
            ("t_start_min_K", "t_start_max_K"),
            ("t_end_min_K", "t_end_max_K"),
            ("t_mod_min_K", "t_mod_max_K"),
        ):
            check(getattr(self, low) >= 0, low, "must be >= 0")
            check_range(getattr(self, low), getattr(self, high), low, high)
        check(self.period_min_ps > 0, "period_min_ps", "must be > 0")
        check_range(self.period_min_ps, self.period_max_ps, "period_min_ps", "period_max_ps")
        check(self.duration_ps > 0, "duration_ps", "must be > 0")
        check(self.timestep_fs > 0, "timestep_fs", "must be > 0")
        check(self.friction_per_fs > 0, "friction_per_fs", "must be > 0")
        check(self.snapshot_interval_fs >= self.timestep_fs, "snapshot_interval_fs", "must be >= timestep_fs")


@dataclass(frozen=True)
class TemperatureSchedule:
    """One draw of Eq. (2)'s parameters."""

    t_start_K: float
    t_end_K: float
    t_mod_K: float
    period_ps: float
    duration_ps: float

    def temperature_K(self, time_ps: float | np.ndarray) -> Any:
        """Eq. (2) at `time_ps` (scalar or array), K; the ramp is held at T_end after `duration_ps`."""
        fraction = np.minimum(np.asarray(time_ps, dtype=float) / self.duration_ps, 1.0)
        ramp = self.t_start_K + fraction * (self.t_end_K - self.t_start_K)
        return ramp + self.t_mod_K * np.sin(np.pi * np.asarray(time_ps) / self.period_ps) ** 2


def draw_schedule(settings: TemperatureMdSettings, rng: np.random.Generator) -> TemperatureSchedule:
    """T_start, T_end, T_mod and t0 uniform in their ranges."""
    return TemperatureSchedule(
        t_start_K=float(rng.uniform(settings.t_start_min_K, settings.t_start_max_K)),
        t_end_K=float(rng.uniform(settings.t_end_min_K, settings.t_end_max_K)),
        t_mod_K=float(rng.uniform(settings.t_mod_min_K, settings.t_mod_max_K)),
        period_ps=float(rng.uniform(settings.period_min_ps, settings.period_max_ps)),
        duration_ps=settings.duration_ps,
    )


def generate(
    parents: Sequence[Atoms],
    settings: TemperatureMdSettings,
    *,
    calculator: Any,
    seed: int,
    stop: Callable[[Atoms], bool] | None = None,
) -> list[Atoms]:
    """One scheduled Langevin run per parent with `calculator` (an ASE calculator: the model being
    trained); keeps a frame every `snapshot_interval_fs` (labels ``md-<parent>-<k>``; ``info``:
    ``time_ps``, ``target_temperature_K``, ``schedule``). `stop(atoms)` (the live Atoms, with its
    calculator's results of the last step) True ends that run after keeping the frame (paper 003
    ends a run where the ensemble's spread crosses its threshold). Calculator exceptions propagate."""
    rng = rng_for(seed)
    out: list[Atoms] = []
    for index, parent in enumerate(parents):
        schedule = draw_schedule(settings, rng)
        out.extend(
            _run(parent, label_of(parent, index), schedule, settings, calculator, int(rng.integers(2**31)), stop, seed)
        )
    return out


def _run(
    parent: Atoms,
    parent_label: str,
    schedule: TemperatureSchedule,
    settings: TemperatureMdSettings,
    calculator: Any,
    md_seed: int,
    stop: Callable[[Atoms], bool] | None,
    seed: int,
) -> list[Atoms]:
    atoms = Atoms(parent.get_chemical_symbols(), positions=parent.positions, cell=parent.cell, pbc=parent.pbc)
    atoms.calc = calculator
    md_rng = np.random.default_rng(md_seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=float(schedule.temperature_K(0.0)), rng=md_rng)
    dyn = Langevin(
        atoms,
        timestep=settings.timestep_fs * units.fs,
        temperature_K=float(schedule.temperature_K(0.0)),
        friction=settings.friction_per_fs / units.fs,
        fixcm=False,  # ASE >= 3.28 deprecates fixcm=True (it biases the NVT distribution)
        rng=md_rng,
    )
    stride = max(1, round(settings.snapshot_interval_fs / settings.timestep_fs))
    # the thermostat's target follows Eq. (2) in 100 fs pieces (the shortest period is 10 ps)
    piece = max(1, min(stride, round(_UPDATE_FS / settings.timestep_fs)))
    total = round(settings.duration_ps * 1000 / settings.timestep_fs)
    frames: list[Atoms] = []
    step = 0
    while step + stride <= total:
        for start in range(step, step + stride, piece):
            dyn.set_temperature(temperature_K=float(schedule.temperature_K(start * settings.timestep_fs / 1000)))
            dyn.run(min(piece, step + stride - start))
        step += stride
        time_ps = step * settings.timestep_fs / 1000
        frame = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
        frame.info.update(
            {
                "time_ps": time_ps,
                "target_temperature_K": float(schedule.temperature_K(time_ps)),
                "schedule": _text(schedule),
            }
        )
        label = f"md-{parent_label}-{len(frames)}"
        frames.append(tag(frame, generator=NAME, settings=settings, seed=seed, parent=parent_label, label=label))
        if stop is not None and stop(atoms):
            break
    return frames


def _text(schedule: TemperatureSchedule) -> str:
    return (
        f"T_start={schedule.t_start_K:.1f}K T_end={schedule.t_end_K:.1f}K T_mod={schedule.t_mod_K:.1f}K "
        f"t0={schedule.period_ps:.2f}ps t_max={schedule.duration_ps:g}ps"
    )
