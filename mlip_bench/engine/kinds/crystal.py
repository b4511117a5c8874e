"""Property kinds on ideal crystals built from the spec's ``structures``: ``eos`` (equation of
state) and ``elastic`` (stress-strain elastic constants). Each structure is one item; metric
names are the property names, prefixed by ``<structure id>.`` when a task has several.

When the potential declares an uncertainty (``PotentialInfo.uncertainty``, adapters/uncertainty.py),
every item also records ``uncertainty_max``: the largest uncertainty of any structure it evaluated
(relaxation steps, strained and scaled cells), in the unit the declaration names (``info.unit``:
eV/atom for an ensemble spread, none for an extrapolation grade); ``eos`` adds the curve
``eos_uncertainty`` (x: volume Å³/atom, y: uncertainty of each scanned cell)."""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from typing import Any

import numpy as np
from ase.calculators.calculator import all_changes

from mlip_bench.adapters.uncertainty import STRUCTURE_KEY
from mlip_bench.engine.evaluate import TimedCalculator
from mlip_bench.engine.kinds.base import ItemOutput, ItemPlan, Outcome, TaskContext, TaskKind, build_crystal
from mlip_bench.engine.parameters import BOOLEAN, POSITIVE, Param, fmax_param
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.errors import EvaluationError, PropertyError
from mlip_bench.properties.elastic import calc_elastic
from mlip_bench.properties.eos import calc_eos


class UncertaintyLog(TimedCalculator):
    """A :class:`TimedCalculator` that also logs, for every structure it computes, the volume per
    atom (Å³; NaN for a cell without volume) and the potential's uncertainty of it
    (``results["uncertainty"]``, in the potential's unit), when the potential reports one."""

    def __init__(self, inner: Any, *, label: str) -> None:
        super().__init__(inner, label=label)
        self.log: list[tuple[float, float]] = []

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        value = self.results.get(STRUCTURE_KEY)
        if value is not None and self.atoms is not None:
            volume = abs(float(np.linalg.det(self.atoms.cell.array))) / max(len(self.atoms), 1)
            self.log.append((volume if volume > 0 else float("nan"), float(value)))

    def uncertainty_max(self) -> float | None:
        """The largest uncertainty logged; None when none was reported."""
        return max(u for _, u in self.log) if self.log else None


def declares_uncertainty(ctx: TaskContext) -> bool:
    """Whether the cell's potential declares an uncertainty (so kinds record it)."""
    return ctx.potential.info.uncertainty is not None


def logged(calc: Any) -> list[tuple[float, float]]:
    """(volume Å³/atom, uncertainty) of every structure `calc` computed when it is an
    :class:`UncertaintyLog`, else []."""
    return list(calc.log) if isinstance(calc, UncertaintyLog) else []


def with_uncertainty_max(values: dict[str, float], calc: Any, ctx: TaskContext) -> dict[str, float]:
    """`values` with ``uncertainty_max`` of `calc`'s log added when the potential declares an
    uncertainty and reported one."""
    largest = calc.uncertainty_max() if isinstance(calc, UncertaintyLog) else None
    if not declares_uncertainty(ctx) or largest is None:
        return values
    return values | {"uncertainty_max": largest}


