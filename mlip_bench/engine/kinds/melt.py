"""Kind ``melt``: melting temperature against pressure by the interface method (paper 003 Sec. III.H,
Fig. 6), for any potential: LAMMPS's own integrators for ``eam:``/``lammps:`` potentials, ASE's for
any other calculator (:mod:`mlip_bench.properties.melt` has the protocol and why NPT bracketing).

The task's single ``structures`` entry is the crystal (its conventional cell; the elongated cell is
``cells`` of it). Work items: one per (pressure, trial temperature, seed) run, so a killed run loses
one trial and resumes mid-trajectory from its checkpoints in the item's scratch folder. A bisection
would make each trial depend on the last, while the runner plans a cell's items up front and runs
them independently; so the trial temperatures are a grid planned per pressure, ``trial_offsets``
(fractions) around a guess (``tm_guess_K``, else a Simon-Glatzel curve from ``guess_t0_K``,
``guess_a_GPa``, ``guess_c``, only to place the grid), and the bisection happens in reduce on
that grid: Tm lies between the highest temperature that froze and the lowest that melted, and
within that bracket at the zero of the interface growth rate
(:func:`~mlip_bench.properties.melt_point.melting_point`). Repeated seeds give the spread.

Metrics per pressure p (``0``, ``5``, ``2p5`` for 2.5 GPa): ``tm_<p>GPa_K``, ``tm_<p>GPa_half_width_K``
(the bracket), ``tm_<p>GPa_low_K``/``_high_K``, ``tm_<p>GPa_seed_std_K``, ``solid_solid_<p>GPa`` (1
when a solid-solid transition was seen: reported, never taken for melting); and
``speed_us_per_atom_step`` (MD wall time per atom per step, PTM excluded; the name the other MD
kinds use). Curves: Tm against pressure (one point per pressure, the bracket as its error bar, the
temperatures of solid-solid runs marked; the reference curves the ``melt_reference_curves``
patterns name drawn over it, for the eye only) and the solid fraction against time of every run.

A potential whose Tm lies far from the guess: the grid only brackets Tm within its span, so a
potential of unknown Tm needs a wide grid: the quick preset's is ±2.5, ±7, ±14, ±24 % (Tm found
anywhere in 0.76-1.24 x the guess; bracket ±2.5 % near the guess, ±3.5-5 % further out, Tm within
it at the zero of the growth rate). The far trials decide within a few ps and stop: Mendelev's
curve took 4.1e8 atom-steps, half of 40 full trials, 19 % more than the former ±3, ±6 % grid at
0 GPa. Beyond its span a pressure is a bound, and its note names the ``tm_guess_K`` of a second
run (Zhou's EAM, Al_zhou.eam.alloy: every trial from 709 K up melted at 0 GPa; a second run
centred on 600 K brackets it): a second pass only where needed, since items are planned up front.

Presets (``preset``; any parameter named in the task overrides its value): ``quick`` (CI: 1728
atoms, 16 ps coexistence, the wide grid of eight temperatures above) and ``paper`` (8000 atoms, 50 ps, nine
temperatures down to 1.5 % apart, two seeds; cost in tasks/al-melt-paper.yaml).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mlip_bench.adapters.lammps import lammps_setup
from mlip_bench.engine.evaluate import TimedCalculator
from mlip_bench.engine.kinds.base import (
    ItemOutput,
    ItemPlan,
    Outcome,
    TaskContext,
    TaskKind,
    build_crystal,
    record_output,
)
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
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.errors import EvaluationError, PropertyError, TaskSpecError
from mlip_bench.properties.lammps_md import LammpsEngine
from mlip_bench.properties.md_engine import AseEngine, MdEngine
from mlip_bench.properties.melt import MeltProtocol, TrialResult, run_trial
from mlip_bench.properties.melt_point import OUTCOMES, MeltPoint, Trial, Verdict, melting_point

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
#: outcome codes in item values (records hold numbers)
OUTCOME_CODES = {name: float(i) for i, name in enumerate(OUTCOMES)}
CRYSTAL_NAMES = ("", "fcc", "hcp", "bcc", "sc")
_PARENTS = {"fcc": "fcc", "bcc": "bcc", "hcp": "hcp", "sc": "sc"}
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
        if len(set(pressures)) != len(pressures) or len({_tag(p) for p in pressures}) != len(pressures):
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


def _tag(pressure_GPa: float) -> str:
    """A pressure in a metric name: 0 -> "0", 2.5 -> "2p5"."""
    return f"{pressure_GPa:g}".replace(".", "p").replace("-", "m")


def item_id(pressure_GPa: float, temperature_K: float, seed: int) -> str:
    return f"P{_tag(pressure_GPa)}GPa_T{temperature_K:g}K_s{seed}"


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

_PRESSURE = r"\d+(p\d+)?"


class MeltKind(TaskKind):
    name = "melt"
    needs_dataset = False
    requires = frozenset({"energy", "forces", "stress"})
    packages = ("asap3", "lammps")
    item_timeout_s = 7200.0
    parameters = PARAMETERS
    produces = frozenset({"speed_us_per_atom_step", "n_trials", "n_undecided"})
    produces_patterns = (
        rf"tm_{_PRESSURE}GPa_K",
        rf"tm_{_PRESSURE}GPa_(half_width|low|high|seed_std)_K",
        rf"solid_solid_{_PRESSURE}GPa",
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "tm_vs_p": ("pressure (GPa)", "melting temperature Tm (K)"),
        "solid_fraction_vs_time": ("time (ps)", "solid fraction (of the crystal's own PTM share)"),
    }

    def items(self, task: TaskSpec) -> tuple[ItemPlan, ...]:
        """One item per (pressure, trial temperature, seed); checks the parameters."""
        params = MeltParameters.from_task(task)
        return tuple(
            ItemPlan(item_id(p, t, s), {"pressure_GPa": p, "temperature_K": t, "seed": s}) for p, t, s in params.plan()
        )

    def run_item(self, ctx: TaskContext, item: ItemPlan) -> ItemOutput:
        params = MeltParameters.from_task(ctx.task)
        return record_output(ctx, lambda: self._trial(ctx, params, item))

    def run(self, ctx: TaskContext) -> Outcome:
        """Every trial in turn, in this process."""
        return self.reduce(ctx, {item.id: self.run_item(ctx, item) for item in self.items(ctx.task)})

    def reduce(self, ctx: TaskContext, outputs: dict[str, ItemOutput]) -> Outcome:
        params = MeltParameters.from_task(ctx.task)
        parent = _parent(ctx.task)
        values: dict[str, float] = {}
        items: list[ItemRecord] = []
        for p in params.pressures_GPa:
            trials = [(o.record, o.notes) for (q, t, s) in params.plan() if q == p
                      if (o := outputs.get(item_id(q, t, s))) is not None and o.record is not None]  # fmt: skip
            for record, notes in trials:
                items.append(record)
                ctx.notes.extend(notes)
            summary, point_values = _melt_point(p, [r for r, _ in trials if r.status == "ok"], parent, ctx)
            items.append(summary)
            values |= point_values
        done = [i for i in items if i.status == "ok" and "md_steps" in i.values]
        atom_steps = sum(i.values["md_steps"] * i.n_atoms for i in done)
        seconds = sum(i.values["md_seconds"] for i in done)
        values["speed_us_per_atom_step"] = 1e6 * seconds / atom_steps if atom_steps else math.nan
        values["n_trials"] = float(len(done))
        values["n_undecided"] = float(sum(i.values["outcome"] == OUTCOME_CODES["undecided"] for i in done))
        return Outcome(values=values, items=tuple(items), n_scored=len(done))

    def _trial(self, ctx: TaskContext, params: MeltParameters, item: ItemPlan) -> ItemRecord:
        p, t, seed = item.payload["pressure_GPa"], item.payload["temperature_K"], item.payload["seed"]
        crystal = _crystal(ctx.task)
        missing = ctx.potential.info.unsupported(crystal.get_chemical_symbols())
        if missing:
            return ItemRecord(item.id, "skipped", f"elements {sorted(missing)} not supported")
        calc = TimedCalculator(ctx.calculator, label=f"{ctx.task.id} {item.id} with {ctx.potential.info.spec}")
        scratch = Path(ctx.scratch) / item.id if ctx.scratch else None
        try:
            engine = _md_engine(params.md_engine, ctx, calc)
            result = run_trial(
                engine, crystal, temperature_K=t, pressure_GPa=p, seed=seed, protocol=params.protocol,
                parent=_parent(ctx.task), checkpoint_dir=scratch,
                centre_K=params.guess_K(params.pressures_GPa.index(p)),
            )  # fmt: skip
        except (PropertyError, EvaluationError) as exc:
            return ItemRecord(item.id, "failed", str(exc))
        finally:
            ctx.calculator_seconds += calc.seconds
        ctx.notes.extend(f"{ctx.potential.info.name}: {n}" for n in result.notes)
        values, arrays = _trial_record(result)
        values["potential_calls"] = float(calc.calls)
        return ItemRecord(item.id, "ok", "", result.n_atoms, f"{p:g} GPa", values, arrays)


def _crystal(task: TaskSpec) -> Any:
    if len(task.structures) != 1 or task.structures[0].crystal not in _PARENTS:
        raise TaskSpecError(f"{task.source or task.id}: melt needs exactly one fcc, bcc, hcp or sc structure")
    return build_crystal(task.structures[0])


def _parent(task: TaskSpec) -> str:
    return _PARENTS.get(task.structures[0].crystal, "fcc") if task.structures else "fcc"


def _md_engine(choice: str, ctx: TaskContext, calc: object) -> MdEngine:
    """LAMMPS's integrators for a LAMMPS potential (``auto``, ``lammps``), else ASE's; PropertyError
    when ``lammps`` is asked of another potential."""
    setup = lammps_setup(ctx.potential.adapter, ctx.potential.arg) if choice != "ase" else None
    if setup is not None:
        return LammpsEngine(setup, calc)
    if choice == "lammps":
        raise PropertyError(f"md_engine lammps needs a LAMMPS potential (eam:, lammps:), not {ctx.potential.info.spec}")
    return AseEngine(calc)


def _trial_record(result: TrialResult) -> tuple[dict[str, float], dict[str, list[float]]]:
    """An item's values (numbers; outcome and crystal names as codes) and its curves."""
    v = result.verdict
    transition = v.transition.split("->")[-1] if v.transition else ""
    crystal_transition = result.crystal_transition.split("->")[-1] if result.crystal_transition else ""
    values = {
        "pressure_GPa": result.pressure_GPa,
        "temperature_K": result.temperature_K,
        "seed": float(result.seed),
        "outcome": OUTCOME_CODES[v.outcome],
        "rate_per_ps": v.rate_per_ps,
        "rate_sem_per_ps": v.rate_sem_per_ps,
        "change": v.change,
        "transition_to": float(CRYSTAL_NAMES.index(transition)),
        "grown_as": float(CRYSTAL_NAMES.index(v.grown_as)) if v.grown_as in CRYSTAL_NAMES else 0.0,
        "crystal_transition_to": float(CRYSTAL_NAMES.index(crystal_transition)),
        "crystal_solid": result.crystal.solid,
        "md_steps": float(result.md_steps),
        "md_seconds": result.md_seconds,
        "coexist_time_ps": float(result.samples[-1].time_ps),
    }
    time_ps = list(result.time_ps())
    arrays = {
        "solid_fraction_vs_time:x": time_ps,
        "solid_fraction_vs_time:y": [float(x) for x in result.solid()],
        **{f"{name}_share": [float(x) for x in result.structure(name)] for name in ("fcc", "hcp", "bcc")},
        "temperature_K": [s.temperature_K for s in result.samples],
        "pressure_GPa": [s.pressure_GPa for s in result.samples],
    }
    return values, arrays


