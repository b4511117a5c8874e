"""Kinds on competing crystal structures and deformation paths (paper 003, Sec. III.A and III.C):

- ``cold_curves``: E(V) of each structure of the spec (primitive cells, hcp c/a minimised at each
  volume); metrics ``dE_<crystal>_<reference>_meV_per_atom`` (minimum minus the reference
  structure's minimum, each at its own volume), ``v0_<crystal>_A3_per_atom``, ``hcp_c_over_a``,
  ``ground_state_is_<reference>``.
- ``bain_path`` / ``trigonal_path``: volume-conserving paths from the fcc structure of the spec
  (coordinates as in :mod:`mlip_bench.properties.paths`); metrics ``<path>_rmse_meV_per_atom``
  against the reference curve named by the parameter ``reference_curve`` and the energies of the
  special points on the path.

When the potential declares an uncertainty (``PotentialInfo.uncertainty``, adapters/uncertainty.py),
each item also records the uncertainty of every structure it evaluated, in the unit the declaration
names (``info.unit``: eV/atom for an ensemble spread, none for a grade): the curve
``<curve>_uncertainty`` (x as the item's energy curve, y the uncertainty of each point's structure),
``uncertainty_max`` (largest of every structure evaluated, the volume searches included) and, for
cold curves, ``uncertainty_at_minimum``. A path with a reference curve adds the cell metric
``spearman_uncertainty_error``: Spearman ρ of the point uncertainty and |E - E_ref| over the
reference's points on the path.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from ase.build import bulk

from mlip_bench.data.curves import ReferenceCurve, reference_curve
from mlip_bench.engine.kinds.base import Outcome, TaskContext, TaskKind
from mlip_bench.engine.kinds.crystal import UncertaintyLog, declares_uncertainty, with_uncertainty_max
from mlip_bench.engine.parameters import POSITIVE, STRING, Param, array, nullable
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import StructureSpec
from mlip_bench.errors import DataError, EvaluationError, PropertyError
from mlip_bench.metrics.uncertainty import spearman_rho
from mlip_bench.properties.cold_curves import ColdCurve, cold_curve
from mlip_bench.properties.paths import (
    BAIN_DIRECTION,
    BAIN_POINTS,
    TRIGONAL_DIRECTION,
    TRIGONAL_POINTS,
    PathResult,
    calc_path,
    errors_against,
    path_grid,
    rmse_against,
)

#: the cell metric of a path with a reference curve when the potential has an uncertainty
SPEARMAN = "spearman_uncertainty_error"


def _primitive(spec: StructureSpec) -> Any:
    kwargs: dict[str, Any] = {"a": spec.a_A}
    if spec.c_A is not None:
        kwargs["c"] = spec.c_A
    return bulk(spec.element, spec.crystal, **kwargs)


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


def _unsupported(ctx: TaskContext, spec: StructureSpec) -> ItemRecord | None:
    missing = ctx.potential.info.unsupported([spec.element])
    if not missing:
        return None
    return ItemRecord(spec.id, "skipped", f"elements {sorted(missing)} not supported by {ctx.potential.info.spec}")


class ColdCurvesKind(TaskKind):
    """Parameters: ``reference`` (crystal the energies are relative to, default fcc),
    ``volume_factors`` (E(V) sample points as fractions of each minimum volume, default 0.80..1.25
    in 10 points)."""

    name = "cold_curves"
    needs_dataset = False
    parameters = (
        Param("reference", "fcc", STRING, "", "crystal (or structure id) the energies are relative to"),
        Param(
            "volume_factors",
            tuple(float(f) for f in np.linspace(0.8, 1.25, 10)),
            array(POSITIVE, min_items=3),
            "",
            "E(V) sample points as fractions of each minimum volume",
        ),
    )
    #: crystals and references beyond paper 003's five (``dE_<crystal>_<reference>_meV_per_atom``)
    produces_patterns = (r"dE_[\w-]+_[\w-]+_meV_per_atom", r"v0_[\w-]+_A3_per_atom", r"ground_state_is_[\w-]+")
    requires = frozenset({"energy"})
    #: names for the five crystals of paper 003 relative to fcc; other crystals or references
    #: follow the same patterns (``dE_<crystal>_<reference>_meV_per_atom``)
    produces = frozenset(
        {f"dE_{c}_fcc_meV_per_atom" for c in ("hcp", "bcc", "sc", "diamond")}
        | {f"v0_{c}_A3_per_atom" for c in ("fcc", "hcp", "bcc", "sc", "diamond")}
        | {"hcp_c_over_a", "ground_state_is_fcc"}
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "cold_curve": ("volume (Å³/atom)", "energy relative to the reference minimum (meV/atom)")
    }

    def run(self, ctx: TaskContext) -> Outcome:
        reference = str(ctx.parameter("reference"))
        factors = tuple(float(f) for f in ctx.parameter("volume_factors"))
        names = [s.crystal for s in ctx.task.structures]
        if len(set(names)) != len(names):
            names = [s.id for s in ctx.task.structures]  # one crystal twice: name them by id
        curves: dict[str, ColdCurve] = {}
        items: dict[str, ItemRecord] = {}
        for name, spec in zip(names, ctx.task.structures, strict=True):
            result = self._one(name, spec, factors, ctx)
            if isinstance(result, ItemRecord):
                items[name] = result
            else:
                curves[name] = result[0]
                items[name] = ItemRecord(spec.id, "ok", "", len(_primitive(spec)), values=result[1])
        with_u = declares_uncertainty(ctx)
        out = tuple(
            self._item(items[n], curves[n], curves.get(reference), uncertainty=with_u) if n in curves else items[n]
            for n in names
        )
        values = self._values(curves, reference, ctx)
        return Outcome(values=values, items=out, n_scored=sum(i.status == "ok" for i in out))

    @staticmethod
    def _one(
        name: str, spec: StructureSpec, factors: tuple[float, ...], ctx: TaskContext
    ) -> tuple[ColdCurve, dict[str, float]] | ItemRecord:
        """(curve, item values: potential calls, largest uncertainty) of one structure, or the item
        record saying why there is none."""
        skipped = _unsupported(ctx, spec)
        if skipped is not None:
            return skipped
        atoms = _primitive(spec)
        calc = UncertaintyLog(ctx.calculator, label=f"{spec.id} with {ctx.potential.info.spec}")
        try:
            curve = cold_curve(name, atoms, calc, volume_factors=factors)
            return curve, with_uncertainty_max({"potential_calls": float(calc.calls)}, calc, ctx)
        except (PropertyError, EvaluationError) as exc:
            return ItemRecord(spec.id, "failed", str(exc), len(atoms))
        finally:
            ctx.calculator_seconds += calc.seconds

    @staticmethod
    def _item(base: ItemRecord, curve: ColdCurve, ref: ColdCurve | None, *, uncertainty: bool) -> ItemRecord:
        """The item of one curve; with `uncertainty`, its curve ``cold_curve_uncertainty`` (x: volume
        Å³/atom) and value ``uncertainty_at_minimum``."""
        values = dict(base.values) | {"v0_A3_per_atom": curve.v0_A3_per_atom, "e0_eV_per_atom": curve.e0_eV_per_atom}
        if np.isfinite(curve.c_over_a):
            values["c_over_a"] = curve.c_over_a
        arrays = {
            "volumes_A3_per_atom": list(curve.volumes_A3_per_atom),
            "energies_eV_per_atom": list(curve.energies_eV_per_atom),
        }
        if ref is not None:
            values["dE_meV_per_atom"] = (curve.e0_eV_per_atom - ref.e0_eV_per_atom) * 1000.0
            arrays["cold_curve:x"] = list(curve.volumes_A3_per_atom)
            arrays["cold_curve:y"] = [(e - ref.e0_eV_per_atom) * 1000.0 for e in curve.energies_eV_per_atom]
        if uncertainty:
            values["uncertainty_at_minimum"] = curve.uncertainty_at_minimum
            arrays["cold_curve_uncertainty:x"] = list(curve.volumes_A3_per_atom)
            arrays["cold_curve_uncertainty:y"] = list(curve.uncertainties)
        return ItemRecord(base.id, base.status, base.reason, base.n_atoms, base.group, values, arrays)

    @staticmethod
    def _values(curves: dict[str, ColdCurve], reference: str, ctx: TaskContext) -> dict[str, float]:
        values: dict[str, float] = {f"v0_{n}_A3_per_atom": c.v0_A3_per_atom for n, c in curves.items()}
        if "hcp" in curves:
            values["hcp_c_over_a"] = curves["hcp"].c_over_a
        ref = curves.get(reference)
        if ref is None:
            ctx.notes.append(f"reference structure {reference!r} failed or is absent: no relative energies")
            return values
        for name, curve in curves.items():
            if name != reference:
                values[f"dE_{name}_{reference}_meV_per_atom"] = (curve.e0_eV_per_atom - ref.e0_eV_per_atom) * 1000.0
        lowest = min(curves.values(), key=lambda c: c.e0_eV_per_atom)
        values[f"ground_state_is_{reference}"] = float(lowest.name == reference)
        return values


class PathKind(TaskKind):
    """A volume-conserving path from the fcc structure of the spec. Parameters: ``start``,
    ``stop``, ``step`` (path coordinate grid; special points and the reference curve's points are
    added), ``reference_curve`` (key in reference_data/curves; y in meV/atom relative to fcc),
    ``lattice_constant_A`` (fcc lattice constant fixing the volume, normally the one the reference
    curve was computed at; absent: the potential's own fcc equilibrium volume)."""

    needs_dataset = False
    requires = frozenset({"energy"})
    direction: ClassVar[tuple[float, float, float]]
    points: ClassVar[dict[str, float]]
    grid: ClassVar[tuple[float, float, float]]

    def run(self, ctx: TaskContext) -> Outcome:
        specs = [s for s in ctx.task.structures if s.crystal == "fcc"]
        if len(specs) != 1:
            raise DataError(f"{ctx.task.source}: a {self.name} task needs exactly one fcc structure")
        spec = specs[0]
        skipped = _unsupported(ctx, spec)
        if skipped is not None:
            return Outcome(values={}, items=(skipped,))
        start, stop, step = (float(ctx.parameter(k)) for k in ("start", "stop", "step"))
        key = ctx.parameter("reference_curve")
        curve = reference_curve(str(key)) if key is not None else None
        if curve is not None and "meV/atom" not in curve.y_label:
            raise DataError(f"reference curve {curve.key!r}: y must be in meV/atom, its label is {curve.y_label!r}")
        extra = [*self.points.values(), *(curve.x if curve is not None else ())]
        calc = UncertaintyLog(ctx.calculator, label=f"{spec.id} ({self.name}) with {ctx.potential.info.spec}")
        try:
            fixed = ctx.parameter("lattice_constant_A")
            result = calc_path(
                spec.element,
                spec.a_A if fixed is None else float(fixed),
                calc,
                direction=self.direction,
                ratios=path_grid(start, stop, step, extra),
                relax_volume=fixed is None,
            )
        except (PropertyError, EvaluationError) as exc:
            return Outcome(values={}, items=(ItemRecord(spec.id, "failed", str(exc), 1),))
        finally:
            ctx.calculator_seconds += calc.seconds
        values = {
            f"E_{p}_{self.name}_meV_per_atom": result.energy_at(r)
            for p, r in self.points.items()
            if p != "fcc" and start <= r <= stop
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
                values[SPEARMAN] = _spearman(result, curve)
        item_values = with_uncertainty_max(dict(values), calc, ctx) | {"potential_calls": float(calc.calls)}
        item = ItemRecord(spec.id, "ok", "", 1, "", item_values, arrays)
        return Outcome(values=values, items=(item,), n_scored=1)


def _spearman(result: PathResult, curve: ReferenceCurve) -> float:
    """Spearman ρ of each reference point's uncertainty and |E - E_ref| (NaN with < 3 points)."""
    errors = errors_against(result, curve)
    by_ratio = dict(zip(np.round(result.ratios, 10), result.uncertainties, strict=True))
    return spearman_rho([by_ratio[x] for x in errors], list(errors.values()))


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
