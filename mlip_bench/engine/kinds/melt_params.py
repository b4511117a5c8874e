"""The ``melt`` kind's parameters: the presets (``quick``, ``paper``), the task parameters declared to
the engine, and :class:`MeltParameters`, the task's values after its preset with the trial grid
(:meth:`MeltParameters.plan`) and the grid centre per pressure (:meth:`MeltParameters.guess_K`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mlip_bench.engine.parameters import (
    NON_NEGATIVE,
    NUMBER,
    POSITIVE,
    POSITIVE_INTEGER,
    Param,
    array,
    field_param,
    nullable,
    one_of,
)
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.errors import PropertyError, TaskSpecError
from mlip_bench.properties.melt import MeltProtocol

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "cells": [6, 6, 12],
        "timestep_fs": 2.0,
        "solid_steps": 1000,
        "melt_steps": 1500,
        "cool_steps": 1000,
        "coexist_steps": 8000,
        # wide: a potential's Tm is not known beforehand (Mendelev's lies 16 % below the guess at
        # 20 GPa, Mishin's ~10 % above it at 0 GPa); far trials decide and stop within a few ps
        "trial_offsets": [-0.24, -0.14, -0.07, -0.025, 0.025, 0.07, 0.14, 0.24],
        "seeds": [0],
    },
    "paper": {
        "cells": [10, 10, 20],
        "timestep_fs": 2.0,
        "solid_steps": 2500,
        "melt_steps": 2500,
        "cool_steps": 1500,
        "coexist_steps": 25000,
        "trial_offsets": [-0.12, -0.06, -0.03, -0.015, 0.0, 0.015, 0.03, 0.06, 0.12],
        "seeds": [0, 1],
    },
}
MD_ENGINES = ("auto", "ase", "lammps")
_PROTOCOL_FIELDS = {f.name for f in dataclasses.fields(MeltProtocol)}
_CELLS = array(POSITIVE_INTEGER, min_items=3, max_items=3)


@dataclass(frozen=True, kw_only=True)
class MeltParameters:
    """The task's parameters after the preset (units in names)."""

    protocol: MeltProtocol
    pressures_GPa: tuple[float, ...]
    trial_offsets: tuple[float, ...]
    seeds: tuple[int, ...]
    tm_guess_K: tuple[float, ...] | None
    guess_t0_K: float
    guess_a_GPa: float
    guess_c: float
    md_engine: str

    @classmethod
    def from_task(cls, task: TaskSpec) -> MeltParameters:
        """Raises TaskSpecError (naming the task file) for an unknown preset or inconsistent values."""
        where = f"{task.source or task.id}: melt"
        raw = task.parameters
        preset = str(raw.get("preset", "quick"))
        if preset not in PRESETS:
            raise TaskSpecError(f"{where}: unknown preset {preset!r} (known: {sorted(PRESETS)})")
        declared = {p.name: p.default for p in PARAMETERS if p.default is not None}
        merged = {**declared, **PRESETS[preset], **raw}
        pressures = tuple(float(p) for p in merged["pressures_GPa"])
        guess = merged.get("tm_guess_K")
        if guess is not None and len(guess) != len(pressures):
            raise TaskSpecError(f"{where}: tm_guess_K has {len(guess)} values for {len(pressures)} pressures")
        if len(set(pressures)) != len(pressures) or len({pressure_tag(p) for p in pressures}) != len(pressures):
            raise TaskSpecError(f"{where}: pressures_GPa {list(pressures)} repeat a pressure")
        try:
            fields: dict[str, Any] = {k: v for k, v in merged.items() if k in _PROTOCOL_FIELDS}
            protocol = MeltProtocol(**{**fields, "cells": tuple(fields["cells"])})
        except PropertyError as exc:
            raise TaskSpecError(f"{where}: {exc}") from exc
        return cls(
            protocol=protocol,
            pressures_GPa=pressures,
            trial_offsets=tuple(sorted({float(o) for o in merged["trial_offsets"]})),
            seeds=tuple(sorted({int(s) for s in merged["seeds"]})),
            tm_guess_K=tuple(float(t) for t in guess) if guess is not None else None,
            guess_t0_K=float(merged["guess_t0_K"]),
            guess_a_GPa=float(merged["guess_a_GPa"]),
            guess_c=float(merged["guess_c"]),
            md_engine=str(merged["md_engine"]),
        )

    def guess_K(self, index: int) -> float:
        """The grid centre at pressure number `index`: the task's guess, else Simon-Glatzel."""
        if self.tm_guess_K is not None:
            return self.tm_guess_K[index]
        p = self.pressures_GPa[index]
        return self.guess_t0_K * (1 + p / self.guess_a_GPa) ** (1 / self.guess_c)

    def plan(self) -> list[tuple[float, float, int]]:
        """(pressure GPa, temperature K, seed) of every trial, temperatures rounded to 0.1 K; seed by
        seed, so that a run stopped part-way already holds a whole grid of its first seeds."""
        return [
            (p, round(self.guess_K(i) * (1 + o), 1), s)
            for i, p in enumerate(self.pressures_GPa)
            for s in self.seeds
            for o in self.trial_offsets
        ]