def _verdict(values: Mapping[str, float], parent: str) -> Verdict:
    """The verdict an item record carries (codes back to names)."""
    outcome = OUTCOMES[int(values["outcome"])]
    to = CRYSTAL_NAMES[int(values.get("transition_to", 0))]
    crystal_to = CRYSTAL_NAMES[int(values.get("crystal_transition_to", 0))]
    # the crystal left the parent structure before the interface run (not when it melted there:
    # records made before properties.melt checked that carry stray fcc->sc codes of melted crystals)
    if crystal_to and not to and values.get("crystal_solid", 1.0) >= 0.5:
        outcome, to = "solid-solid", crystal_to
    return Verdict(
        outcome, values["rate_per_ps"], values["rate_sem_per_ps"], values["change"],
        f"{parent}->{to}" if to else "", CRYSTAL_NAMES[int(values.get("grown_as", 0))],
    )  # fmt: skip


def _melt_point(
    pressure_GPa: float, records: list[ItemRecord], parent: str, ctx: TaskContext
) -> tuple[ItemRecord, dict[str, float]]:
    """The summary item and metrics of one pressure from its trials' records."""
    trials = [Trial(r.values["temperature_K"], int(r.values["seed"]), _verdict(r.values, parent)) for r in records]
    point = melting_point(trials, parent=parent)
    tag = _tag(pressure_GPa)
    values = {
        f"tm_{tag}GPa_K": point.tm_K,
        f"tm_{tag}GPa_half_width_K": point.half_width_K,
        f"tm_{tag}GPa_low_K": point.low_K,
        f"tm_{tag}GPa_high_K": point.high_K,
        f"tm_{tag}GPa_seed_std_K": point.seed_std_K,
        f"solid_solid_{tag}GPa": float(bool(point.transitions)),
    }
    label = ctx.potential.info.name
    if point.note:
        ctx.notes.append(f"{label}, {pressure_GPa:g} GPa: {point.note}")
    for transition in point.transitions:  # named as what it is: never a melting point
        ctx.notes.append(f"{label}: {transition} at {pressure_GPa:g} GPa (solid-solid transition, not melting)")
    arrays = _tm_arrays(pressure_GPa, point, [t for t in trials if t.verdict.outcome == "solid-solid"])
    summary_values = {"pressure_GPa": pressure_GPa, "tm_K": point.tm_K, "half_width_K": point.half_width_K,
                      "low_K": point.low_K, "high_K": point.high_K, "seed_std_K": point.seed_std_K,
                      "solid_solid": float(bool(point.transitions))}  # fmt: skip
    summary = ItemRecord(f"Tm at {pressure_GPa:g} GPa", "ok", point.note, 0, "melting point", summary_values, arrays)
    return summary, values


