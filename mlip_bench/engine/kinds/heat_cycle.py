"""Kind ``heat_cycle``: MD stability, melting and refreezing (paper 003 Fig. 7) for any potential,
from :mod:`mlip_bench.properties.heat_cycle`: the task's single crystal (``supercell`` conventional
cells per edge; paper 003: 108 atoms) heated at 1 bar from ``T_low_K`` to ``T_high_K`` at
``heating_rate_K_per_ps`` and cooled back at ``cooling_rate_K_per_ps`` (NPT, a staircase of
``stage_K``), sampled every ``sample_every`` steps: energy, pressure, volume and PTM fractions
against time; then NVE at each of ``nve_temperatures_K`` for the energy drift.

Work items: ``cycle`` (the whole ramp: its stages depend on each other in order, each checkpointed
in the item's scratch folder, so a killed run resumes) and one ``nve_<T>K`` per NVE temperature.

Metrics: ``melting_T_K`` and ``refreezing_T_K`` (set point where the solid fraction crosses 0.5; NaN
when it does not), ``hysteresis_K``, ``failed`` (1: the potential blew up: atoms closer than
``min_distance_A``, an energy jump above ``energy_jump_eV_per_atom`` between samples, a non-finite
value, or the calculator or LAMMPS failing), ``time_to_failure_ps`` (NaN: none), ``time_survived_ps``
(the whole cycle without failure; a figure of merit across potentials), ``nve_<T>K.drift_meV_per_atom_per_ps``,
``max_abs_nve_drift_meV_per_atom_per_ps``, and ``speed_us_per_atom_step`` (engine seconds, the
local-structure analysis excluded, per atom and step of every item's MD).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import ClassVar

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
from mlip_bench.engine.kinds.liquid import MD_ENGINES, md_engine, speed_values
from mlip_bench.engine.parameters import POSITIVE, POSITIVE_INTEGER, Param, array, field_param, one_of
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.errors import EvaluationError, PotentialError, PropertyError, TaskSpecError
from mlip_bench.properties.heat_cycle import (
    CycleResult,
    CycleSettings,
    DriftResult,
    FailureLimits,
    heat_cycle,
    nve_drift,
)

CYCLE = "cycle"
#: PTM fractions kept as plain arrays beside the curves (the solid fraction is a curve)
_FRACTIONS = ("fcc", "hcp", "bcc", "ico", "other")
PARAMETERS = (
    Param("supercell", 3, POSITIVE_INTEGER, "", "conventional cells per edge (3: 108 atoms, as paper 003)"),
    Param("md_engine", "auto", one_of(*MD_ENGINES), "", "auto: LAMMPS for eam:/lammps:, ASE otherwise"),
    Param("nve_temperatures_K", [300.0, 900.0, 1500.0], array(POSITIVE), "K", "one NVE drift item each"),
    Param("nve_equilibrate_steps", 1000, POSITIVE_INTEGER, "", "NPT steps before each NVE run"),
    Param("nve_steps", 5000, POSITIVE_INTEGER, "", "NVE steps (a multiple of sample_every)"),
    *(field_param(f, doc=f"CycleSettings.{f.name}") for f in dataclasses.fields(CycleSettings) if f.name != "limits"),
    *(field_param(f, doc=f"FailureLimits.{f.name}") for f in dataclasses.fields(FailureLimits)),
)


def settings_of(task: TaskSpec) -> CycleSettings:
    """CycleSettings from the task's parameters and the declared defaults; TaskSpecError names the task."""
    raw = task.parameters
    own = {f.name for f in dataclasses.fields(CycleSettings)} - {"limits"}
    limit_names = {f.name for f in dataclasses.fields(FailureLimits)}
    try:
        limits = FailureLimits(**{k: v for k, v in raw.items() if k in limit_names})
        return CycleSettings(limits=limits, **{k: v for k, v in raw.items() if k in own})
    except (PropertyError, TypeError) as exc:
        raise TaskSpecError(f"{task.source or task.id}: heat_cycle: {exc}") from exc


def nve_temperatures(task: TaskSpec) -> list[float]:
    return [float(t) for t in task.parameters.get("nve_temperatures_K", PARAMETERS[2].default)]


def nve_id(temperature_K: float) -> str:
    return f"nve_{temperature_K:g}K"


