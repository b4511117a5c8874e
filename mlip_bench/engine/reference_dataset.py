"""The dataset half of the reference role: a calculator labels structures, and they are written as
a dataset the suite's loaders read (``mlip-bench reference --out FILE.extxyz|.parquet``).

The structures are either a dataset task's (``--task``: the dataset of an rmse-like task, relabelled)
or any ASE-readable file (``--structures``: a generator's output, an oracle's extxyz); exactly one.
Labelling runs through the engine (engine/labelling.py): cached in the result store, resumable per
chunk and parallel on any executor. Each frame written keeps its id and labels and carries energy
(eV, total), forces (eV/Å) and, where the calculator gives one, stress (eV/Å³, Voigt, tensile
positive), plus the labels ``reference_spec`` (the calculator) and ``provenance_sha256`` (the sha256
of the sidecar ``<out>.provenance.yaml``). The sidecar holds the provenance block of the curve
writer (engine/reference_provenance.py) with the source structures' path, checksum and count, the
structures left out (id and reason) and a checksum of the labels' numbers. A structure the calculator
fails on is never written: its failure stops the command unless partial results are allowed.
Parquet keeps the numbers bit for bit; extended XYZ writes per-atom columns (positions, forces) with
8 decimals (ASE's format).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mlip_bench.adapters.registry import Potential
from mlip_bench.data.extxyz import sha256_of, write_extxyz
from mlip_bench.data.frames import Dataset, Frame, make_frame
from mlip_bench.data.hf import write_hf
from mlip_bench.data.registry import load_file
from mlip_bench.engine.environment import capture_environment
from mlip_bench.engine.evaluate import Prediction
from mlip_bench.engine.executors import Executor
from mlip_bench.engine.identity import resolve
from mlip_bench.engine.labelling import Labels, label_frames
from mlip_bench.engine.reference import is_dataset_path
from mlip_bench.engine.reference_provenance import base_provenance, input_checksums
from mlip_bench.engine.reference_sources import source_structures
from mlip_bench.engine.runner import RunOptions
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.errors import ChecksumError, DataError, EvaluationError, MlipBenchError

#: labels this module writes into every frame (a source frame's own values of them are replaced)
SPEC_LABEL = "reference_spec"
PROVENANCE_LABEL = "provenance_sha256"
_UNITS = {"energy": "eV (total)", "forces": "eV/Å", "stress": "eV/Å³, Voigt xx yy zz yz xz xy, tensile positive"}


@dataclass(frozen=True)
class ReferenceDataset:
    """What :func:`make_reference_dataset` wrote: the dataset file and its sidecar, the frames as
    written, the structures left out (id, reason), how many were computed now or found stored, and
    the provenance mapping of the sidecar."""

    out_path: Path
    provenance_path: Path
    frames: tuple[Frame, ...]
    failed: tuple[tuple[str, str], ...]
    computed: int
    reused: int
    provenance: dict[str, Any]


def provenance_path(out_path: str | Path) -> Path:
    """The sidecar of a reference dataset: ``<out>.provenance.yaml``."""
    out = Path(out_path)
    return out.with_name(out.name + ".provenance.yaml")


def labelled_frame(frame: Frame, pred: Prediction, *, source: str, index: int) -> Frame:
    """`frame`'s structure, id and labels with `pred`'s energy, forces and stress: nothing of the
    frame's own reference labels is kept (`source` and `index` name it in messages)."""
    atoms = frame.atoms.copy()
    atoms.info = {}
    for name in ("forces", "energies", "stresses"):  # per-atom results of another calculation
        atoms.arrays.pop(name, None)
    return make_frame(
        source=source,
        index=index,
        frame_id=frame.id,
        atoms=atoms,
        energy=pred.energy_eV,
        forces=pred.forces_eV_per_A,
        stress=pred.stress_eV_per_A3,
        labels={k: v for k, v in frame.labels.items() if k not in (SPEC_LABEL, PROVENANCE_LABEL)},
    )


