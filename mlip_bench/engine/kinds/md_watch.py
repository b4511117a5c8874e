"""Kind ``md_extrapolation``: does a potential's own uncertainty warn before its MD goes wrong?
(paper 002 App. E and Fig. 22: the extrapolation grade γ over an NPT run of liquid Mg, crossing
γ_select = 1.001 and γ_break = 5.)

NVT (Langevin, ASE's integrator: any calculator) at a hot and/or compressed state from one start
structure, watched by :func:`mlip_bench.properties.md_watch.watch_md`: every ``sample_every`` steps
the uncertainty (γ, or an ensemble's σ_E), the potential energy per atom, the temperature and the
smallest interatomic distance. Outputs: the first step (and time) above the select and the break
thresholds, whether and when the run fails physically (atoms closer than ``min_distance_A``, an
energy jump above ``energy_jump_eV_per_atom`` between samples, a non-finite value, or the
calculator failing), the steps completed, and the warning lead: failure step minus the first step
above the break threshold (positive: γ warned first).

The start structure is a frame of the task's ``dataset`` (parameter ``structure_id`` or
``structure_index``; the kind reads the dataset itself, the runner does not score it) or the task's
single built crystal; ``supercell`` repeats it and ``volume_scale`` (V/V0, < 1 compresses) scales it
uniformly. The thresholds are the potential's own
(``UncertaintyInfo.thresholds``) unless the task sets ``select_threshold`` / ``break_threshold``.

Work items: one, the whole trajectory. Segments of one trajectory depend on each other in order,
while the runner schedules a cell's items independently, each with its own scratch folder; so the
item checkpoints every ``segment_steps`` steps in its scratch folder (the engine's checkpoint and
the samples), and a killed run resumes mid-trajectory with the same record.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ase import Atoms

from mlip_bench.data.registry import load_dataset
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
from mlip_bench.engine.parameters import POSITIVE, POSITIVE_INTEGER, STRING, Param, array, nullable
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.errors import DataError, PropertyError, TaskSpecError
from mlip_bench.properties.md_core import MdRun
from mlip_bench.properties.md_watch import WatchLimits, WatchResult, watch_md

ITEM = "md"
_NUMBER_OR_NULL = nullable(POSITIVE)
PARAMETERS = (
    Param("structure_id", None, nullable(STRING), "", "id of the start frame in `dataset`"),
    Param("structure_index", None, nullable({"type": "integer", "minimum": 0}), "", "index of the start frame"),
    Param("supercell", (1, 1, 1), array(POSITIVE_INTEGER, min_items=3, max_items=3), "", "repeats along a, b, c"),
    Param("volume_scale", 1.0, POSITIVE, "", "V/V0 of the start cell, scaled uniformly (< 1 compresses)"),
    Param("temperature_K", 1500.0, POSITIVE, "K", "Langevin thermostat and initial Maxwell-Boltzmann temperature"),
    Param("timestep_fs", 1.0, POSITIVE, "fs", "MD timestep"),
    Param("n_steps", 1000, POSITIVE_INTEGER, "", "MD steps"),
    Param("sample_every", 10, POSITIVE_INTEGER, "", "steps between samples"),
    Param("segment_steps", 200, POSITIVE_INTEGER, "", "steps between checkpoints (part of the protocol)"),
    Param("friction_per_fs", 0.01, POSITIVE, "1/fs", "Langevin friction"),
    Param("seed", 0, {"type": "integer", "minimum": 0}, "", "random seed (velocities, thermostat noise)"),
    Param("min_distance_A", 1.5, POSITIVE, "Å", "the run fails when two atoms come closer"),
    Param("energy_jump_eV_per_atom", 0.5, POSITIVE, "eV/atom", "the run fails on a larger jump between samples"),
    Param(
        "select_threshold", None, _NUMBER_OR_NULL, "potential's unit", "select threshold",
        default_doc="the potential's first declared threshold (γ_select = 1.001)",
    ),
    Param(
        "break_threshold", None, _NUMBER_OR_NULL, "potential's unit", "break threshold",
        default_doc="the potential's second declared threshold (γ_break = 5)",
    ),
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class WatchSettings:
    """The task's parameters with the declared defaults filled in (units in the names)."""

    dataset: str | None
    structure_id: str | None
    structure_index: int | None
    supercell: tuple[int, int, int]
    volume_scale: float
    run: MdRun
    sample_every: int
    limits: WatchLimits
    select_threshold: float | None
    break_threshold: float | None

    @classmethod
    def from_task(cls, task: TaskSpec) -> WatchSettings:
        """Raises TaskSpecError (naming the task file) for a start structure given twice or not at all."""
        raw: dict[str, Any] = {p.name: p.default for p in PARAMETERS} | task.parameters | {"dataset": task.dataset}
        where = f"{task.source or task.id}: md_extrapolation"
        if raw["dataset"] is None and len(task.structures) != 1:
            raise TaskSpecError(f"{where}: give a 'dataset' or exactly one entry in 'structures'")
        if raw["dataset"] is not None and ((raw["structure_id"] is None) == (raw["structure_index"] is None)):
            raise TaskSpecError(f"{where}: with 'dataset' give exactly one of 'structure_id', 'structure_index'")
        if raw["dataset"] is not None and task.structures:
            raise TaskSpecError(f"{where}: the start is either a dataset frame or a built crystal, not both")
        try:
            run = MdRun(
                ensemble="nvt_langevin",
                temperature_K=float(raw["temperature_K"]),
                n_steps=int(raw["n_steps"]),
                timestep_fs=float(raw["timestep_fs"]),
                seed=int(raw["seed"]),
                maxwell_boltzmann=True,
                friction_per_fs=float(raw["friction_per_fs"]),
                segment_steps=int(raw["segment_steps"]),
                stress=False,
            )
        except PropertyError as exc:
            raise TaskSpecError(f"{where}: {exc}") from exc
        limits = WatchLimits(
            min_distance_A=float(raw["min_distance_A"]), energy_jump_eV_per_atom=float(raw["energy_jump_eV_per_atom"])
        )
        return cls(
            dataset=raw["dataset"],
            structure_id=raw["structure_id"],
            structure_index=raw["structure_index"],
            supercell=tuple(int(n) for n in raw["supercell"]),  # type: ignore[arg-type]
            volume_scale=float(raw["volume_scale"]),
            run=run,
            sample_every=int(raw["sample_every"]),
            limits=limits,
            select_threshold=raw["select_threshold"],
            break_threshold=raw["break_threshold"],
        )


