"""The ``extrapolation`` kind: how well a potential's own uncertainty (adapters/uncertainty.py: an
MTP's extrapolation grade γ, an ensemble's σ_E) flags the structures it gets wrong.

Every structure whose elements the potential supports is scored for its uncertainty; structures
with a reference energy (forces) are also scored for the error, so a dataset without labels (paper
001's D_irregular) gives the uncertainty's distribution alone. Metrics (values NaN where undefined):

- ``uncertainty_median``, ``uncertainty_max``; ``share_above_select`` and ``share_above_break``:
  the share of structures above γ_select and γ_break (paper 002 App. E: 1.001 and 5). For a
  standard deviation the thresholds are in eV/atom and have no default: the task's
  ``*_threshold_eV_per_atom``, else the potential's declared ``UncertaintyInfo.thresholds``, else
  the shares are NaN (with a note), never invented.
- ``spearman_energy_error`` / ``spearman_force_error``: Spearman ρ of the uncertainty and |ΔE| per
  atom / the structure's force RMSE; ``auc_energy_error_above_threshold`` (|ΔE| above
  ``error_threshold_meV_per_atom``) and ``auc_worst_fraction`` (the worst ``worst_fraction`` by |ΔE|):
  ROC AUC of the uncertainty as the flag.
- standard deviations only (``UncertaintyInfo.is_std``): ``miscalibration_area`` and
  ``gaussian_nll`` (nats) of ΔE per atom against σ_E, both in eV/atom.

Groups (the dataset's group label): median uncertainty, share above select, energy RMSE. Curve
``binned_error``: mean |ΔE| in equal-count bins of the uncertainty; a bin's point is carried by the
structure whose uncertainty is nearest the bin's median (the report joins single-point curves).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mlip_bench.adapters.uncertainty import GAMMA_BREAK, GAMMA_SELECT, UncertaintyInfo
from mlip_bench.data.frames import Frame
from mlip_bench.data.registry import registered_datasets
from mlip_bench.engine.evaluate import Prediction, check_physical
from mlip_bench.engine.kinds.base import GroupValues, Outcome, TaskContext, TaskKind
from mlip_bench.engine.parameters import POSITIVE, POSITIVE_INTEGER, STRING, Param, nullable, one_of
from mlip_bench.engine.records import ItemRecord
from mlip_bench.errors import EvaluationError
from mlip_bench.metrics import (
    binned_errors,
    fit_elemental_offsets,
    gaussian_nll,
    miscalibration_area,
    rmse,
    roc_auc,
    share_above,
    spearman_rho,
    worst_fraction_auc,
)

_NO_DEFAULT_STD = "the potential's declared thresholds, else none (the share metrics are NaN)"
CURVE = "binned_error"


@dataclass(frozen=True)
class _Predicted:
    """A structure the potential predicted, with why the prediction is beyond any physical scale
    ("" when it is not)."""

    frame: Frame
    group: str
    pred: Prediction
    unphysical: str


@dataclass(frozen=True)
class _Scored:
    """One structure with its uncertainty; errors NaN where there is no reference."""

    frame: Frame
    group: str
    u: float
    atom_u: np.ndarray | None
    e_err_eV_per_atom: float  # predicted minus reference (raw or offset-aligned), eV/atom
    f_rmse_eV_per_A: float
    unphysical: str


class ExtrapolationKind(TaskKind):
    name = "extrapolation"
    needs_dataset = True
    requires = frozenset({"energy"})
    requires_uncertainty = True
    # an unphysical prediction is exactly what the uncertainty should flag: it is scored, and noted
    counts_unphysical = True
    parameters = (
        Param(
            "group_by",
            None,
            STRING,
            "",
            "info label of the breakdown ('' for none)",
            default_doc="the dataset's registered group label, else 'group' or 'label' when frames have one",
        ),
        Param(
            "select_threshold",
            GAMMA_SELECT,
            POSITIVE,
            "",
            "γ_select: grades above it would join the training set (paper 002 App. E); extrapolation grades only",
        ),
        Param(
            "break_threshold",
            GAMMA_BREAK,
            POSITIVE,
            "",
            "γ_break: above it the prediction is not to be trusted (paper 002 App. E); extrapolation grades only",
        ),
        Param(
            "select_threshold_eV_per_atom",
            None,
            nullable(POSITIVE),
            "eV/atom",
            "select threshold for a standard deviation σ_E",
            default_doc=_NO_DEFAULT_STD,
        ),
        Param(
            "break_threshold_eV_per_atom",
            None,
            nullable(POSITIVE),
            "eV/atom",
            "break threshold for a standard deviation σ_E",
            default_doc=_NO_DEFAULT_STD,
        ),
        Param(
            "error_threshold_meV_per_atom",
            10.0,
            POSITIVE,
            "meV/atom",
            "|ΔE| above this is the large error the uncertainty should flag (auc_energy_error_above_threshold)",
        ),
        Param(
            "worst_fraction",
            0.1,
            {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "",
            "share of structures with the largest |ΔE| the uncertainty should flag (auc_worst_fraction)",
        ),
        Param("n_bins", 10, POSITIVE_INTEGER, "", "equal-count bins of the binned_error curve"),
        Param(
            "energy_error",
            "raw",
            one_of("raw", "aligned"),
            "",
            "ΔE as predicted minus reference, or with per-element offsets removed (as the rmse kind)",
        ),
    )
    produces = frozenset(
        {"n_scored", "n_with_reference", "uncertainty_median", "uncertainty_max"}
        | {"share_above_select", "share_above_break", "spearman_energy_error", "spearman_force_error"}
        | {"auc_energy_error_above_threshold", "auc_worst_fraction", "miscalibration_area", "gaussian_nll"}
        | {"energy_rmse_meV_per_atom"}
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        CURVE: ("uncertainty, median of each equal-count bin (γ, or σ_E in eV/atom)", "mean |ΔE| (meV/atom)")
    }

    def wants_prediction(self, ctx: TaskContext, frame: Frame) -> bool:
        # no reference needed: a structure without labels is scored for its uncertainty alone
        return not ctx.potential.info.unsupported(frame.elements) and not frame.problem(())

    def run(self, ctx: TaskContext) -> Outcome:
        assert ctx.dataset is not None
        info = ctx.potential.info.uncertainty
        if info is None:  # the runner answers not_applicable first; a kind called directly says why
            raise EvaluationError(f"{ctx.potential.info.spec} reports no uncertainty, which {self.name} scores")
        group_by = ctx.parameter("group_by")
        group_by = _default_group(ctx) if group_by is None else str(group_by)
        items, predicted = _collect(ctx, info, group_by)
        scored = _errors(ctx, predicted)
        select, brk, notes = _thresholds(ctx, info)
        values = _values(ctx, info, scored, (select, brk))
        if not info.is_std:
            notes.append(f"{info.label} is a grade, not a standard deviation: calibration and likelihood do not apply")
        notes.insert(
            0, f"uncertainty: {info.measure} {info.label}" + (f", against {info.source}" if info.source else "")
        )
        notes += _data_notes(ctx, scored)
        curve = _curve(scored, int(ctx.parameter("n_bins")))
        items += [_item(s, curve.get(s.frame.id, {})) for s in scored]
        groups = _groups(scored, select) if group_by else ()
        return Outcome(values, tuple(items), groups, tuple(notes), n_scored=len(scored))


def _default_group(ctx: TaskContext) -> str:
    """The registry's group label of the dataset, else "group" or "label" when the first frame has one."""
    entry = registered_datasets().get(ctx.dataset.id if ctx.dataset else "")
    if entry is not None:
        return entry.group_label
    first = ctx.dataset.frames[0].labels if ctx.dataset and ctx.dataset.frames else {}
    return next((key for key in ("group", "label") if key in first), "")