class HeatCycleKind(TaskKind):
    name = "heat_cycle"
    needs_dataset = False
    requires = frozenset({"energy", "forces", "stress"})
    packages = ("lammps", "asap3")
    item_timeout_s = 7200.0
    parameters = PARAMETERS
    cell_metrics = frozenset({
        "melting_T_K", "refreezing_T_K", "hysteresis_K", "failed", "time_to_failure_ps", "time_survived_ps",
        "max_abs_nve_drift_meV_per_atom_per_ps", "speed_us_per_atom_step", "heating_rate_K_per_ps",
        "cooling_rate_K_per_ps",
    })  # fmt: skip
    item_metrics = frozenset({"drift_meV_per_atom_per_ps", "fluctuation_meV_per_atom", "failed", "time_to_failure_ps"})
    #: cell metrics, and per NVE temperature ``nve_<T>K.<item metric>``
    produces = cell_metrics | item_metrics
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "solid_fraction_vs_time": ("time (ps)", "solid fraction (PTM fcc+hcp+bcc+sc)"),
        "energy_vs_time": ("time (ps)", "potential energy (eV/atom)"),
        "pressure_vs_time": ("time (ps)", "pressure (GPa)"),
        "volume_vs_time": ("time (ps)", "volume (Å³/atom)"),
        "temperature_vs_time": ("time (ps)", "instantaneous temperature (K)"),
        "solid_fraction_vs_set_T": ("thermostat set point (K)", "solid fraction (PTM fcc+hcp+bcc+sc)"),
        "nve_energy": ("time (ps)", "total energy in NVE (eV/atom)"),
    }

    def accepts_metric(self, name: str, task: TaskSpec) -> bool:
        """Cell metrics, or ``nve_<T>K.<metric>`` for an NVE temperature of the task."""
        prefix, dot, base = name.rpartition(".")
        if not dot:
            return name in self.cell_metrics
        return prefix in {nve_id(t) for t in nve_temperatures(task)} and base in self.item_metrics

    def items(self, task: TaskSpec) -> tuple[ItemPlan, ...]:
        settings_of(task)
        return (ItemPlan(CYCLE), *(ItemPlan(nve_id(t), t) for t in nve_temperatures(task)))

    def run_item(self, ctx: TaskContext, item: ItemPlan) -> ItemOutput:
        return record_output(ctx, lambda: self._record(ctx, item))

    def _record(self, ctx: TaskContext, item: ItemPlan) -> ItemRecord:
        structures = ctx.task.structures
        if len(structures) != 1:
            raise TaskSpecError(f"{ctx.task.source or ctx.task.id}: heat_cycle needs exactly one structure")
        crystal = build_crystal(structures[0]).repeat(int(ctx.parameter("supercell")))
        missing = ctx.potential.info.unsupported(crystal.get_chemical_symbols())
        if missing:
            return ItemRecord(item.id, "skipped", f"elements {sorted(missing)} not supported", len(crystal))
        calc = TimedCalculator(ctx.calculator, label=f"{ctx.task.id} {item.id} with {ctx.potential.info.spec}")
        folder = Path(ctx.scratch) if ctx.scratch else None
        settings = settings_of(ctx.task)
        try:
            engine = md_engine(str(ctx.parameter("md_engine")), ctx, calc)
            if item.id == CYCLE:
                values, arrays = _cycle_values(heat_cycle(engine, crystal, settings, folder=folder), settings, ctx)
            else:
                stream = 1000 + nve_temperatures(ctx.task).index(float(item.payload))
                drift = nve_drift(
                    engine, crystal, float(item.payload), equilibrate_steps=int(ctx.parameter("nve_equilibrate_steps")),
                    nve_steps=int(ctx.parameter("nve_steps")), settings=settings, stream=stream, folder=folder,
                )  # fmt: skip
                values, arrays = _drift_values(drift, ctx)
        except (PropertyError, EvaluationError, PotentialError) as exc:  # bad settings; a failing potential is a result
            return ItemRecord(item.id, "failed", str(exc), len(crystal))
        finally:
            ctx.calculator_seconds += calc.seconds
        values["potential_calls"] = float(calc.calls)
        return ItemRecord(item.id, "ok", "", len(crystal), f"MD engine: {engine.name}", values, arrays)

    def reduce(self, ctx: TaskContext, outputs: dict[str, ItemOutput]) -> Outcome:
        records: list[ItemRecord] = []
        for plan in self.items(ctx.task):
            output = outputs.get(plan.id)
            if output is None or output.record is None:
                continue  # lost to a crash or timeout: the runner records it
            records.append(output.record)
            ctx.notes.extend(output.notes)
        ok = [r for r in records if r.status == "ok"]
        values: dict[str, float] = {}
        for record in ok:
            if record.id == CYCLE:
                values |= record.values
            else:
                values |= {f"{record.id}.{k}": v for k, v in record.values.items()}
        drifts = [abs(r.values["drift_meV_per_atom_per_ps"]) for r in ok if r.id != CYCLE]
        finite = [d for d in drifts if math.isfinite(d)]
        values["max_abs_nve_drift_meV_per_atom_per_ps"] = (
            max(finite) if finite and len(finite) == len(drifts) else math.nan
        )
        values |= speed_values(ok)
        return Outcome(values=values, items=tuple(records), n_scored=len(ok))

    def run(self, ctx: TaskContext) -> Outcome:
        """Every item in turn, in this process."""
        return self.reduce(ctx, {item.id: self.run_item(ctx, item) for item in self.items(ctx.task)})


