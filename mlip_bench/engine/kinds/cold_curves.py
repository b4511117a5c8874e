"""The ``cold_curves`` kind (paper 003, Sec. III.A): E(V) of each structure of the spec (primitive
cells, hcp c/a minimised at each volume); metrics ``dE_<crystal>_<reference>_meV_per_atom`` (minimum
minus the reference structure's minimum, each at its own volume), ``v0_<crystal>_A3_per_atom``,
``hcp_c_over_a``, ``ground_state_is_<reference>``.

When the potential declares an uncertainty (``PotentialInfo.uncertainty``), each item also records the
curve ``cold_curve_uncertainty``, ``uncertainty_max`` (the volume searches included) and
``uncertainty_at_minimum``, in the unit the declaration names.

Work items: one per structure (a killed run loses at most those in flight); the relative energies are
made in the reduce step.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from ase.build import bulk

from mlip_bench.engine.kinds.base import ItemOutput, ItemPlan, Outcome, TaskContext, TaskKind, unsupported_item
from mlip_bench.engine.kinds.crystal import UncertaintyLog, declares_uncertainty, with_uncertainty_max
from mlip_bench.engine.parameters import POSITIVE, STRING, Param, array
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import StructureSpec, TaskSpec
from mlip_bench.errors import EvaluationError, PropertyError
from mlip_bench.properties.cold_curves import ColdCurve, cold_curve


def _primitive(spec: StructureSpec) -> Any:
    kwargs: dict[str, Any] = {"a": spec.a_A}
    if spec.c_A is not None:
        kwargs["c"] = spec.c_A
    return bulk(spec.element, spec.crystal, **kwargs)


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

    @staticmethod
    def _names(task: TaskSpec) -> list[str]:
        """Curve names, one per structure: its crystal, or its id when a crystal appears twice."""
        names = [s.crystal for s in task.structures]
        return names if len(set(names)) == len(names) else [s.id for s in task.structures]

    def items(self, task: TaskSpec) -> tuple[ItemPlan, ...]:
        """One work item per structure (its volume search and E(V) curve)."""
        names = self._names(task)
        return tuple(ItemPlan(s.id, {"curve": n}) for n, s in zip(names, task.structures, strict=True))

    def run_item(self, ctx: TaskContext, item: ItemPlan) -> ItemOutput:
        """The curve of one structure in absolute energies: its values (potential calls, largest
        uncertainty), then its numbers (ColdCurve.numbers; reduce rebuilds it and subtracts the reference)."""
        spec = next(s for s in ctx.task.structures if s.id == item.id)
        skipped = unsupported_item(ctx, spec)
        if skipped is not None:
            return ItemOutput(record=skipped)
        atoms = _primitive(spec)
        calc = UncertaintyLog(ctx.calculator, label=f"{spec.id} with {ctx.potential.info.spec}")
        factors = tuple(float(f) for f in ctx.parameter("volume_factors"))
        try:
            curve = cold_curve(str(item.payload["curve"]), atoms, calc, volume_factors=factors)
        except (PropertyError, EvaluationError) as exc:
            record = ItemRecord(spec.id, "failed", str(exc), len(atoms))
        else:
            scalars, arrays = curve.numbers()
            values = with_uncertainty_max({"potential_calls": float(calc.calls)}, calc, ctx) | scalars
            record = ItemRecord(spec.id, "ok", "", len(atoms), values=values, arrays=arrays)
        finally:
            ctx.calculator_seconds += calc.seconds
        return ItemOutput(record=record, calculator_s=calc.seconds, calls=calc.calls)

    def reduce(self, ctx: TaskContext, outputs: dict[str, ItemOutput]) -> Outcome:
        """Relative energies against the reference curve's minimum, made here so that no item waits
        for another; a structure lost or failed has no curve (and without the reference, no dE)."""
        reference = str(ctx.parameter("reference"))
        curves: dict[str, ColdCurve] = {}
        items: dict[str, ItemRecord] = {}
        for name, spec in zip(self._names(ctx.task), ctx.task.structures, strict=True):
            output = outputs.get(spec.id)
            if output is None or output.record is None:
                continue  # lost to a crash or timeout: the runner records it
            ctx.notes.extend(output.notes)
            items[name] = stored = output.record
            if stored.status == "ok":
                curves[name] = ColdCurve.from_numbers(name, stored.values, stored.arrays)
                values = {k: v for k, v in stored.values.items() if k in ("potential_calls", "uncertainty_max")}
                items[name] = ItemRecord(stored.id, stored.status, stored.reason, stored.n_atoms, values=values)
        with_u = declares_uncertainty(ctx)
        out = tuple(
            self._item(item, curves[n], curves.get(reference), uncertainty=with_u) if n in curves else item
            for n, item in items.items()
        )
        values = self._values(curves, reference, ctx)
        return Outcome(values=values, items=out, n_scored=sum(i.status == "ok" for i in out))

    def run(self, ctx: TaskContext) -> Outcome:
        """Every structure in turn, in this process."""
        return self.reduce(ctx, {item.id: self.run_item(ctx, item) for item in self.items(ctx.task)})

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
