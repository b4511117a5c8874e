"""Kinds on deformation paths (paper 003, Sec. III.C); ``cold_curves`` is in
:mod:`~mlip_bench.engine.kinds.cold_curves`:

- ``bain_path`` / ``trigonal_path``: volume-conserving paths from the fcc structure of the spec
  (coordinates as in :mod:`mlip_bench.properties.paths`); metrics ``<path>_rmse_meV_per_atom``
  against the reference curve named by the parameter ``reference_curve`` and the energies of the
  special points on the path.

When the potential declares an uncertainty (``PotentialInfo.uncertainty``, adapters/uncertainty.py),
each item also records the uncertainty of every structure it evaluated, in the unit the declaration
names (``info.unit``: eV/atom for an ensemble spread, none for a grade): the curve
``<curve>_uncertainty`` (x as the item's energy curve, y the uncertainty of each point's structure)
and ``uncertainty_max`` (largest of every structure evaluated, the volume searches included). A path
with a reference curve adds the cell metric ``spearman_uncertainty_error``: Spearman ρ of the point
uncertainty and |E - E_ref| over the reference's points on the path.

Work items (a killed run loses at most those in flight): a path at a given volume
(``lattice_constant_A``) one per point plus one for the undistorted fcc cell every energy is
relative to (subtracted in the reduce step, so a record equals the one computed in one go); a path
at the potential's own volume stays one item, since every point needs the volume found first. A
failed point is a failed item of its own; the path is made of the others.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mlip_bench.data.curves import ReferenceCurve, reference_curve
from mlip_bench.engine.kinds.base import ItemOutput, ItemPlan, Outcome, TaskContext, TaskKind, unsupported_item
from mlip_bench.engine.kinds.crystal import UncertaintyLog, declares_uncertainty, with_uncertainty_max
from mlip_bench.engine.parameters import POSITIVE, STRING, Param, declared_default, nullable
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import StructureSpec, TaskSpec
from mlip_bench.errors import DataError, EvaluationError, PropertyError
from mlip_bench.properties.paths import (
    BAIN_DIRECTION,
    BAIN_POINTS,
    TRIGONAL_DIRECTION,
    TRIGONAL_POINTS,
    PathResult,
    calc_path,
    fcc_volume_A3_per_atom,
    path_grid,
    path_point,
    path_result,
    rmse_against,
    uncertainty_error_rho,
)

#: the cell metric of a path with a reference curve when the potential has an uncertainty
SPEARMAN = "spearman_uncertainty_error"


def _path_parameters(grid: tuple[float, float, float]) -> tuple[Param, ...]:
    """The parameters of a path kind whose coordinate grid defaults to `grid` (start, stop, step)."""
    start, stop, step = grid
    return (
        Param("start", start, POSITIVE, "", "first path coordinate"),
        Param("stop", stop, POSITIVE, "", "last path coordinate"),
        Param("step", step, POSITIVE, "", "grid step (special points and reference points are added)"),
        Param("reference_curve", None, STRING, "", "key in reference_data/curves (y in meV/atom)", input="curve"),
        Param(
            "lattice_constant_A",
            None,
            nullable(POSITIVE),
            "Å",
            "fcc lattice constant fixing the volume",
            default_doc="the potential's own fcc equilibrium volume",
        ),
    )


def _setting(kind: TaskKind, task: TaskSpec, name: str) -> Any:
    """The task's value of parameter `name`, else the kind's default (as TaskContext.parameter)."""
    if name in task.parameters:
        return task.parameters[name]
    return declared_default(kind.parameters, name, kind=kind.name)


class PathKind(TaskKind):
    """A volume-conserving path from the fcc structure of the spec. Parameters: ``start``,
    ``stop``, ``step`` (path coordinate grid; special points and the reference curve's points are
    added), ``reference_curve`` (key in reference_data/curves; y in meV/atom relative to fcc),
    ``lattice_constant_A`` (fcc lattice constant fixing the volume, normally the one the reference
    curve was computed at; absent: the potential's own fcc equilibrium volume).

    Work items: with ``lattice_constant_A``, ``<id> fcc`` (the undistorted cell) and one
    ``<id> r=<coordinate>`` per point, each one potential call storing its absolute energy; without
    it, the whole path as item ``<id>``. The path record (id: the structure's) is made in reduce."""

    needs_dataset = False
    requires = frozenset({"energy"})
    direction: ClassVar[tuple[float, float, float]]
    points: ClassVar[dict[str, float]]
    grid: ClassVar[tuple[float, float, float]]

    def _spec(self, task: TaskSpec) -> StructureSpec:
        specs = [s for s in task.structures if s.crystal == "fcc"]
        if len(specs) != 1:
            raise DataError(f"{task.source}: a {self.name} task needs exactly one fcc structure")
        return specs[0]

    def _curve(self, task: TaskSpec) -> ReferenceCurve | None:
        """The reference curve the parameter names (None: none); raises DataError for a y unit that
        is not meV/atom."""
        key = _setting(self, task, "reference_curve")
        curve = reference_curve(str(key)) if key is not None else None
        if curve is not None and "meV/atom" not in curve.y_label:
            raise DataError(f"reference curve {curve.key!r}: y must be in meV/atom, its label is {curve.y_label!r}")
        return curve

    def _range(self, task: TaskSpec) -> tuple[float, float, float]:
        start, stop, step = (float(_setting(self, task, k)) for k in ("start", "stop", "step"))
        return start, stop, step

    def _ratios(self, task: TaskSpec, curve: ReferenceCurve | None) -> tuple[float, ...]:
        """Path coordinates: the grid, the special points and the reference curve's points on it."""
        return path_grid(*self._range(task), [*self.points.values(), *(curve.x if curve is not None else ())])

    def items(self, task: TaskSpec) -> tuple[ItemPlan, ...]:
        """At a given volume: the undistorted fcc cell, then one item per path coordinate (ascending);
        at the potential's own volume: one item. Raises DataError as :meth:`_spec` and :meth:`_curve`."""
        spec, curve = self._spec(task), self._curve(task)
        if _setting(self, task, "lattice_constant_A") is None:
            return (ItemPlan(spec.id, {"path": "own volume"}),)
        points = tuple(ItemPlan(f"{spec.id} r={r!r}", {"ratio": r}) for r in self._ratios(task, curve))
        return (ItemPlan(f"{spec.id} fcc", {"ratio": None}), *points)

    def run_item(self, ctx: TaskContext, item: ItemPlan) -> ItemOutput:
        """One point (absolute energy eV/atom, its uncertainty), the undistorted cell, or the whole
        path at the potential's own volume; a failure is the item's record, never an exception."""
        spec = self._spec(ctx.task)
        skipped = unsupported_item(ctx, spec)
        if skipped is not None:
            return ItemOutput(record=ItemRecord(item.id, skipped.status, skipped.reason, 1))
        where = "" if "path" in item.payload else f" at {item.payload['ratio'] or 'fcc'}"
        calc = UncertaintyLog(ctx.calculator, label=f"{spec.id} ({self.name}{where}) with {ctx.potential.info.spec}")
        try:
            if "path" in item.payload:
                record = self._whole_path(ctx, spec, calc)
            else:
                fixed = float(ctx.parameter("lattice_constant_A"))
                energy, u = path_point(spec.element, fixed, calc, direction=self.direction, ratio=item.payload["ratio"])
                values = {"energy_eV_per_atom": energy, "uncertainty": u, "potential_calls": float(calc.calls)}
                record = ItemRecord(item.id, "ok", "", 1, values=with_uncertainty_max(values, calc, ctx))
        except (PropertyError, EvaluationError) as exc:
            record = ItemRecord(item.id, "failed", str(exc), 1)
        finally:
            ctx.calculator_seconds += calc.seconds
        return ItemOutput(record=record, calculator_s=calc.seconds, calls=calc.calls)

    def _whole_path(self, ctx: TaskContext, spec: StructureSpec, calc: UncertaintyLog) -> ItemRecord:
        """The path at the potential's own fcc equilibrium volume, as the item's record (energies
        relative to fcc). Raises PropertyError, EvaluationError."""
        ratios = self._ratios(ctx.task, self._curve(ctx.task))
        result = calc_path(spec.element, spec.a_A, calc, direction=self.direction, ratios=ratios, relax_volume=True)
        values, arrays = result.numbers()
        values = with_uncertainty_max(values | {"potential_calls": float(calc.calls)}, calc, ctx)
        return ItemRecord(spec.id, "ok", "", 1, values=values, arrays=arrays)

    def reduce(self, ctx: TaskContext, outputs: dict[str, ItemOutput]) -> Outcome:
        """The path's item and metrics from its items (no potential call); failed points follow it."""
        spec = self._spec(ctx.task)
        skipped = unsupported_item(ctx, spec)
        if skipped is not None:
            return Outcome(values={}, items=(skipped,))
        plans = self.items(ctx.task)
        records = {p.id: o.record for p in plans if (o := outputs.get(p.id)) is not None and o.record is not None}
        for output in (outputs[i] for i in records):
            ctx.notes.extend(output.notes)
        if "path" in plans[0].payload:  # one item, the path itself (lost: the runner records it)
            record = records.get(spec.id)
            if record is None or record.status != "ok":
                return Outcome(values={}, items=(record,) if record is not None else ())
            return self._outcome(ctx, spec, PathResult.from_numbers(record.values, record.arrays), [record], ())
        return self._reduce_points(ctx, spec, plans, records)

    def _reduce_points(
        self, ctx: TaskContext, spec: StructureSpec, plans: tuple[ItemPlan, ...], records: dict[str, ItemRecord]
    ) -> Outcome:
        """The path from its points' absolute energies minus the undistorted cell's (plans[0])."""
        fcc, *points = plans
        failed = tuple(records[p.id] for p in points if p.id in records and records[p.id].status != "ok")
        done = [(p.payload["ratio"], records[p.id]) for p in points if p.id in records and records[p.id].status == "ok"]
        reference = records.get(fcc.id)
        if reference is None or reference.status != "ok" or not done:
            why = "no point of the path computed (see their items)"
            if reference is None or reference.status != "ok":
                lost = f"its item {fcc.id!r} was lost"
                why = f"no energy of the undistorted fcc cell: {reference.reason if reference else lost}"
            return Outcome(values={}, items=(ItemRecord(spec.id, "failed", why, 1), *failed))
        if len(done) < len(points):
            ctx.notes.append(
                f"{len(points) - len(done)} of {len(points)} points of the {self.name} have no energy (failed or "
                "lost, see their items): the path, its RMSE and special points are made of the others"
            )
        fixed = float(ctx.parameter("lattice_constant_A"))
        result = path_result(
            ((r, rec.values["energy_eV_per_atom"], rec.values["uncertainty"]) for r, rec in done),
            e_fcc_eV_per_atom=reference.values["energy_eV_per_atom"],
            volume_A3_per_atom=fcc_volume_A3_per_atom(spec.element, fixed),
        )
        return self._outcome(ctx, spec, result, [reference, *(rec for _, rec in done)], failed)

    def _outcome(
        self,
        ctx: TaskContext,
        spec: StructureSpec,
        result: PathResult,
        done: list[ItemRecord],
        failed: tuple[ItemRecord, ...],
    ) -> Outcome:
        """Metrics and the path's item from `result`; `done`: the items it is made of (their potential
        calls and largest uncertainty are the path's); `failed`: failed points, recorded after it."""
        start, stop, _ = self._range(ctx.task)
        curve = self._curve(ctx.task)
        values = {
            f"E_{p}_{self.name}_meV_per_atom": result.energy_at(r)
            for p, r in self.points.items()
            if p != "fcc" and start <= r <= stop and result.sampled(r)
        }
        values["volume_A3_per_atom"] = result.volume_A3_per_atom
        if curve is not None:
            try:
                rmse, n = rmse_against(result, curve)
            except PropertyError as exc:
                ctx.notes.append(str(exc))
            else:
                values[f"{self.name.removesuffix('_path')}_rmse_meV_per_atom"] = rmse
                values["n_reference_points"] = float(n)
        arrays = {f"{self.name}:x": list(result.ratios), f"{self.name}:y": list(result.energies_meV_per_atom)}
        if declares_uncertainty(ctx):
            arrays[f"{self.name}_uncertainty:x"] = list(result.ratios)
            arrays[f"{self.name}_uncertainty:y"] = list(result.uncertainties)
            if curve is not None:
                values[SPEARMAN] = uncertainty_error_rho(result, curve)
        item_values = dict(values)
        largest = [r.values["uncertainty_max"] for r in done if "uncertainty_max" in r.values]
        if largest and declares_uncertainty(ctx):
            item_values["uncertainty_max"] = max(largest)
        item_values["potential_calls"] = sum(r.values["potential_calls"] for r in done)
        item = ItemRecord(spec.id, "ok", "", 1, "", item_values, arrays)
        return Outcome(values=values, items=(item, *failed), n_scored=1)

    def run(self, ctx: TaskContext) -> Outcome:
        """Every item in turn, in this process."""
        return self.reduce(ctx, {item.id: self.run_item(ctx, item) for item in self.items(ctx.task)})


class BainPathKind(PathKind):
    name = "bain_path"
    produces = frozenset({"bain_rmse_meV_per_atom", "E_bcc_bain_path_meV_per_atom", "volume_A3_per_atom", SPEARMAN})
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "bain_path": ("c/a (fcc = 1, bcc = 1/√2)", "energy relative to fcc (meV/atom)")
    }
    direction = BAIN_DIRECTION
    points = BAIN_POINTS
    grid = (0.6, 1.1, 0.02)
    parameters = _path_parameters(grid)


class TrigonalPathKind(PathKind):
    name = "trigonal_path"
    produces = frozenset(
        {
            "trigonal_rmse_meV_per_atom",
            "E_sc_trigonal_path_meV_per_atom",
            "E_bcc_trigonal_path_meV_per_atom",
            "volume_A3_per_atom",
            SPEARMAN,
        }
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "trigonal_path": (
            "stretch ratio along [111] (fcc = 1, sc = 1/2, bcc = 1/4)",
            "energy relative to fcc (meV/atom)",
        )
    }
    direction = TRIGONAL_DIRECTION
    points = TRIGONAL_POINTS
    grid = (0.2, 1.1, 0.05)
    parameters = _path_parameters(grid)