def pressure_tag(pressure_GPa: float) -> str:
    """A pressure in a metric name: 0 -> "0", 2.5 -> "2p5"."""
    return f"{pressure_GPa:g}".replace(".", "p").replace("-", "m")


def item_id(pressure_GPa: float, temperature_K: float, seed: int) -> str:
    return f"P{pressure_tag(pressure_GPa)}GPa_T{temperature_K:g}K_s{seed}"


def _protocol_params() -> list[Param]:
    """MeltProtocol's fields; a field a preset sets gets its default from the preset."""
    out = []
    for f in dataclasses.fields(MeltProtocol):
        if f.name in PRESETS["quick"]:
            text = ", ".join(f"{p}: {v[f.name]}" for p, v in PRESETS.items())
            param = field_param(f, default=None, doc=f"MeltProtocol.{f.name}", default_doc=f"preset ({text})")
        else:
            param = field_param(f, doc=f"MeltProtocol.{f.name}")
        if f.name == "cells":
            param = dataclasses.replace(param, schema=_CELLS, doc="conventional cells along x, y, z (z elongated)")
        out.append(param)
    return out


PARAMETERS: tuple[Param, ...] = (
    Param("preset", "quick", one_of(*PRESETS), "", "starting values of the protocol, grid and seeds"),
    Param("pressures_GPa", (0.0, 5.0, 10.0, 20.0, 50.0), array(NON_NEGATIVE, min_items=1), "GPa", "pressures"),
    Param("trial_offsets", None, array(NUMBER, min_items=2), "", "trial temperatures as fractions off the guess",
          default_doc="preset (quick: ±2.5, ±7, ±14, ±24 %; paper: ±1.5, ±3, ±6, ±12 %)"),
    Param("seeds", None, array({"type": "integer", "minimum": 0}, min_items=1), "", "random seeds of every trial",
          default_doc="preset (quick: [0]; paper: [0, 1])"),
    Param("tm_guess_K", None, nullable(array(POSITIVE, min_items=1)), "K", "grid centre at each pressure",
          default_doc="Simon-Glatzel guess_t0_K (1 + P/guess_a_GPa)^(1/guess_c)"),
    Param("guess_t0_K", 933.47, POSITIVE, "K", "grid centre at 0 GPa (Al: experiment)"),
    Param("guess_a_GPa", 7.9, POSITIVE, "GPa", "Simon-Glatzel a of the grid centres (a guess, not a reference)"),
    Param("guess_c", 2.0, POSITIVE, "", "Simon-Glatzel c of the grid centres"),
    Param("md_engine", "auto", one_of(*MD_ENGINES), "", "auto: LAMMPS for eam:/lammps: potentials, else ASE"),
    Param("melt_reference_curves", None, nullable(array({"type": "string"})), "",
          "keys or fnmatch patterns (``al/melt-curve/*``) of reference_data/curves drawn over Tm vs P; drawn only, "
          "not an input of the result"),
    *_protocol_params(),
)  # fmt: skip

PRESSURE_PATTERN = r"\d+(p\d+)?"