def _collect(ctx: TaskContext, info: UncertaintyInfo, group_by: str) -> tuple[list[ItemRecord], list[_Predicted]]:
    """Records of the structures not scored (invalid, skipped, failed) and the predicted rest. A
    prediction without an uncertainty, from a potential that declares one, fails its structure."""
    assert ctx.dataset is not None
    spec = ctx.potential.info.spec
    items: list[ItemRecord] = []
    predicted: list[_Predicted] = []
    for frame in ctx.dataset.frames:
        group = str(frame.labels.get(group_by, "")) if group_by else ""
        problem = frame.problem(())
        missing = ctx.potential.info.unsupported(frame.elements)
        if problem:
            items.append(ItemRecord(frame.id, "invalid", problem, frame.n_atoms, group))
            continue
        if missing:
            reason = f"elements {sorted(missing)} not supported by {spec}"
            items.append(ItemRecord(frame.id, "skipped", reason, frame.n_atoms, group))
            continue
        where = f"{ctx.dataset.provenance.path or ctx.dataset.id}: structure {frame.id!r} with {spec}"
        try:
            pred = ctx.predict(frame)
            if pred.uncertainty is None:
                declared = f"the potential declares an uncertainty ({info.measure})"
                raise EvaluationError(f"{where}: {declared} but returned none for this structure")
        except EvaluationError as exc:
            items.append(ItemRecord(frame.id, "failed", str(exc), frame.n_atoms, group))
            continue
        try:
            check_physical(pred, frame.atoms, label=where)
            unphysical = ""
        except EvaluationError as exc:
            unphysical = str(exc)
        predicted.append(_Predicted(frame, group, pred, unphysical))
    return items, predicted