def labels_sha256(frames: tuple[Frame, ...] | list[Frame]) -> str:
    """sha256 of the JSON of each frame's [id, energy, forces, stress] in order (the numbers as
    computed: parquet reproduces it, extxyz's rounded per-atom columns do not)."""
    rows = [
        [
            f.id,
            f.energy_eV,
            None if f.forces_eV_per_A is None else np.asarray(f.forces_eV_per_A).ravel().tolist(),
            None if f.stress_eV_per_A3 is None else np.asarray(f.stress_eV_per_A3).tolist(),
        ]
        for f in frames
    ]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _source_block(dataset: Dataset, task: TaskSpec | None) -> dict[str, Any]:
    path = Path(dataset.provenance.path) if dataset.provenance.path else None
    checksum = sha256_of(path) if path is not None and path.is_file() else dataset.provenance.sha256
    block = {"file": str(path or dataset.provenance.source), "sha256": checksum, "count": len(dataset)}
    return block | ({"dataset": dataset.id, "task": task.id} if task is not None else {})


def _provenance(
    potential: Potential,
    source: tuple[Dataset, TaskSpec | None],
    labels: Labels,
    frames: tuple[Frame, ...],
    where: tuple[Path, str | Path],
    unlabelled: tuple[tuple[str, str], ...],
) -> dict[str, Any]:
    """The sidecar's mapping: the curve writer's block with the source structures (`source`: the
    dataset and its task), the labels written to `where[0]` and the work stored in `where[1]`."""
    (dataset, task), (out, results_dir) = source, where
    prov = base_provenance(potential.info, capture_environment(), task)
    environment = prov.pop("environment")
    stress = ["stress"] if any(f.stress_eV_per_A3 is not None for f in frames) else []
    return prov | {
        "structures": _source_block(dataset, task),
        "labels": {
            "file": out.name,
            "count": len(frames),
            "properties": ["energy", "forces", *stress],
            "units": _UNITS,
            "labels_sha256": labels_sha256(frames),
            "failed": [{"id": i, "reason": r} for i, r in unlabelled],
        },
        "work": {
            "results_dir": str(results_dir),
            "predictions_key": labels.potential_key,
            "computed": labels.computed,
            "reused": labels.reused,
            "calculator_s": round(labels.calculator_s, 3),
        },
        "inputs": input_checksums(potential, dataset.elements),
        "environment": environment,
    }


def _sidecar_text(prov: dict[str, Any]) -> str:
    header = (
        "# Provenance of a reference dataset written by `mlip-bench reference` (engine/reference_dataset.py);\n"
        "# each frame's provenance_sha256 is the sha256 of this file: regenerate, do not edit.\n"
    )
    return header + yaml.safe_dump(prov, sort_keys=False, allow_unicode=True, width=120)


def _write(frames: tuple[Frame, ...], out: Path, sidecar: Path, text: str) -> None:
    """The dataset and its sidecar, each atomically (temporary files renamed); the dataset is
    written first to a temporary file, so a frame that cannot be written leaves nothing behind."""
    tmp = out.with_name(f".tmp-{os.getpid()}-{out.name}")  # keeps the suffix: it picks the format
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if out.name.lower().endswith(".parquet"):
            write_hf(frames, tmp)
        else:
            write_extxyz(frames, tmp)
        side_tmp = sidecar.with_name(f".tmp-{os.getpid()}-{sidecar.name}")
        side_tmp.write_text(text)
        os.replace(side_tmp, sidecar)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _check_failures(labels: Labels, dataset: Dataset, who: str, allow_partial: bool) -> None:
    if not labels.failures:
        return
    first_id, first = next(iter(labels.failures.items()))
    what = f"{who}: {len(labels.failures)} of {len(dataset)} structure(s) not labelled (first {first_id!r}: {first})"
    if not labels.predictions:
        raise EvaluationError(f"{what}; nothing to write")
    if not allow_partial:
        raise EvaluationError(f"{what}; nothing written: fix them or pass allow_partial=True (--allow-partial)")