class CrystalKind(TaskKind):
    """Runs :meth:`compute` on each crystal of the spec and collects scalar results."""

    needs_dataset = False
    requires = frozenset({"energy", "forces", "stress"})

    def accepts_metric(self, name: str, task: TaskSpec) -> bool:
        """``<structure id>.<metric>``, or ``<metric>`` alone when the task has one structure."""
        prefix, dot, base = name.rpartition(".")
        if not dot:
            return len(task.structures) == 1 and super().accepts_metric(name, task)
        return prefix in {s.id for s in task.structures} and super().accepts_metric(base, task)

    @abstractmethod
    def compute(
        self, atoms: Any, calc: TimedCalculator, ctx: TaskContext
    ) -> tuple[dict[str, float], dict[str, list[float]]]:
        """(scalar values, arrays) for one crystal; raises PropertyError/EvaluationError."""

    def items(self, task: TaskSpec) -> tuple[ItemPlan, ...]:
        """One work item per crystal of the spec."""
        return tuple(ItemPlan(spec.id, spec.id) for spec in task.structures)

    def run_item(self, ctx: TaskContext, item: ItemPlan) -> ItemOutput:
        spec = next(s for s in ctx.task.structures if s.id == item.id)
        atoms = build_crystal(spec)
        missing = ctx.potential.info.unsupported(atoms.get_chemical_symbols())
        if missing:
            reason = f"elements {sorted(missing)} not supported by {ctx.potential.info.spec}"
            return ItemOutput(record=ItemRecord(spec.id, "skipped", reason, len(atoms)))
        calc = UncertaintyLog(ctx.calculator, label=f"{spec.id} with {ctx.potential.info.spec}")
        first_note = len(ctx.notes)
        try:
            scalars, arrays = self.compute(atoms, calc, ctx)
        except (PropertyError, EvaluationError) as exc:
            record = ItemRecord(spec.id, "failed", str(exc), len(atoms))
        else:
            scalars = with_uncertainty_max(scalars, calc, ctx)
            scalars["potential_calls"] = float(calc.calls)
            record = ItemRecord(spec.id, "ok", "", len(atoms), "", scalars, arrays)
        notes = tuple(ctx.notes[first_note:])
        del ctx.notes[first_note:]  # the item's notes travel with its output (reduce adds them once)
        return ItemOutput(record=record, notes=notes, calculator_s=calc.seconds, calls=calc.calls)

    def reduce(self, ctx: TaskContext, outputs: dict[str, ItemOutput]) -> Outcome:
        items: list[ItemRecord] = []
        values: dict[str, float] = {}
        single = len(ctx.task.structures) == 1
        for spec in ctx.task.structures:
            output = outputs.get(spec.id)
            if output is None or output.record is None:
                continue  # lost to a crash or timeout: the runner records it
            items.append(output.record)
            ctx.notes.extend(output.notes)
            for key, value in output.record.values.items() if output.record.status == "ok" else ():
                values[f"{spec.id}.{key}"] = value
                if single:
                    values[key] = value
        return Outcome(values=values, items=tuple(items), n_scored=sum(i.status == "ok" for i in items))

    def run(self, ctx: TaskContext) -> Outcome:
        """Every crystal in turn, in this process."""
        return self.reduce(ctx, {item.id: self.run_item(ctx, item) for item in self.items(ctx.task)})


class EosKind(CrystalKind):
    """Parameters: ``volume_range`` (fraction, default 0.06), ``n_points`` (11), ``fmax_eV_per_A``."""

    name = "eos"
    parameters = (
        Param("volume_range", 0.06, {**POSITIVE, "exclusiveMaximum": 1}, "", "volumes span (1 ± this) x V0"),
        Param("n_points", 11, {"type": "integer", "minimum": 4}, "", "E(V) points fitted"),
        fmax_param(1e-4),
    )
    produces = frozenset({"a0_A", "c0_A", "v0_A3_per_atom", "e0_eV_per_atom", "B_GPa", "fit_rms_meV_per_atom"})

    def compute(
        self, atoms: Any, calc: TimedCalculator, ctx: TaskContext
    ) -> tuple[dict[str, float], dict[str, list[float]]]:
        result = calc_eos(
            atoms,
            calc,
            volume_range=float(ctx.parameter("volume_range")),
            n_points=int(ctx.parameter("n_points")),
            fmax_eV_per_A=float(ctx.parameter("fmax_eV_per_A")),
        )
        scalars = {k: float(v) for k, v in dataclasses.asdict(result).items() if isinstance(v, float | bool)}
        arrays = {
            "volumes_A3_per_atom": list(result.volumes_A3_per_atom),
            "energies_eV_per_atom": list(result.energies_eV_per_atom),
        }
        if declares_uncertainty(ctx):
            arrays |= _eos_uncertainty(result.volumes_A3_per_atom, logged(calc))
        return scalars, arrays


