"""The ``rmse`` kind: energy per atom (raw and offset-aligned), force and stress component
errors over a labelled dataset, with a breakdown by any info label and parity data kept.

Parameters: ``properties`` (subset of energy, forces, stress; default all three: a frame
lacking a required reference label is recorded as invalid, stress is scored where the frame has
one), ``group_by`` (info label for the breakdown; default the dataset's registered label).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from mlip_bench.adapters.uncertainty import UncertaintyInfo
from mlip_bench.data.frames import Frame
from mlip_bench.data.registry import registered_datasets
from mlip_bench.engine.evaluate import Prediction
from mlip_bench.engine.kinds import rmse_checks as checks
from mlip_bench.engine.kinds import uncertainty_summary
from mlip_bench.engine.kinds.base import GroupValues, Outcome, TaskContext, TaskKind
from mlip_bench.engine.parameters import STRING, Param, array, one_of
from mlip_bench.engine.records import ItemRecord
from mlip_bench.errors import EvaluationError
from mlip_bench.metrics import error_stats, fit_elemental_offsets, force_nac
from mlip_bench.units import EV_PER_A3_TO_GPA

_STATS = ("mae", "rmse", "max")


@dataclass(frozen=True)
class _Scored:
    frame: Frame
    pred: Prediction
    group: str


class RmseKind(TaskKind):
    name = "rmse"
    needs_dataset = True
    requires = frozenset({"forces"})
    parameters = (
        Param(
            "properties",
            ("energy", "forces", "stress"),
            array(one_of("energy", "forces", "stress"), min_items=1),
            "",
            "what is scored (a frame lacking a required reference label is invalid)",
        ),
        Param(
            "group_by",
            None,
            STRING,
            "",
            "info label of the breakdown ('' for none)",
            default_doc="the dataset's registered group label, else 'group' or 'label' when frames have one",
        ),
    )
    produces = frozenset(
        {f"energy_{s}_meV_per_atom" for s in _STATS}
        | {f"energy_aligned_{s}_meV_per_atom" for s in _STATS}
        | {f"force_{s}_eV_per_A" for s in _STATS}
        | {f"stress_{s}_GPa" for s in _STATS}
        | {"force_nac_magnitude", "force_nac_angle", "force_p_d", "force_dnac_magnitude", "force_dnac_angle"}
        | uncertainty_summary.NAMES
    )

    def run(self, ctx: TaskContext) -> Outcome:
        assert ctx.dataset is not None
        wanted = set(ctx.parameter("properties"))
        provides = ctx.potential.info.provides
        use = wanted & provides  # what is scored: asked for by the task and computed by the potential
        group_by = ctx.parameter("group_by")
        if group_by is None:
            group_by = self._default_group(ctx)
        source = ctx.dataset.provenance.path or ctx.dataset.id
        label = ctx.potential.info.spec
        items: list[ItemRecord] = []
        scored: list[_Scored] = []
        frames = tqdm(ctx.dataset.frames, desc=f"{ctx.task.id} | {label}", disable=not ctx.progress, leave=False)
        for frame in frames:
            group = str(frame.labels.get(group_by, "")) if group_by else ""
            record = self._check(frame, use, ctx, source, group)
            if record is not None:
                items.append(record)
                continue
            try:
                where = f"{source}: structure {frame.id!r} with {label}"
                pred = ctx.predict(frame)
                if "forces" in use and pred.forces_eV_per_A is None:
                    raise EvaluationError(f"{where}: potential returned no forces")
            except EvaluationError as exc:
                items.append(ItemRecord(frame.id, "failed", str(exc), frame.n_atoms, group))
                continue
            scored.append(_Scored(frame, pred, group))
        values, aligned = self._energy(scored, ctx.dataset.elements, "energy" in use)
        values |= self._forces(scored, "forces" in use) | self._stress(scored, "stress" in use)
        values |= self._nac(scored, "forces" in use)
        info = ctx.potential.info.uncertainty
        values |= uncertainty_summary.uncertainty_values([s.pred.uncertainty for s in scored], info)
        notes = list(ctx.dataset.unit_warnings)  # wrong units in the reference file: warned, not converted
        n_elements = len(ctx.potential.info.elements or ())
        notes += _plausibility_notes(scored, use, (label, source, n_elements), values)
        if "energy" not in provides:
            notes.append(f"{label} computes no energies or stresses: only forces are scored")
        items.extend(self._item(s, aligned.get(s.frame.id, np.nan), use) for s in scored)
        groups = self._groups(scored, aligned, use, info) if group_by else ()
        notes.append(
            "energy_* are raw (predicted minus reference per atom); energy_aligned_* remove per-element "
            "constant offsets fitted by least squares, as for potentials trained on other DFT settings"
        )
        return Outcome(values=values, items=tuple(items), groups=groups, notes=tuple(notes), n_scored=len(scored))

    def wants_prediction(self, ctx: TaskContext, frame: Frame) -> bool:
        use = set(ctx.parameter("properties")) & ctx.potential.info.provides
        return self._check(frame, use, ctx, "", "") is None

    @staticmethod
    def _default_group(ctx: TaskContext) -> str:
        """The registry's group label, else "group" or "label" when the first frame has one."""
        entry = registered_datasets().get(ctx.dataset.id if ctx.dataset else "")
        if entry is not None:
            return entry.group_label
        first = ctx.dataset.frames[0].labels if ctx.dataset and ctx.dataset.frames else {}
        return next((key for key in ("group", "label") if key in first), "")

    @staticmethod
    def _check(frame: Frame, need: set[str], ctx: TaskContext, source: str, group: str) -> ItemRecord | None:
        problem = frame.problem(need)  # a malformed label or unusable structure: this frame only
        if problem:
            return ItemRecord(frame.id, "invalid", problem, frame.n_atoms, group)
        missing = ctx.potential.info.unsupported(frame.elements)
        if missing:
            reason = f"elements {sorted(missing)} not supported by {ctx.potential.info.spec}"
            return ItemRecord(frame.id, "skipped", reason, frame.n_atoms, group)
        for prop, value in (("energy", frame.energy_eV), ("forces", frame.forces_eV_per_A)):
            if prop in need and value is None:
                reason = f"{source}: structure {frame.id!r} has no reference {prop} (task {ctx.task.id} needs it)"
                return ItemRecord(frame.id, "invalid", reason, frame.n_atoms, group)
        return None

    @staticmethod
    def _energy(
        scored: list[_Scored], elements: frozenset[str], use: bool
    ) -> tuple[dict[str, float], dict[str, float]]:
        if not use or not scored:
            return {}, {}
        symbols = sorted(elements)
        counts = np.array([[s.frame.atoms.get_chemical_symbols().count(e) for e in symbols] for s in scored])
        delta = np.array([s.pred.energy_eV - _ref_energy(s.frame) for s in scored])
        raw = delta / counts.sum(axis=1)
        _, aligned = fit_elemental_offsets(counts, delta)
        values = _stats_dict("energy", "meV_per_atom", raw, 1000.0)
        values |= _stats_dict("energy_aligned", "meV_per_atom", aligned, 1000.0)
        return values, {s.frame.id: float(a) for s, a in zip(scored, aligned, strict=True)}

    @staticmethod
    def _forces(scored: list[_Scored], use: bool) -> dict[str, float]:
        pairs = [(s.pred.forces_eV_per_A, s.frame.forces_eV_per_A) for s in scored]
        errors = [p - r for p, r in pairs if p is not None and r is not None]
        if not use or not errors:
            return {}
        return _stats_dict("force", "eV_per_A", np.concatenate([e.ravel() for e in errors]), 1.0)

    @staticmethod
    def _nac(scored: list[_Scored], use: bool) -> dict[str, float]:
        """NAC of force magnitude (0-1.5 eV/Å) and direction (0-180°) errors over all atoms, P(D),
        and 1 - NAC as paper 001's validation criteria (Methods)."""
        pairs = [(s.frame.forces_eV_per_A, s.pred.forces_eV_per_A) for s in scored]
        pairs = [(r, p) for r, p in pairs if r is not None and p is not None]
        if not use or not pairs:
            return {}
        result = force_nac(np.concatenate([r for r, _ in pairs]), np.concatenate([p for _, p in pairs]))
        return {
            "force_nac_magnitude": result.nac_magnitude,
            "force_nac_angle": result.nac_direction,
            "force_p_d": result.p_d,
            "force_dnac_magnitude": 1.0 - result.nac_magnitude,
            "force_dnac_angle": 1.0 - result.nac_direction,
        }

    @staticmethod
    def _stress(scored: list[_Scored], use: bool) -> dict[str, float]:
        pairs = [(s.pred.stress_eV_per_A3, s.frame.stress_eV_per_A3) for s in scored]
        errors = [p - r for p, r in pairs if p is not None and r is not None]
        if not use or not errors:
            return {}
        return _stats_dict("stress", "GPa", np.concatenate(errors), EV_PER_A3_TO_GPA)

    @staticmethod
    def _item(s: _Scored, aligned: float, use: set[str]) -> ItemRecord:
        n = s.frame.n_atoms
        values: dict[str, float] = {}
        arrays: dict[str, list[float]] = {}
        if "energy" in use and s.frame.energy_eV is not None:
            values["e_pred_eV_per_atom"] = s.pred.energy_eV / n
            values["e_ref_eV_per_atom"] = s.frame.energy_eV / n
            values["e_err_meV_per_atom"] = (s.pred.energy_eV - s.frame.energy_eV) / n * 1000
            values["e_err_aligned_meV_per_atom"] = aligned * 1000
        if s.pred.forces_eV_per_A is not None and s.frame.forces_eV_per_A is not None:
            values["force_rmse_eV_per_A"] = float(
                np.sqrt(np.mean((s.pred.forces_eV_per_A - s.frame.forces_eV_per_A) ** 2))
            )
            arrays["forces_ref_eV_per_A"] = s.frame.forces_eV_per_A.ravel().tolist()
            arrays["forces_pred_eV_per_A"] = s.pred.forces_eV_per_A.ravel().tolist()
        if "stress" in use and s.pred.stress_eV_per_A3 is not None and s.frame.stress_eV_per_A3 is not None:
            arrays["stress_ref_GPa"] = (s.frame.stress_eV_per_A3 * EV_PER_A3_TO_GPA).tolist()
            arrays["stress_pred_GPa"] = (s.pred.stress_eV_per_A3 * EV_PER_A3_TO_GPA).tolist()
        if s.pred.uncertainty is not None:
            values["uncertainty"] = s.pred.uncertainty
        return ItemRecord(s.frame.id, "ok", "", n, s.group, values, arrays)

    @staticmethod
    def _groups(
        scored: list[_Scored], aligned: dict[str, float], use: set[str], info: UncertaintyInfo | None
    ) -> tuple[GroupValues, ...]:
        by_group: dict[str, list[_Scored]] = defaultdict(list)
        for s in scored:
            by_group[s.group].append(s)
        out = []
        for group, members in sorted(by_group.items()):
            values: dict[str, float] = {}
            if "energy" in use:
                raw = np.array([(m.pred.energy_eV - _ref_energy(m.frame)) / m.frame.n_atoms for m in members])
                values |= _stats_dict("energy", "meV_per_atom", raw, 1000.0)
                shifted = np.array([aligned.get(m.frame.id, np.nan) for m in members])
                values |= _stats_dict("energy_aligned", "meV_per_atom", shifted, 1000.0)
            values |= RmseKind._forces(members, "forces" in use)
            values |= uncertainty_summary.uncertainty_values([m.pred.uncertainty for m in members], info)
            out.append(GroupValues(group, len(members), values))
        return tuple(out)