def make_reference_dataset(
    potential_spec: str,
    *,
    out_path: str | Path,
    results_dir: str | Path,
    task: str | None = None,
    structures: str | Path | None = None,
    executor: Executor | None = None,
    options: RunOptions | None = None,
    data_root: str | None = None,
    force: bool = False,
    overwrite: bool = False,
    allow_partial: bool = False,
    progress: bool = False,
) -> ReferenceDataset:
    """Label the structures of dataset task `task` or of file `structures` (exactly one) with
    `potential_spec`, storing the work in `results_dir`, and write them to `out_path` (extxyz,
    ``.gz`` allowed, or parquet) with the sidecar :func:`provenance_path`.

    Raises TaskSpecError (not exactly one source, a task without a dataset), DataError (`out_path`
    not a dataset name, it or its sidecar exists and `overwrite` is False, unreadable structures, a
    label extxyz cannot hold), PotentialError (spec), EvaluationError (no forces from the calculator;
    a structure not labelled and `allow_partial` False; none labelled).
    """
    out, sidecar = Path(out_path), provenance_path(out_path)
    if not is_dataset_path(out):
        raise DataError(f"--out {out}: a reference dataset is written as .extxyz[.gz], .xyz[.gz] or .parquet")
    for path in (out, sidecar):
        if path.exists() and not overwrite:
            raise DataError(f"{path}: exists; pass overwrite=True (--overwrite) to replace it")
    dataset, spec = source_structures(task, structures, data_root)
    potential = resolve(potential_spec, data_root)
    if isinstance(potential, Exception):
        raise potential if isinstance(potential, MlipBenchError) else EvaluationError(f"{potential_spec}: {potential}")
    if "forces" not in potential.info.provides:
        raise EvaluationError(f"{potential.info.spec} computes no forces: a reference dataset needs them")
    source = dataset.provenance.path or dataset.id
    labels = label_frames(
        potential, potential_spec, dataset.frames, source=source, results_dir=results_dir, executor=executor,
        options=options, data_root=data_root, force=force, progress=progress,
    )  # fmt: skip
    _check_failures(labels, dataset, f"{potential.info.spec} on {source}", allow_partial)
    ok = [f for f in dataset.frames if f.id in labels.predictions]
    unlabelled = tuple((f.id, labels.failures[f.id]) for f in dataset.frames if f.id in labels.failures)
    draft = tuple(labelled_frame(f, labels.predictions[f.id], source=str(out), index=i) for i, f in enumerate(ok))
    prov = _provenance(potential, (dataset, spec), labels, draft, (out, results_dir), unlabelled)
    text = _sidecar_text(prov)
    mark = {SPEC_LABEL: potential.info.spec, PROVENANCE_LABEL: hashlib.sha256(text.encode()).hexdigest()}
    frames = tuple(replace(f, labels={**f.labels, **mark}) for f in draft)
    _write(frames, out, sidecar, text)
    return ReferenceDataset(out, sidecar, frames, unlabelled, labels.computed, labels.reused, prov)


def read_reference_dataset(path: str | Path) -> tuple[Dataset, dict[str, Any]]:
    """A reference dataset and its sidecar's provenance, checked: every frame's
    ``provenance_sha256`` must be the sidecar's sha256. Raises DataError (file or sidecar
    unreadable), ChecksumError naming the file and the first frame that does not match."""
    dataset = load_file(path)
    sidecar = provenance_path(path)
    try:
        raw = sidecar.read_bytes()
        prov = yaml.safe_load(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{sidecar}: cannot read the provenance of {path}: {exc}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    for frame in dataset.frames:
        if frame.labels.get(PROVENANCE_LABEL) != digest:
            raise ChecksumError(
                f"{path}: frame {frame.id!r}: {PROVENANCE_LABEL} {frame.labels.get(PROVENANCE_LABEL)!r} is not the "
                f"sha256 of {sidecar.name} ({digest}): the file or its provenance was replaced or edited"
            )
    return dataset, prov