def _eos_uncertainty(volumes: tuple[float, ...], log: list[tuple[float, float]]) -> dict[str, list[float]]:
    """Curve ``eos_uncertainty`` of the scanned volumes (Å³/atom): the uncertainty of the last
    logged structure at each volume (NaN where none); {} when nothing was logged."""
    if not log:
        return {}
    logged_v = np.array([v for v, _ in log])
    uncertainty = []
    for volume in volumes:
        hits = np.flatnonzero(np.isclose(logged_v, volume, rtol=1e-10, atol=0.0))
        uncertainty.append(log[int(hits[-1])][1] if hits.size else float("nan"))
    return {"eos_uncertainty:x": list(volumes), "eos_uncertainty:y": uncertainty}


_NAMES = ("11", "22", "33", "44", "55", "66")


class ElasticKind(CrystalKind):
    """Parameters: ``relax_ions`` (default true; false = clamped-ion), ``tolerance`` (0.10),
    ``fmax_eV_per_A`` (1e-4)."""

    name = "elastic"
    parameters = (
        Param("relax_ions", True, BOOLEAN, "", "relax the ions in each strained cell (false: clamped-ion)"),
        Param("tolerance", 0.10, POSITIVE, "", "relative difference of the two strain sets that triggers refinement"),
        fmax_param(1e-4),
    )
    produces = frozenset(
        {
            "C11_GPa",
            "C12_GPa",
            "C13_GPa",
            "C33_GPa",
            "C44_GPa",
            "C66_GPa",
            "B_GPa",
            "G_GPa",
            "E_GPa",
            "nu",
            "B_voigt_GPa",
            "B_reuss_GPa",
            "G_voigt_GPa",
            "G_reuss_GPa",
            "born_stable",
            "consistency_max_rel_diff",
            "refined",
            "a_A",
            "c_A",
            "symmetry_max_rel_dev",
        }
    )

    def compute(
        self, atoms: Any, calc: TimedCalculator, ctx: TaskContext
    ) -> tuple[dict[str, float], dict[str, list[float]]]:
        result = calc_elastic(
            atoms,
            calc,
            relax_ions=bool(ctx.parameter("relax_ions")),
            tolerance=float(ctx.parameter("tolerance")),
            fmax_eV_per_A=float(ctx.parameter("fmax_eV_per_A")),
        )
        c, u = result.C_GPa, result.C_std_GPa
        scalars: dict[str, float] = {}
        for i, j in ((0, 0), (0, 1), (0, 2), (2, 2), (3, 3), (5, 5)):
            name = f"C{i + 1}{j + 1}"
            scalars[f"{name}_GPa"] = c[i][j]
            scalars[f"{name}_std_GPa"] = u[i][j]
        for field in dataclasses.fields(result.moduli):
            scalars[field.name] = getattr(result.moduli, field.name)
            scalars[field.name.replace("_GPa", "_std_GPa") if "GPa" in field.name else "nu_std"] = getattr(
                result.moduli_std, field.name
            )
        scalars |= {
            "born_stable": float(result.born_stable),
            "consistency_max_rel_diff": result.consistency_max_rel_diff,
            "refined": float(result.refined),
            "relax_converged": float(result.relax_converged),
            "a_A": result.a_A,
            "c_A": result.c_A,
            "volume_A3_per_atom": result.volume_A3_per_atom,
            "symmetry_max_rel_dev": result.symmetry_max_rel_dev,
        }
        arrays = {
            "C_GPa": [v for row in c for v in row],
            "C_raw_GPa": [v for row in result.C_raw_GPa for v in row],
            "strains_percent": list(result.strains_percent),
        }
        who = f"{ctx.potential.info.name}, {atoms.get_chemical_formula()}"
        if result.averaging == "none" and result.crystal_system in ("cubic", "hexagonal"):
            ctx.notes.append(f"{who}: {result.crystal_system} axes not along x, y, z: C not symmetry-averaged")
        if result.born_violations:
            ctx.notes.append(f"{who}: Born stability fails: {'; '.join(result.born_violations)}")
        if result.refined:
            ctx.notes.append(
                f"{who}: delta1 and delta2 fits differ by "
                f"{result.consistency_max_rel_diff:.0%} (> tolerance): refined with +/-0.25 % and +/-0.75 %"
            )
        return scalars, arrays