def _errors(ctx: TaskContext, predicted: list[_Predicted]) -> list[_Scored]:
    """Energy error per atom (raw or aligned: parameter ``energy_error``; NaN without a reference)
    and force RMSE (NaN without reference or predicted forces) of each structure."""
    assert ctx.dataset is not None
    ref = np.array([np.nan if p.frame.energy_eV is None else p.frame.energy_eV for p in predicted], dtype=float)
    delta = np.array([p.pred.energy_eV for p in predicted], dtype=float) - ref
    per_atom = delta / np.array([max(p.frame.n_atoms, 1) for p in predicted], dtype=float)
    if ctx.parameter("energy_error") == "aligned" and np.isfinite(per_atom).any():
        symbols = sorted(ctx.dataset.elements)
        counts = np.array([[p.frame.atoms.get_chemical_symbols().count(e) for e in symbols] for p in predicted])
        _, per_atom = fit_elemental_offsets(counts, delta)
    out = []
    for p, e_err in zip(predicted, per_atom, strict=True):
        forces, ref_forces = p.pred.forces_eV_per_A, p.frame.forces_eV_per_A
        f_rmse = math.nan
        if forces is not None and ref_forces is not None:
            f_rmse = float(np.sqrt(np.mean((forces - ref_forces) ** 2)))
        u = math.nan if p.pred.uncertainty is None else float(p.pred.uncertainty)  # _collect kept those with one
        out.append(_Scored(p.frame, p.group, u, p.pred.atom_uncertainty, float(e_err), f_rmse, p.unphysical))
    return out


def _thresholds(ctx: TaskContext, info: UncertaintyInfo) -> tuple[float, float, list[str]]:
    """(select, break) in the uncertainty's unit, NaN where none is known, and a note of what was used.

    A grade: the task's ``select_threshold``/``break_threshold`` (default paper 002's). A standard
    deviation: the task's ``*_threshold_eV_per_atom``, else the potential's declared thresholds."""
    if not info.is_std:
        select, brk = float(ctx.parameter("select_threshold")), float(ctx.parameter("break_threshold"))
        return select, brk, [f"thresholds: select {select:g}, break {brk:g} ({info.label})"]
    declared = (*info.thresholds, math.nan, math.nan)
    picked = []
    for i, name in enumerate(("select_threshold_eV_per_atom", "break_threshold_eV_per_atom")):
        value = ctx.parameter(name)
        picked.append(float(value) if value is not None else float(declared[i]))
    notes = (
        [f"thresholds: select {picked[0]:g}, break {picked[1]:g} eV/atom"] if all(map(math.isfinite, picked)) else []
    )
    if not all(map(math.isfinite, picked)):
        notes.append(
            f"{info.label}: no threshold in eV/atom from the task (select_threshold_eV_per_atom, "
            "break_threshold_eV_per_atom) or the potential: share_above_* without one are NaN"
        )
    return picked[0], picked[1], notes


