"""Fit a Moment Tensor Potential to reference structures through motep (no fitter of our own).

:func:`fit_mtp` takes structures that carry reference energies (and forces, stresses) on a
SinglePointCalculator, as ``ase.io.read`` of an extxyz file gives, starts from an untrained
level-N basis (MLIP-2's ``untrained_mtps``, shipped in ``mtp_templates/``) or from a previous
``.mtp`` file, and runs motep's loss function and optimizers (paper 002 Sec. II.F weights by
default: energy 1, forces 0.01, stress 0.001). The result is an MLIP-2 ``.mtp`` file (legacy key
format, readable by MLIP-2, LAMMPS and the ``mtp:`` adapter) plus an :class:`MtpFit` summary.

Steps, as motep's own example recipe (examples/0.0_train/motep.toml): ``Level2MTP`` (pair part by
linear least squares), ``LLS`` (moment and species coefficients), ``BFGS`` on all coefficients
(at most ``max_iterations``), a final ``LLS``. A refit from ``initial`` skips the first step.

Under ``mpirun`` (with mpi4py installed) motep splits the structures over the ranks; every rank
calls :func:`fit_mtp`, one writes the files.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_numbers

from mlip_bench.errors import DataError, PotentialError

logger = logging.getLogger(__name__)

LEVELS = tuple(range(2, 25, 2))  #: levels with a shipped untrained basis
FITTED_NAME = "fitted.mtp"
INITIAL_NAME = "initial.mtp"


@dataclass(frozen=True, kw_only=True)
class MtpFitSettings:
    """What to fit. `species` are the elements in MTP type order (type 0, 1, ...); distances in Å;
    weights as motep's loss (energy per atom, forces per atom, stress times volume per atom).
    Raises PotentialError on an unknown level, bad species or inconsistent numbers."""

    level: int = 16
    species: tuple[str, ...]
    cutoff_A: float = 5.0
    min_dist_A: float = 2.0
    radial_basis_size: int = 8
    energy_weight: float = 1.0
    force_weight: float = 0.01
    stress_weight: float = 0.001
    max_iterations: int = 1000
    seed: int = 0
    #: 0: every step on all structures; n > 0: the pair, linear and BFGS steps on n evenly spaced
    #: structures and only the final linear step on all (motep's training mode costs about 60x an
    #: energy call, so a BFGS over thousands of atoms takes hours on one core)
    nonlinear_structures: int = 0

    def __post_init__(self) -> None:
        problem = _settings_problem(self)
        if problem:
            raise PotentialError(f"MTP fit settings: {problem}")


def _settings_problem(s: MtpFitSettings) -> str:
    species = tuple(s.species)
    if s.level not in LEVELS:
        return f"field 'level': {s.level!r} is not one of {', '.join(map(str, LEVELS))}"
    if not species or len(set(species)) != len(species) or any(x not in atomic_numbers or x == "X" for x in species):
        return f"field 'species': {species!r} must be distinct element symbols, at least one"
    if not 0.0 < s.min_dist_A < s.cutoff_A:
        return f"fields 'min_dist_A' {s.min_dist_A!r} and 'cutoff_A' {s.cutoff_A!r}: need 0 < min_dist_A < cutoff_A"
    if s.radial_basis_size < 2:
        return f"field 'radial_basis_size': {s.radial_basis_size!r} must be >= 2"
    weights = {"energy_weight": s.energy_weight, "force_weight": s.force_weight, "stress_weight": s.stress_weight}
    for name, value in weights.items():
        if not (np.isfinite(value) and value >= 0.0):
            return f"field {name!r}: {value!r} must be a finite number >= 0"
    if s.energy_weight == 0.0:
        return "field 'energy_weight': must be > 0 (species coefficients are fitted to energies)"
    if s.max_iterations < 1 or s.seed < 0 or s.nonlinear_structures < 0:
        return (
            f"fields 'max_iterations' {s.max_iterations!r} (>= 1), 'seed' {s.seed!r} (>= 0) and "
            f"'nonlinear_structures' {s.nonlinear_structures!r} (>= 0)"
        )
    return ""


@dataclass(frozen=True, kw_only=True)
class MtpFit:
    """A fitted potential: the ``.mtp`` file, what was asked, the training set's size and
    checksum (:func:`training_sha256`), the training RMSEs (meV/atom, eV/Å; NaN without forces)
    and the fit's wall time in seconds. `spec` is the ``mtp:`` potential spec."""

    mtp_path: Path
    settings: MtpFitSettings
    n_structures: int
    training_sha256: str
    energy_rmse_meV_per_atom: float
    force_rmse_eV_per_A: float
    seconds: float
    motep_version: str = field(default="")

    @property
    def spec(self) -> str:
        return f"mtp:{self.mtp_path};species={','.join(self.settings.species)}"


