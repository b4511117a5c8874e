"""Paper 002's cost-accuracy view (Sec. III.B, Fig. 5): MTPs of several levels fitted to one
labelled set, each one's held-out error against its evaluation cost, and their Pareto front.

:func:`fit_levels` splits the set once (a seeded share held out), fits every level with
:func:`~mlip_bench.training.fit_mtp.fit_mtp` on the same training part and settings, scores it on
the held-out part and times it through the suite's ``mtp:`` adapter (energy and forces). Each
level's folder keeps its fitted ``.mtp`` and a ``result.json`` naming the checksums it was made
from, so a rerun loads finished levels instead of refitting them.

Cost: the paper timed MD on a 432-atom hcp cell; here each held-out structure is repeated to at
least `cost_min_atoms` atoms (a 1-8 atom cell costs mostly the calculator's fixed overhead, about
250 µs per call, which would hide the level), timed `cost_repeats` times after one warm-up call,
and the cost is the sum of the per-structure medians over the sum of their atoms (µs/atom/call).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from mlip_bench.data.extxyz import sha256_of
from mlip_bench.engine.integrity import write_atomic
from mlip_bench.engine.records import from_jsonable, to_jsonable
from mlip_bench.errors import DataError, PotentialError
from mlip_bench.metrics.pareto import pareto_front
from mlip_bench.training.fit_mtp import LEVELS, MtpFitSettings, fit_mtp, training_sha256

RESULT_NAME = "result.json"
MODEL_NAME = "level.mtp"
RESULT_FORMAT = "mlip-bench MTP level point v1"


@dataclass(frozen=True, kw_only=True)
class LevelsSettings:
    """The levels to fit (distinct, each with a shipped basis), the fit settings they share (`fit`;
    its own `level` is ignored), the held-out share of the set and the split's seed, and the cost
    timing (`cost_repeats` timed calls per structure, cells repeated to >= `cost_min_atoms`).
    Raises PotentialError naming the field."""

    levels: tuple[int, ...] = (8, 10, 12, 14, 16, 18, 20)
    fit: MtpFitSettings
    test_share: float = 0.2
    split_seed: int = 0
    cost_repeats: int = 5
    cost_min_atoms: int = 64

    def __post_init__(self) -> None:
        bad = [lv for lv in self.levels if lv not in LEVELS]
        if bad or not self.levels or len(set(self.levels)) != len(self.levels):
            raise PotentialError(f"field 'levels': {list(self.levels)} must be distinct, from {list(LEVELS)}")
        if not 0.0 < self.test_share < 1.0:
            raise PotentialError(f"field 'test_share': {self.test_share!r} must be in (0, 1)")
        if self.split_seed < 0 or self.cost_repeats < 1 or self.cost_min_atoms < 1:
            raise PotentialError(
                f"fields 'split_seed' {self.split_seed!r} (>= 0), 'cost_repeats' {self.cost_repeats!r} (>= 1), "
                f"'cost_min_atoms' {self.cost_min_atoms!r} (>= 1)"
            )


@dataclass(frozen=True, kw_only=True)
class LevelPoint:
    """One fitted level: its coefficient count (species, radial and moment coefficients), errors on
    the held-out and training parts (energy per atom RMSE in meV/atom, also per set of the
    held-out structures, ``info["set"]``, and the median |error|, which one extrapolated structure
    does not dominate; force-component RMSE in eV/Å; `test_failures` structures
    it could not evaluate), fit wall time (s), cost in µs per atom per energy+forces call, and
    whether no other level is both cheaper and more accurate on the held-out energy."""

    level: int
    n_parameters: int
    test_energy_rmse_meV_per_atom: float
    test_force_rmse_eV_per_A: float
    train_energy_rmse_meV_per_atom: float
    train_force_rmse_eV_per_A: float
    fit_seconds: float
    cost_us_per_atom_call: float
    cost_atoms: int = 0
    test_failures: int = 0
    mtp_sha256: str = ""
    test_energy_rmse_by_set_meV_per_atom: dict[str, float] = field(default_factory=dict)
    test_energy_median_abs_meV_per_atom: float = math.nan
    on_front: bool = False


@dataclass(frozen=True)
class _Stored:
    """``result.json``: the point and what it was made from (a mismatch means refit)."""

    point: LevelPoint
    settings: dict[str, Any] = field(default_factory=dict)
    train_sha256: str = ""
    test_sha256: str = ""


def split_set(structures: Sequence[Atoms], *, test_share: float, seed: int) -> tuple[list[Atoms], list[Atoms]]:
    """(train, test): a seeded random `test_share` of `structures` held out (at least one each).
    Raises DataError with fewer than two structures."""
    if len(structures) < 2:
        raise DataError(f"MTP levels: need at least 2 labelled structures to hold some out, got {len(structures)}")
    order = np.random.default_rng([seed, 12]).permutation(len(structures))
    n_test = min(max(1, round(test_share * len(structures))), len(structures) - 1)
    held = set(order[:n_test].tolist())
    train = [a for i, a in enumerate(structures) if i not in held]
    return train, [a for i, a in enumerate(structures) if i in held]


def fit_levels(
    structures: Sequence[Atoms],
    settings: LevelsSettings,
    *,
    workdir: Path,
    say: Callable[[str], None] | None = None,
) -> tuple[LevelPoint, ...]:
    """Fit, score and time each level (see the module doc) in ``workdir/level_NN/``; finished
    levels made from the same split and settings are loaded. Points in `settings.levels` order,
    `on_front` set. Raises what fit_mtp raises (DataError, PotentialError)."""
    say = say or (lambda text: None)
    train, test = split_set(structures, test_share=settings.test_share, seed=settings.split_seed)
    hashes = training_sha256(train), training_sha256(test)
    test = [_with_kind(atoms) for atoms in test]
    points = []
    for level in settings.levels:
        fit_settings = dataclasses.replace(settings.fit, level=level)
        folder = Path(workdir) / f"level_{level:02d}"
        point = _load(folder, fit_settings, *hashes)
        if point is None:
            point = _fit_one(train, test, fit_settings, settings, folder, hashes)
            say(f"  level {level:>2}: fitted in {point.fit_seconds:.0f} s")
        else:
            say(f"  level {level:>2}: loaded from {folder}")
        if not point.test_energy_rmse_by_set_meV_per_atom:  # a result.json from before the field
            by_set = _model_errors(folder / MODEL_NAME, fit_settings.species, test).energy_by_kind_meV_per_atom
            point = dataclasses.replace(point, test_energy_rmse_by_set_meV_per_atom=by_set)
        if not math.isfinite(point.test_energy_median_abs_meV_per_atom):
            median = median_abs_energy_error(folder / MODEL_NAME, fit_settings.species, test)
            point = dataclasses.replace(point, test_energy_median_abs_meV_per_atom=median)
        points.append(point)
    return with_front(points)


def _with_kind(atoms: Atoms) -> Atoms:
    """A copy whose ``info["kind"]`` is its set (model_errors reports the RMSE per kind)."""
    work = atoms.copy()
    work.calc = atoms.calc
    work.info["kind"] = str(atoms.info.get("set") or "all")
    return work


def _model_errors(mtp_path: Path, species: Sequence[str], test: Sequence[Atoms]) -> Any:
    from mlip_bench.training.active_learning import model_errors

    return model_errors(mtp_path, species, test)


def median_abs_energy_error(mtp_path: Path, species: Sequence[str], test: Sequence[Atoms]) -> float:
    """Median over `test` of |E_model - E_ref| per atom (meV/atom); structures the model fails on
    or gives a non-finite energy for are left out (NaN when none is left)."""
    from mlip_bench.adapters.mtp import MTPCalculator
    from mlip_bench.errors import MlipBenchError

    calc = MTPCalculator(mtp_path, species)
    errors = []
    for ref in test:
        work = ref.copy()
        work.calc = calc
        try:
            errors.append(1000.0 * abs(work.get_potential_energy() - ref.get_potential_energy()) / len(ref))
        except MlipBenchError:
            continue
    finite = [e for e in errors if math.isfinite(e)]
    return float(np.median(finite)) if finite else math.nan


def with_front(points: Sequence[LevelPoint]) -> tuple[LevelPoint, ...]:
    """`points` with `on_front` set from (cost, test energy RMSE)."""
    front = pareto_front([(p.cost_us_per_atom_call, p.test_energy_rmse_meV_per_atom) for p in points])
    return tuple(dataclasses.replace(p, on_front=i in front) for i, p in enumerate(points))


def _fit_one(
    train: Sequence[Atoms],
    test: Sequence[Atoms],
    fit_settings: MtpFitSettings,
    settings: LevelsSettings,
    folder: Path,
    hashes: tuple[str, str],
) -> LevelPoint:
    fit = fit_mtp(train, fit_settings, workdir=folder / "fit")
    model = folder / MODEL_NAME
    write_atomic(model, fit.mtp_path.read_bytes())
    errors = _model_errors(model, fit_settings.species, test)
    cost, atoms = measure_cost(
        model, fit_settings.species, test, repeats=settings.cost_repeats, min_atoms=settings.cost_min_atoms
    )
    point = LevelPoint(
        level=fit_settings.level, n_parameters=n_parameters(model),
        test_energy_rmse_meV_per_atom=errors.energy_rmse_meV_per_atom,
        test_force_rmse_eV_per_A=errors.force_rmse_eV_per_A,
        train_energy_rmse_meV_per_atom=fit.energy_rmse_meV_per_atom, train_force_rmse_eV_per_A=fit.force_rmse_eV_per_A,
        fit_seconds=fit.seconds, cost_us_per_atom_call=cost, cost_atoms=atoms, test_failures=errors.failures,
        mtp_sha256=sha256_of(model), test_energy_rmse_by_set_meV_per_atom=errors.energy_by_kind_meV_per_atom,
    )  # fmt: skip
    stored = _Stored(point, to_jsonable(fit_settings), *hashes)
    write_atomic(folder / RESULT_NAME, json.dumps({"format": RESULT_FORMAT, **to_jsonable(stored)}, indent=1).encode())
    return point


def _load(folder: Path, fit_settings: MtpFitSettings, train_sha256: str, test_sha256: str) -> LevelPoint | None:
    """The stored point when ``result.json`` is whole and names these settings, this split and the
    model file as it is; else None (the level is refitted)."""
    try:
        document = json.loads((folder / RESULT_NAME).read_bytes())
        if document.pop("format", None) != RESULT_FORMAT:
            return None
        stored = from_jsonable(_Stored, document)
        same = (stored.settings, stored.train_sha256, stored.test_sha256) == (
            to_jsonable(fit_settings), train_sha256, test_sha256,
        )  # fmt: skip
        if not same or sha256_of(folder / MODEL_NAME) != stored.point.mtp_sha256:
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return stored.point


def n_parameters(mtp_path: Path) -> int:
    """The MTP's fitted coefficients: species, radial and moment coefficients (scaling excluded)."""
    from motep.io.mlip.mtp import read_mtp

    data = read_mtp(Path(mtp_path))
    parts = (data.species_coeffs, data.radial_coeffs, data.moment_coeffs)
    return int(sum(np.asarray(part).size for part in parts if part is not None))