class MdExtrapolationKind(TaskKind):
    name = "md_extrapolation"
    needs_dataset = False
    requires = frozenset({"energy", "forces"})
    requires_uncertainty = True
    item_timeout_s = 7200.0
    parameters = PARAMETERS
    produces = frozenset(
        {
            "first_step_above_select",
            "first_time_above_select_ps",
            "first_step_above_break",
            "first_time_above_break_ps",
            "failed",
            "failure_step",
            "failure_time_ps",
            "steps_completed",
            "time_completed_ps",
            "warning_lead_steps",
            "warning_lead_ps",
            "max_uncertainty",
            "min_distance_A",
            "max_energy_jump_eV_per_atom",
            "mean_temperature_K",
        }
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "uncertainty_vs_time": ("time (ps)", "uncertainty (γ, dimensionless; or σ_E, eV/atom)"),
        "energy_vs_time": ("time (ps)", "potential energy (eV/atom)"),
        "min_distance_vs_time": ("time (ps)", "smallest interatomic distance (Å)"),
    }
    uncertainty_plots = frozenset({"uncertainty_vs_time"})

    def items(self, task: TaskSpec) -> tuple[ItemPlan, ...]:
        """One item, the whole trajectory (see the module); checks the parameters."""
        WatchSettings.from_task(task)
        return (ItemPlan(ITEM),)

    def run_item(self, ctx: TaskContext, item: ItemPlan) -> ItemOutput:
        settings = WatchSettings.from_task(ctx.task)
        return record_output(ctx, lambda: self._record(ctx, settings))

    def reduce(self, ctx: TaskContext, outputs: dict[str, ItemOutput]) -> Outcome:
        output = outputs.get(ITEM)
        if output is None or output.record is None:
            return Outcome({}, ())  # lost to a crash or timeout: the runner records it
        ctx.notes.extend(output.notes)
        record = output.record
        return Outcome(dict(record.values), (record,), n_scored=int(record.status == "ok"))

    def run(self, ctx: TaskContext) -> Outcome:
        """The whole trajectory in this process."""
        return self.reduce(ctx, {ITEM: self.run_item(ctx, ItemPlan(ITEM))})

    def _record(self, ctx: TaskContext, settings: WatchSettings) -> ItemRecord:
        try:
            atoms, origin = start_structure(ctx.task, settings)
        except DataError as exc:
            return ItemRecord(ITEM, "failed", str(exc))
        missing = ctx.potential.info.unsupported(atoms.get_chemical_symbols())
        if missing:
            return ItemRecord(ITEM, "skipped", f"elements {sorted(missing)} not supported", len(atoms))
        spec = ctx.potential.info.spec
        calc = TimedCalculator(ctx.calculator, label=f"{ctx.task.id}: MD from {origin} with {spec}")
        scratch = Path(ctx.scratch) if ctx.scratch else None
        try:
            result = watch_md(
                atoms, calc, settings.run, sample_every=settings.sample_every, limits=settings.limits,
                checkpoint_dir=scratch,
            )  # fmt: skip
        except PropertyError as exc:
            return ItemRecord(ITEM, "failed", str(exc), len(atoms))
        finally:
            ctx.calculator_seconds += calc.seconds
        select, brk = thresholds(ctx, settings)
        values, arrays = summarize(result, select, brk)
        values["potential_calls"] = float(calc.calls)
        ctx.notes.extend(result.notes)
        if result.resumed_from_step is not None:
            ctx.notes.append(
                f"{ctx.potential.info.name}: MD resumed from its checkpoint at step {result.resumed_from_step}"
            )
        if result.failure is not None:
            ctx.notes.append(f"{ctx.potential.info.name}: MD failed ({result.failure.kind}): {result.failure.reason}")
        state = f"{settings.run.temperature_K:g} K, V/V0 {settings.volume_scale:g}"
        return ItemRecord(ITEM, "ok", "", len(atoms), f"{origin}, {state}", values, arrays)