def _values(
    ctx: TaskContext, info: UncertaintyInfo, scored: list[_Scored], thresholds: tuple[float, float]
) -> dict[str, float]:
    u = np.array([s.u for s in scored], dtype=float)
    e_meV = np.array([s.e_err_eV_per_atom for s in scored], dtype=float) * 1000.0
    f_rmse = np.array([s.f_rmse_eV_per_A for s in scored], dtype=float)
    error_threshold = float(ctx.parameter("error_threshold_meV_per_atom"))
    values = {
        "n_scored": float(len(scored)),
        "n_with_reference": float(np.isfinite(e_meV).sum()),
        "uncertainty_median": float(np.median(u)) if u.size else math.nan,
        "uncertainty_max": float(np.max(u)) if u.size else math.nan,
        "share_above_select": share_above(u, thresholds[0]),
        "share_above_break": share_above(u, thresholds[1]),
        "spearman_energy_error": spearman_rho(u, e_meV),
        "spearman_force_error": spearman_rho(u, f_rmse),
        "auc_energy_error_above_threshold": roc_auc(u, e_meV, error_threshold),
        "auc_worst_fraction": worst_fraction_auc(u, e_meV, float(ctx.parameter("worst_fraction"))),
        "energy_rmse_meV_per_atom": rmse(e_meV),
    }
    if info.is_std:  # σ_E against ΔE per atom, both in eV/atom
        values["miscalibration_area"] = miscalibration_area(u, e_meV / 1000.0)
        values["gaussian_nll"] = gaussian_nll(u, e_meV / 1000.0)
    return values


def _data_notes(ctx: TaskContext, scored: list[_Scored]) -> list[str]:
    notes = []
    unlabelled = [s.frame for s in scored if s.frame.energy_eV is None]
    bad = [f for f in unlabelled if f.problem(("energy",))]
    if unlabelled:
        count = f"{len(unlabelled)} of {len(scored)} structures"
        notes.append(f"{count} have no reference energy: their uncertainty is scored, not their error")
    if bad:
        notes.append(f"{len(bad)} reference energies are unusable, the first: {bad[0].problem(('energy',))}")
    unphysical = [s for s in scored if s.unphysical]
    if unphysical:
        notes.append(
            f"{len(unphysical)} predictions are beyond any physical scale and scored as they are (the "
            f"uncertainty should flag them); the first: {unphysical[0].unphysical}"
        )
    if len(unlabelled) < len(scored) and ctx.parameter("energy_error") == "aligned":
        notes.append("ΔE has per-element constant offsets removed (least squares), as the rmse kind's aligned error")
    return notes


def _curve(scored: list[_Scored], n_bins: int) -> dict[str, dict[str, list[float]]]:
    """Curve arrays by frame id: each bin's (median u, mean |ΔE| meV/atom) on the structure nearest
    the bin's median u, one bin per structure."""
    labelled = [s for s in scored if math.isfinite(s.e_err_eV_per_atom)]
    if not labelled:
        return {}
    u = np.array([s.u for s in labelled])
    bins = binned_errors(u, np.array([s.e_err_eV_per_atom for s in labelled]) * 1000.0, n_bins)
    out: dict[str, dict[str, list[float]]] = {}
    free = np.ones(len(labelled), dtype=bool)
    for centre, error in zip(bins.u_median, bins.error_mean, strict=True):
        distance = np.where(free, np.abs(u - centre), np.inf)
        nearest = int(np.argmin(distance))
        free[nearest] = False
        out[labelled[nearest].frame.id] = {f"{CURVE}:x": [float(centre)], f"{CURVE}:y": [float(error)]}
    return out


def _item(s: _Scored, curve: dict[str, list[float]]) -> ItemRecord:
    values = {"uncertainty": s.u}
    if math.isfinite(s.e_err_eV_per_atom):
        values["e_abs_err_meV_per_atom"] = abs(s.e_err_eV_per_atom) * 1000.0
    if math.isfinite(s.f_rmse_eV_per_A):
        values["force_rmse_eV_per_A"] = s.f_rmse_eV_per_A
    if s.unphysical:
        values["unphysical"] = 1.0
    arrays = dict(curve)
    if s.atom_u is not None:
        arrays["atom_uncertainty"] = [float(v) for v in s.atom_u]
    return ItemRecord(s.frame.id, "ok", "", s.frame.n_atoms, s.group, values, arrays)


def _groups(scored: list[_Scored], select: float) -> tuple[GroupValues, ...]:
    """Per group: median uncertainty, share above select, energy RMSE (meV/atom, NaN without references)."""
    by_group: dict[str, list[_Scored]] = defaultdict(list)
    for s in scored:
        by_group[s.group].append(s)
    out = []
    for group, members in sorted(by_group.items()):
        u = np.array([m.u for m in members])
        errors = np.array([m.e_err_eV_per_atom for m in members]) * 1000.0
        values = {
            "uncertainty_median": float(np.median(u)),
            "share_above_select": share_above(u, select),
            "energy_rmse_meV_per_atom": rmse(errors),
        }
        out.append(GroupValues(group, len(members), values))
    return tuple(out)
