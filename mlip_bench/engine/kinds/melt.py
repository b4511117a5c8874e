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

import math
from collections.abc import Mapping
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
from mlip_bench.engine.kinds.melt_params import PARAMETERS, PRESSURE_PATTERN, MeltParameters, item_id, pressure_tag
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.errors import EvaluationError, PropertyError, TaskSpecError
from mlip_bench.properties.lammps_md import LammpsEngine
from mlip_bench.properties.md_engine import AseEngine, MdEngine
from mlip_bench.properties.melt import TrialResult, run_trial
from mlip_bench.properties.melt_point import OUTCOMES, MeltPoint, Trial, Verdict, melting_point

#: outcome codes in item values (records hold numbers)
OUTCOME_CODES = {name: float(i) for i, name in enumerate(OUTCOMES)}
CRYSTAL_NAMES = ("", "fcc", "hcp", "bcc", "sc")
_PARENTS = {"fcc": "fcc", "bcc": "bcc", "hcp": "hcp", "sc": "sc"}


class MeltKind(TaskKind):
    name = "melt"
    needs_dataset = False
    requires = frozenset({"energy", "forces", "stress"})
    packages = ("asap3", "lammps")
    item_timeout_s = 7200.0
    parameters = PARAMETERS
    produces = frozenset({"speed_us_per_atom_step", "n_trials", "n_undecided"})
    produces_patterns = (
        rf"tm_{PRESSURE_PATTERN}GPa_K",
        rf"tm_{PRESSURE_PATTERN}GPa_(half_width|low|high|seed_std)_K",
        rf"solid_solid_{PRESSURE_PATTERN}GPa",
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
    tag = pressure_tag(pressure_GPa)
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