def measure_cost(
    mtp_path: Path, species: Sequence[str], structures: Sequence[Atoms], *, repeats: int = 5, min_atoms: int = 64
) -> tuple[float, int]:
    """(µs per atom per energy+forces call, atoms timed) of the ``mtp:`` potential on `structures`,
    each periodic one repeated to >= `min_atoms` atoms (module doc). Raises DataError for no
    structures."""
    from ase.calculators.calculator import all_changes

    from mlip_bench.adapters.registry import load_potential

    if not structures:
        raise DataError("MTP cost: no structures to time")
    calc = load_potential(f"mtp:{mtp_path};species={','.join(species)}").calculator()
    seconds = atoms_total = 0.0
    for ref in structures:
        atoms = _enlarged(ref, min_atoms)
        calc.calculate(atoms, ["energy", "forces"], all_changes)  # warm-up: neighbour list sized here
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            calc.calculate(atoms, ["energy", "forces"], all_changes)
            times.append(time.perf_counter() - start)
        seconds += float(np.median(times))
        atoms_total += len(atoms)
    return 1e6 * seconds / atoms_total, int(atoms_total)


def _enlarged(ref: Atoms, min_atoms: int) -> Atoms:
    atoms = Atoms(ref.numbers, positions=ref.positions, cell=ref.cell, pbc=ref.pbc)
    if atoms.pbc.all() and len(atoms) < min_atoms:
        k = math.ceil((min_atoms / len(atoms)) ** (1 / 3))
        atoms = atoms.repeat((k, k, k))
    return atoms