def training_sha256(structures: Sequence[Atoms]) -> str:
    """sha256 of the structures and their reference values (numbers, cell, pbc, positions, energy,
    forces, stress as float64 bytes, in order): independent of file format and ASE version."""
    digest = hashlib.sha256()
    for atoms in structures:
        ref = _reference(atoms, -1)
        parts = [atoms.numbers.astype(np.int64), atoms.cell.array, atoms.pbc.astype(np.int64), atoms.positions]
        parts += [np.atleast_1d(ref[key]) for key in ("energy", "forces", "stress") if key in ref]
        for part in parts:
            digest.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
        digest.update(b"|")
    return digest.hexdigest()


def _reference(atoms: Atoms, index: int) -> dict[str, Any]:
    """energy (eV), forces (N, 3) eV/Å, stress (6,) eV/Å³ (periodic cells only) of a structure's
    calculator; raises DataError naming structure `index` when the energy is missing or a value
    is not finite."""
    results = getattr(atoms.calc, "results", None) or {}
    if "energy" not in results:
        raise DataError(f"training structure {index} ({atoms.get_chemical_formula()}): no reference energy")
    ref: dict[str, Any] = {"energy": float(results["energy"])}
    if results.get("forces") is not None:
        ref["forces"] = np.asarray(results["forces"], float).reshape(len(atoms), 3)
    if results.get("stress") is not None and atoms.pbc.all():
        ref["stress"] = np.asarray(results["stress"], float).reshape(-1)
    for key, value in ref.items():
        if not np.all(np.isfinite(value)):
            raise DataError(f"training structure {index} ({atoms.get_chemical_formula()}): {key} is not finite")
    return ref


def _training_images(structures: Sequence[Atoms], species: Sequence[str]) -> list[Atoms]:
    """Fresh copies with only energy/forces/stress as targets; raises DataError for an empty set,
    an element outside `species`, or a structure without a reference energy."""
    if not structures:
        raise DataError("MTP fit: no training structures")
    images = []
    for k, atoms in enumerate(structures):
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(species))
        if unknown:
            raise DataError(f"training structure {k}: element(s) {unknown} not in species {list(species)}")
        ref = _reference(atoms, k)
        image = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        image.calc = SinglePointCalculator(image, **ref)
        images.append(image)
    return images