def _cycle_values(
    result: CycleResult, settings: CycleSettings, ctx: TaskContext
) -> tuple[dict[str, float], dict[str, list[float]]]:
    failure = result.failure
    values = {
        "melting_T_K": result.melting_T_K,
        "refreezing_T_K": result.refreezing_T_K,
        "hysteresis_K": result.melting_T_K - result.refreezing_T_K,
        "failed": float(failure is not None),
        "time_to_failure_ps": failure.time_ps if failure is not None else math.nan,
        "time_survived_ps": result.time_completed_ps,
        "heating_rate_K_per_ps": settings.actual_rate(settings.heating_rate_K_per_ps),
        "cooling_rate_K_per_ps": settings.actual_rate(settings.cooling_rate_K_per_ps),
        "md_steps_run": float(result.steps_run),
        "md_seconds": result.md_seconds,
    }  # fmt: skip
    ctx.notes.extend(result.notes)
    name = ctx.potential.info.name
    if failure is not None:
        ctx.notes.append(f"{name}: heat cycle failed at {failure.time_ps:g} ps ({failure.kind}): {failure.reason}")
    elif math.isnan(result.refreezing_T_K):
        ctx.notes.append(f"{name}: no refreezing on cooling to {settings.T_low_K:g} K at this rate")
    good = [s for s in result.samples if "solid" in s]
    time = [float(s["time_ps"]) for s in good]
    arrays = {"set_T_K": [float(s["set_T_K"]) for s in good]}
    for key, curve in (("solid", "solid_fraction"), ("epot_eV_per_atom", "energy"), ("pressure_GPa", "pressure"),
                       ("volume_A3_per_atom", "volume"), ("T_K", "temperature")):  # fmt: skip
        arrays |= {f"{curve}_vs_time:x": time, f"{curve}_vs_time:y": [float(s[key]) for s in good]}
    arrays |= {name: [float(s[name]) for s in good] for name in _FRACTIONS}
    heat = [s for s in good if s["phase"] == "heat"]
    arrays |= {"solid_fraction_vs_set_T:x": [float(s["set_T_K"]) for s in heat],
               "solid_fraction_vs_set_T:y": [float(s["solid"]) for s in heat]}  # fmt: skip
    return values, arrays


def _drift_values(result: DriftResult, ctx: TaskContext) -> tuple[dict[str, float], dict[str, list[float]]]:
    failure = result.failure
    if failure is not None:
        ctx.notes.append(f"{ctx.potential.info.name}: NVE at {result.temperature_K:g} K failed: {failure.reason}")
    ctx.notes.extend(result.notes)
    values = {
        "drift_meV_per_atom_per_ps": result.drift_meV_per_atom_per_ps,
        "fluctuation_meV_per_atom": result.fluctuation_meV_per_atom,
        "failed": float(failure is not None),
        "time_to_failure_ps": failure.time_ps if failure is not None else math.nan,
        "md_steps_run": float(result.steps_run),
        "md_seconds": result.md_seconds,
    }
    return values, {"nve_energy:x": list(result.time_ps), "nve_energy:y": list(result.etot_eV_per_atom)}