def start_structure(task: TaskSpec, settings: WatchSettings) -> tuple[Atoms, str]:
    """The start cell (supercell, volume scaled, no calculator, no momenta) and where it came from.
    Raises DataError naming the dataset and the frame for a missing dataset or frame."""
    if settings.dataset is None:
        crystal = task.structures[0]
        atoms, origin = build_crystal(crystal), f"{crystal.id} ({crystal.crystal} {crystal.element})"
    else:
        dataset = load_dataset(settings.dataset)
        frames = dataset.frames
        if settings.structure_id is not None:
            frame = next((f for f in frames if f.id == settings.structure_id), None)
            wanted = f"id {settings.structure_id!r}"
        else:
            index = int(settings.structure_index or 0)
            frame = frames[index] if index < len(frames) else None
            wanted = f"index {index} (it has {len(frames)} frames)"
        if frame is None:
            raise DataError(f"{task.source or task.id}: dataset {settings.dataset!r} has no frame with {wanted}")
        if frame.problem(()):
            raise DataError(f"{task.source or task.id}: start frame {frame.id!r}: {frame.problem(())}")
        atoms, origin = frame.atoms.copy(), f"{dataset.id}:{frame.id}"
    atoms.calc = None
    atoms.set_constraint()
    atoms = atoms.repeat(settings.supercell)
    atoms.set_momenta(None)
    if settings.volume_scale != 1.0:
        atoms.set_cell(atoms.cell[:] * settings.volume_scale ** (1 / 3), scale_atoms=True)
    return atoms, origin


def thresholds(ctx: TaskContext, settings: WatchSettings) -> tuple[float | None, float | None]:
    """(select, break) thresholds: the task's, else the potential's declared ones (None: none)."""
    info = ctx.potential.info.uncertainty
    declared = tuple(info.thresholds) if info is not None else ()
    select = settings.select_threshold if settings.select_threshold is not None else next(iter(declared), None)
    brk = settings.break_threshold if settings.break_threshold is not None else (declared[1:2] or (None,))[0]
    if select is None or brk is None:
        ctx.notes.append(
            f"{ctx.potential.info.name}: no select/break threshold (set select_threshold, break_threshold)"
        )
    return select, brk


def summarize(
    result: WatchResult, select: float | None, brk: float | None
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Record values (NaN: never crossed, never failed) and the curves of a watched run."""
    nan = math.nan
    dt_ps = result.run.timestep_fs / 1000.0
    first_select, first_break = result.first_above(select), result.first_above(brk)
    failure = result.failure
    samples = result.samples
    jumps = [abs(b.energy_eV_per_atom - a.energy_eV_per_atom) for a, b in itertools.pairwise(samples)]
    lead = failure.step - first_break.step if failure is not None and first_break is not None else nan
    finite_u = [s.uncertainty for s in samples if not math.isnan(s.uncertainty)]
    values = {
        "first_step_above_select": float(first_select.step) if first_select else nan,
        "first_time_above_select_ps": first_select.step * dt_ps if first_select else nan,
        "first_step_above_break": float(first_break.step) if first_break else nan,
        "first_time_above_break_ps": first_break.step * dt_ps if first_break else nan,
        "failed": float(failure is not None),
        "failure_step": float(failure.step) if failure else nan,
        "failure_time_ps": failure.step * dt_ps if failure else nan,
        "steps_completed": float(result.steps_completed),
        "time_completed_ps": result.steps_completed * dt_ps,
        "warning_lead_steps": float(lead),
        "warning_lead_ps": lead * dt_ps,
        "max_uncertainty": max(finite_u, default=nan),
        "min_distance_A": min((s.min_distance_A for s in samples), default=nan),
        "max_energy_jump_eV_per_atom": max(jumps, default=nan),
        "mean_temperature_K": sum(s.temperature_K for s in samples[1:]) / (len(samples) - 1)
        if len(samples) > 1
        else nan,
    }
    time_ps = [s.step * dt_ps for s in samples]
    arrays = {
        "uncertainty_vs_time:x": time_ps,
        "uncertainty_vs_time:y": [s.uncertainty for s in samples],
        "energy_vs_time:x": time_ps,
        "energy_vs_time:y": [s.energy_eV_per_atom for s in samples],
        "min_distance_vs_time:x": time_ps,
        "min_distance_vs_time:y": [s.min_distance_A for s in samples],
        "temperature_K": [s.temperature_K for s in samples],
    }
    return values, arrays