def write_untrained(settings: MtpFitSettings, path: Path) -> Path:
    """Write the untrained level-`settings.level` basis with the settings' species count, cutoff,
    min_dist and radial basis size, in MLIP-2's format; returns `path`."""
    template = files("mlip_bench.training").joinpath("mtp_templates", f"{settings.level:02d}.mtp.gz")
    lines = gzip.decompress(template.read_bytes()).decode().splitlines()
    values = {
        "species_count": str(len(settings.species)),
        "min_dist": repr(float(settings.min_dist_A)),
        "max_dist": repr(float(settings.cutoff_A)),
        "radial_basis_size": str(settings.radial_basis_size),
    }
    out = []
    for line in lines:
        key = line.split("=")[0].strip()
        out.append(line.split("=")[0] + "= " + values[key] if key in values else line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _initial_data(settings: MtpFitSettings, workdir: Path, initial: Path | None) -> Any:
    """motep MTPData to start from: the untrained basis, or `initial` checked against the settings
    (same level, species count, cutoff, min_dist, radial basis size; raises PotentialError)."""
    from motep.io.mlip.mtp import read_mtp
    from motep.parallel import world

    if world.rank == 0:  # under mpirun one rank writes, the others read it after the barrier
        write_untrained(settings, workdir / INITIAL_NAME)
    world.barrier()
    untrained = read_mtp(workdir / INITIAL_NAME)
    if initial is None:
        return untrained
    try:
        data = read_mtp(Path(initial))
    except (OSError, ValueError, KeyError, TypeError, IndexError, StopIteration) as exc:
        raise PotentialError(f"{initial}: motep cannot read this MTP file: {type(exc).__name__}: {exc}") from exc
    rb = data.radial_basis
    found = (data.alpha_moments_count, data.species_count, float(rb.max), float(rb.min), int(rb.size))
    wanted = (
        untrained.alpha_moments_count,
        len(settings.species),
        settings.cutoff_A,
        settings.min_dist_A,
        settings.radial_basis_size,
    )
    names = ("basis size (level)", "species_count", "max_dist", "min_dist", "radial_basis_size")
    for name, got, want in zip(names, found, wanted, strict=True):
        if not np.isclose(got, want):
            raise PotentialError(f"{initial}: {name} is {got}, the fit settings ask for {want}")
    return data


def _steps(settings: MtpFitSettings, *, fresh: bool) -> list[dict[str, Any]]:
    lls = {"method": "LLS", "optimized": ["species_coeffs", "moment_coeffs"]}
    bfgs = {
        "method": "minimize",
        "optimized": ["species_coeffs", "radial_coeffs", "moment_coeffs"],
        "kwargs": {"method": "BFGS", "jac": True, "options": {"maxiter": settings.max_iterations}},
    }
    pair = {"method": "Level2MTP", "optimized": ["species_coeffs", "radial_coeffs"]}
    return ([pair] if fresh else []) + [lls, bfgs, dict(lls)]


def fit_mtp(
    structures: Sequence[Atoms], settings: MtpFitSettings, *, workdir: Path, initial: Path | None = None
) -> MtpFit:
    """Fit `settings.level`'s MTP to `structures` (or refit from `initial`, an ``.mtp`` with the same
    basis) with motep; writes ``workdir/initial.mtp`` and ``workdir/fitted.mtp``. Deterministic for
    a given seed. Raises DataError for unusable structures, PotentialError for bad settings, a
    mismatched `initial` or a fit that ends with non-finite coefficients."""
    from motep.io.mlip.mtp import write_mtp
    from motep.loss import ErrorPrinter, LossFunction, LossSetting
    from motep.optimizers import make_optimizer
    from motep.parallel import world

    start = time.perf_counter()
    images = _training_images(structures, settings.species)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    data = _initial_data(settings, workdir, initial)
    data.species = [atomic_numbers[s] for s in settings.species]
    data.initialize(np.random.default_rng(settings.seed))
    loss_setting = LossSetting(
        energy_weight=settings.energy_weight, forces_weight=settings.force_weight, stress_weight=settings.stress_weight
    )
    logging.getLogger("motep.potentials.mtp.base").setLevel(logging.ERROR)  # one warning per close pair
    loss = LossFunction(images, data, loss_setting, engine="cext")
    first = loss
    if 0 < settings.nonlinear_structures < len(images):
        chosen = np.unique(np.linspace(0, len(images) - 1, settings.nonlinear_structures).round().astype(int))
        first = LossFunction([images[k] for k in chosen], data, loss_setting, engine="cext")
    *early, last = _steps(settings, fresh=initial is None)
    for step in early:
        logger.info("MTP fit %s: step %s on %d structures", workdir, step["method"], len(first.images))
        make_optimizer(step["method"])(first, **step).optimize(**step.get("kwargs", {}))
    # the last step is LLS, whose closing call evaluates every structure at the final parameters
    logger.info("MTP fit %s: final LLS on %d structures", workdir, len(images))
    make_optimizer(last["method"])(loss, **last).optimize()
    loss.broadcast_results()  # under mpirun each rank evaluated its share of the structures
    if not np.all(np.isfinite(data.parameters)):
        raise PotentialError(f"MTP fit in {workdir}: the optimizer ended with non-finite coefficients")
    errors = ErrorPrinter(loss.images).calculate()
    path = workdir / FITTED_NAME
    if world.rank == 0:
        write_mtp(path, data, legacy=True)  # MLIP-2's key names: MLIP-2 and LAMMPS read it
    world.barrier()
    return MtpFit(
        mtp_path=path,
        settings=settings,
        n_structures=len(images),
        training_sha256=training_sha256(images),
        energy_rmse_meV_per_atom=1000.0 * float(errors["energy_per_atom"]["RMS"]),
        force_rmse_eV_per_A=float(errors["forces"]["RMS"]),
        seconds=time.perf_counter() - start,
        motep_version=_motep_version(),
    )


def _motep_version() -> str:
    from importlib.metadata import version

    return version("motep")
