"""What the alloy kinds of paper 001 share: one energy per structure (reference and predicted, per
atom), its phase label, lattice and composition, and an item record per structure so that every
number of a task can be traced to the structures behind it.

A phase label is ``<lattice>-<composition>`` (``-org`` for the known ICSD phase, whose composition
is read from the structure). Hypothetical phases sit near their nominal composition (paper 001's
"Fd3m-Li2Al3" cells are Li29Al43): phases are compared at the nominal composition, as the paper
does, while the convex hull uses each structure's exact composition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from pymatgen.core import Composition
from tqdm import tqdm

from mlip_bench.data.frames import Frame
from mlip_bench.engine.kinds.base import TaskContext
from mlip_bench.engine.parameters import STRING, Param
from mlip_bench.engine.records import ItemRecord
from mlip_bench.errors import EvaluationError

KNOWN_SUFFIX = "-org"
#: the parameters every kind that scores a dataset's structures by phase reads
GROUP_BY = Param("group_by", "label", STRING, "", "info label naming each structure's phase")
KNOWN = Param("known_suffix", KNOWN_SUFFIX, STRING, "", "label suffix of known (ICSD) phases")


@dataclass(frozen=True)
class Scored:
    """One structure with both energies in eV/atom (reference NaN when the task needs none)."""

    frame: Frame
    group: str
    e_ref: float
    e_pred: float

    @cached_property  # parsed once: the hull and ground-phase kinds group thousands of structures by it
    def formula(self) -> str:
        return Composition(self.frame.atoms.get_chemical_formula()).reduced_formula

    def fraction(self, element: str) -> float:
        symbols = self.frame.atoms.get_chemical_symbols()
        return symbols.count(element) / len(symbols)

    @property
    def lattice(self) -> str:
        return lattice_of(self.group)

    @property
    def nominal(self) -> str:
        """The phase's nominal composition: the label's suffix ("Fd3m-Li2Al3" -> "Li2Al3", a cell of
        Li29Al43 in the data), or the structure's reduced formula for a known phase ("-org")."""
        suffix = self.group.rsplit("-", 1)[-1] if "-" in self.group else ""
        return self.formula if not suffix or suffix == KNOWN_SUFFIX.lstrip("-") else suffix


def lattice_of(label: str) -> str:
    """ "C2/m:b1-Li5Al3" -> "C2/m:b1"; "R3m-org" -> "R3m"; a label without "-" is its own lattice."""
    return label.rsplit("-", 1)[0] if "-" in label else label


def is_known(label: str, suffix: str = KNOWN_SUFFIX) -> bool:
    return label.endswith(suffix)


def group_label(ctx: TaskContext) -> str:
    """The info label that names each structure's phase (task parameter ``group_by``, default "label")."""
    return str(ctx.parameter("group_by"))


def score_frames(
    ctx: TaskContext, *, need_reference: bool = True, select: Callable[[Frame], bool] | None = None
) -> tuple[list[Scored], list[ItemRecord]]:
    """Predict every selected structure of the task's dataset (cached across tasks).

    Returns the scored structures and one item record per structure (ok, failed, skipped for an
    element the potential lacks, invalid for a missing or malformed reference energy or an unusable
    structure). Never raises for a structure.
    """
    assert ctx.dataset is not None
    key = group_label(ctx)
    frames = [f for f in ctx.dataset.frames if select is None or select(f)]
    scored: list[Scored] = []
    items: list[ItemRecord] = []
    bar = tqdm(frames, desc=f"{ctx.task.id} | {ctx.potential.info.spec}", disable=not ctx.progress, leave=False)
    if need_reference:  # wrong units in the reference file: a warning in the record, nothing converted
        ctx.notes.extend(w for w in ctx.dataset.unit_warnings if w not in ctx.notes)
    for frame in bar:
        group = str(frame.labels.get(key, ""))
        problem = frame.problem(("energy",) if need_reference else ())
        if problem:
            items.append(ItemRecord(frame.id, "invalid", problem, frame.n_atoms, group))
            continue
        missing = ctx.potential.info.unsupported(frame.elements)
        if missing:
            reason = f"elements {sorted(missing)} not supported by {ctx.potential.info.spec}"
            items.append(ItemRecord(frame.id, "skipped", reason, frame.n_atoms, group))
            continue
        if need_reference and frame.energy_eV is None:
            reason = f"{ctx.dataset.provenance.path}: structure {frame.id!r} has no reference energy"
            items.append(ItemRecord(frame.id, "invalid", reason, frame.n_atoms, group))
            continue
        try:
            pred = ctx.predict(frame)
        except EvaluationError as exc:
            items.append(ItemRecord(frame.id, "failed", str(exc), frame.n_atoms, group))
            continue
        n = frame.n_atoms
        e_ref = frame.energy_eV / n if frame.energy_eV is not None else float("nan")
        s = Scored(frame, group, e_ref, pred.energy_eV / n)
        scored.append(s)
        values = {"e_pred_eV_per_atom": s.e_pred}
        if need_reference:
            values |= {"e_ref_eV_per_atom": s.e_ref, "e_err_meV_per_atom": (s.e_pred - s.e_ref) * 1000}
        items.append(ItemRecord(frame.id, "ok", "", n, group, values))
    return scored, items


def by(scored: Iterable[Scored], key: Callable[[Scored], str]) -> dict[str, list[Scored]]:
    """Scored structures grouped by `key`, groups in sorted order."""
    out: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        out[key(s)].append(s)
    return dict(sorted(out.items()))


def energies(members: list[Scored]) -> tuple[np.ndarray, np.ndarray]:
    """(reference, predicted) energies per atom, eV/atom, shape (n,)."""
    return np.array([m.e_ref for m in members]), np.array([m.e_pred for m in members])


def lowest(members: list[Scored], *, predicted: bool) -> Scored:
    """The lowest-energy configuration by the predicted or the reference energy."""
    return min(members, key=lambda m: m.e_pred if predicted else m.e_ref)