def _tm_arrays(pressure_GPa: float, point: MeltPoint, solid_solid: list[Trial]) -> dict[str, list[float]]:
    """The Tm-vs-P point with its bracket (``tm_vs_p:y_low``/``y_high``, K) and the (P, T) of runs
    that went solid-solid (``tm_vs_p:x_solid_solid``/``y_solid_solid``). An unbracketed Tm is the
    grid's limit, not the potential failing: no point then (the summary item stays "ok", NaN) but
    the bound (``tm_vs_p:x_bound``/``y_bound``, ``bound_sign`` +1: Tm above it, -1: below)."""
    arrays: dict[str, list[float]] = {}
    if math.isfinite(point.tm_K):
        arrays = {"tm_vs_p:x": [pressure_GPa], "tm_vs_p:y": [point.tm_K],
                  "tm_vs_p:y_low": [point.low_K], "tm_vs_p:y_high": [point.high_K]}  # fmt: skip
    elif math.isfinite(point.low_K) != math.isfinite(point.high_K):
        above = math.isfinite(point.low_K)
        arrays = {"tm_vs_p:x_bound": [pressure_GPa], "tm_vs_p:y_bound": [point.low_K if above else point.high_K],
                  "tm_vs_p:bound_sign": [1.0 if above else -1.0]}  # fmt: skip
    if solid_solid:
        temps = sorted({t.temperature_K for t in solid_solid})
        arrays |= {"tm_vs_p:x_solid_solid": [pressure_GPa] * len(temps), "tm_vs_p:y_solid_solid": temps}
    return arrays


__all__ = ["MeltKind", "MeltParameters", "item_id"]