def _plausibility_notes(
    scored: list[_Scored], use: set[str], who: tuple[str, str, int], values: dict[str, float]
) -> list[str]:
    """Notes on reference units and on a probably wrong species mapping (rmse_checks); `who` is the
    potential's spec, the dataset's file and the potential's element count, `values` the cell's metrics."""
    spec, source, n_elements = who
    notes = []
    forces = _pairs([(s.frame.forces_eV_per_A, s.pred.forces_eV_per_A) for s in scored])
    if "forces" in use and forces is not None:
        notes.append(checks.force_unit_note(source, *forces))
        energy = (
            values.get("energy_rmse_meV_per_atom", np.nan),
            values.get("energy_aligned_rmse_meV_per_atom", np.nan),
        )
        notes.append(checks.mapping_note(spec, source, forces, energy, n_elements))
    stress = _pairs([(s.frame.stress_eV_per_A3, s.pred.stress_eV_per_A3) for s in scored])
    if "stress" in use and stress is not None:
        notes.append(checks.stress_unit_note(source, *stress))
    energies = [s for s in scored if s.frame.energy_eV is not None]
    if "energy" in use and energies:
        symbols = sorted({e for s in energies for e in s.frame.elements})
        fractions = np.array(
            [[s.frame.atoms.get_chemical_symbols().count(e) / s.frame.n_atoms for e in symbols] for s in energies]
        )
        ref = np.array([_ref_energy(s.frame) / s.frame.n_atoms for s in energies])
        pred = np.array([s.pred.energy_eV / s.frame.n_atoms for s in energies])
        notes.append(checks.energy_unit_note(source, ref, pred, fractions))
    return [n for n in notes if n]


def _pairs(pairs: list[tuple[np.ndarray | None, np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray] | None:
    """(reference, predicted) values, flattened, of the structures that have both; None if none has."""
    both = [(r.ravel(), p.ravel()) for r, p in pairs if r is not None and p is not None]
    if not both:
        return None
    return np.concatenate([r for r, _ in both]), np.concatenate([p for _, p in both])


def _ref_energy(frame: Frame) -> float:
    return np.nan if frame.energy_eV is None else frame.energy_eV


def _stats_dict(prefix: str, unit: str, errors: np.ndarray, scale: float) -> dict[str, float]:
    stats = error_stats(errors, scale=scale)
    return {f"{prefix}_mae_{unit}": stats.mae, f"{prefix}_rmse_{unit}": stats.rmse, f"{prefix}_max_{unit}": stats.max}
