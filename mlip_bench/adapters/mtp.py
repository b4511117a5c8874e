"""Moment Tensor Potentials (MLIP-2 ``.mtp`` files) through motep's C-extension engine.

Spec: ``mtp:FILE.mtp`` or ``mtp:FILE.mtp;species=Li,Al`` (a relative FILE not found in the working
directory is looked up under the data root, e.g. ``mtp:li_al/mtp/MTP_train.mtp``). MLIP-2 files number their species
0, 1, ... without naming them; ``species`` maps those type indices to elements, in order. The
default, ``Li,Al``, is the mapping of the Li-Al MTPs of paper 001 (types in increasing atomic
number); any file with another number of species must name its species. A wrong mapping does
not fail loudly (the potential just evaluates the wrong chemistry: about 1.3 eV/atom errors on
the Li-Al validation set), which is why the energy RMSE on a known set is the check.

With ``;training=NAME`` (a registered dataset id such as ``li-al-train``, or a dataset file) the
potential also reports its MaxVol extrapolation grade γ against the active set of that training set
(paper 002 App. E; adapters/active_set.py): ``results["uncertainty"]`` is the largest atomic γ,
``results["uncertainties"]`` the per-atom γ. The active set is built at the first calculator (about
a minute or more for the paper-001 sets) and then reused (per process, and per run store).

motep sizes its neighbour list for the first structure it sees; :class:`MTPCalculator` resets it
whenever the number of atoms changes, so one calculator serves structures of any size.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers

from mlip_bench.adapters.active_set import ActiveSet, ActiveSetKey, active_set, build
from mlip_bench.adapters.base import Adapter, PotentialInfo, file_version, package_version
from mlip_bench.adapters.mtp_file import check_mtp_file
from mlip_bench.adapters.uncertainty import ATOM_KEY, STRUCTURE_KEY, grade_info
from mlip_bench.data.extxyz import sha256_of
from mlip_bench.data.registry import fingerprint, load_dataset, registered_datasets
from mlip_bench.errors import DataError, PotentialError
from mlip_bench.paths import resolve_input_file

DEFAULT_SPECIES = ("Li", "Al")
_CITATION = (
    "A. V. Shapeev, Multiscale Model. Simul. 14 (2016) 1153 (MTP); I. S. Novikov et al., Mach. Learn.: "
    "Sci. Technol. 2 (2021) 025002 (MLIP-2); motep (github.com/imw-md/motep)"
)


@dataclass(frozen=True)
class MTPSpec:
    """A parsed ``mtp:`` argument: the file, the species mapping (None: the default) and the
    training set the extrapolation grade is computed against (None: no grade)."""

    path: Path
    species: tuple[str, ...] | None = None
    training: str | None = None


def parse_spec(arg: str) -> MTPSpec:
    """The parts of ``FILE[;species=A,B][;training=NAME]``; raises PotentialError naming the spec
    and the field on an unknown option, bad species, an unknown training set or a missing file."""
    path_text, *options = [part.strip() for part in arg.split(";")]
    species: tuple[str, ...] | None = None
    training: str | None = None
    for option in options:
        key, _, value = (text.strip() for text in option.partition("="))
        if key == "species" and value:
            species = _parse_species(arg, value)
        elif key == "training" and value:
            training = _parse_training(arg, value)
        else:
            raise PotentialError(f"mtp:{arg}: unknown option {option!r} (known: species=A,B,... and training=DATASET)")
    path = resolve_input_file(path_text)
    if not path.is_file():
        raise PotentialError(f"mtp:{arg}: MTP file {path} not found (relative paths are tried under the data root)")
    return MTPSpec(path, species, training)


def _parse_species(arg: str, value: str) -> tuple[str, ...]:
    species = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in species if s not in atomic_numbers or s == "X"]
    if unknown or len(set(species)) != len(species):
        what = f"unknown element symbol(s) {unknown}" if unknown else "a repeated symbol"
        raise PotentialError(f"mtp:{arg}: species must be distinct element symbols, got {value!r} ({what})")
    return species


def _parse_training(arg: str, value: str) -> str:
    """A registered dataset id as given, or a dataset file's resolved path."""
    if value in registered_datasets():
        return value
    path = resolve_input_file(value)
    if path.is_file():
        return str(path)
    raise PotentialError(
        f"mtp:{arg}: field 'training': {value!r} is neither a registered dataset "
        f"({', '.join(sorted(registered_datasets()))}) nor a dataset file"
    )


def _species_count(path: Path) -> int:
    return check_mtp_file(path)  # the whole file is checked, so motep never parses a damaged one


def read_mtp_file(path: Path) -> Any:
    """motep's MTPData for a checked file; a parser failure is a PotentialError naming the file."""
    check_mtp_file(path)
    from motep.io.mlip.mtp import read_mtp

    try:
        return read_mtp(path)
    except (ValueError, KeyError, TypeError, IndexError, StopIteration) as exc:
        raise PotentialError(f"{path}: motep cannot parse this MTP file: {type(exc).__name__}: {exc}") from exc


def resolve_species(path: Path, species: tuple[str, ...] | None) -> tuple[str, ...]:
    """The element of each MTP type index; checks the count against the file."""
    count = _species_count(path)
    chosen = species if species is not None else DEFAULT_SPECIES
    if len(chosen) != count:
        hint = "" if species is not None else f" (the default is {','.join(DEFAULT_SPECIES)})"
        raise PotentialError(
            f"{path}: the file has species_count = {count} but the mapping names {len(chosen)} species{hint}; "
            f"name them in type order: mtp:{path};species=A,B,..."
        )
    return chosen


class MTPCalculator(Calculator):  # type: ignore[misc]
    """motep's MTP calculator with a neighbour list that follows the structure size.

    motep logs a warning for every structure with a pair closer than the potential's min_dist
    (thousands on far-from-equilibrium sets); those are silenced (the extrapolation grade is the
    quantitative signal for such structures).

    After a calculation, :meth:`basis_values` gives the per-atom moment-basis values (the B_j of
    Podryabinkin & Shapeev 2017, shape (n_atoms, n_basis)) used by the MaxVol extrapolation grade.
    With an `active_set`, every calculation also sets ``results["uncertainties"]`` (per-atom γ, shape
    (n_atoms,)) and ``results["uncertainty"]`` (the largest, a float); see adapters/active_set.py.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]  # noqa: RUF012 (ASE's API)

    def __init__(
        self, path: Path, species: Sequence[str], *, engine: str = "cext", active_set: ActiveSet | None = None
    ) -> None:
        super().__init__()
        from motep.calculator import make_calculator

        self.mtp_data = read_mtp_file(path)
        self.mtp_data.species = [atomic_numbers[s] for s in species]
        self.inner = make_calculator(self.mtp_data, engine=engine)
        self.active_set = active_set
        self._n_atoms = -1
        logging.getLogger("motep.potentials.mtp.base").setLevel(logging.ERROR)

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        if len(self.atoms) != self._n_atoms:
            self.inner.engine.neighbor_list = None  # motep sized it for the previous structure
            self._n_atoms = len(self.atoms)
        work = self.atoms.copy()
        try:
            self.inner.calculate(work, properties, all_changes)
        except ValueError as exc:  # motep's species check
            raise PotentialError(f"MTP cannot evaluate {work.get_chemical_formula()}: {exc}") from exc
        self.results = {key: np.copy(value) for key, value in self.inner.results.items()}
        if "stress" not in self.results and self.atoms.pbc.all():
            raise PotentialError("motep returned no stress for a periodic cell")
        if self.active_set is not None:
            grades = self.active_set.grades(self.basis_values())
            self.results[ATOM_KEY] = grades
            self.results[STRUCTURE_KEY] = float(grades.max(initial=0.0))

    def basis_values(self) -> np.ndarray:
        """Per-atom moment-basis values of the last structure, shape (n_atoms, n_basis)."""
        return np.asarray(self.inner.engine.mbd.vatoms).T.copy()


def training_basis(calc: MTPCalculator, images: Sequence[Atoms]) -> np.ndarray:
    """The neighbourhood matrix: per-atom basis values of every atom of `images`, stacked in order,
    shape (total atoms, n_basis); filled in place, so memory is the matrix alone."""
    n_basis = int(calc.mtp_data.alpha_scalar_moments)
    matrix = np.empty((sum(len(atoms) for atoms in images), n_basis))
    row = 0
    for atoms in images:
        work = atoms.copy()
        work.calc = calc
        work.get_potential_energy()
        matrix[row : row + len(work)] = calc.basis_values()
        row += len(work)
    return matrix


def training_active_set(path: Path, species: Sequence[str], training: str, *, seed: int = 0) -> ActiveSet:
    """The active set of MTP `path` on dataset `training` (registered id or file), once per process
    and run (see adapters/active_set.py). Raises PotentialError, DataError when the set cannot load."""
    key = ActiveSetKey(sha256_of(path), tuple(species), fingerprint(training), seed)

    def matrix() -> np.ndarray:
        frames = load_dataset(training).frames
        return training_basis(MTPCalculator(path, species), [frame.atoms for frame in frames])

    return active_set(key, matrix)


class MTPAdapter(Adapter):
    name = "mtp"
    summary = (
        "Moment Tensor Potential, MLIP-2 .mtp file (motep engine); options ;species=A,B in type order, "
        ";training=DATASET for the MaxVol extrapolation grade"
    )
    example = "mtp:MTP_train.mtp;species=Li,Al;training=li-al-train"
    requires = ("motep",)
    extra = "mtp"

    def describe(self, arg: str) -> PotentialInfo:
        spec = parse_spec(arg)
        chosen = resolve_species(spec.path, spec.species)
        version = f"motep {package_version('motep')}; {file_version(spec.path)}"
        options = {"species": ",".join(chosen), "file": str(spec.path)}
        uncertainty = None
        if spec.training is not None:
            source = f"{spec.training} sha256 {_digest16(fingerprint(spec.training))}"
            version += f"; active set of {source}"
            options["training"] = spec.training
            uncertainty = grade_info(source=source)
        return PotentialInfo(
            spec=f"mtp:{arg}",
            name=f"MTP {spec.path.stem}",
            family=self.name,
            version=version,
            elements=frozenset(chosen),
            citation=_CITATION,
            license="per the potential file's authors",
            reference_method="as fitted (see the potential's paper)",
            options=options,
            uncertainty=uncertainty,
        )

    def make_calculator(self, arg: str) -> MTPCalculator:
        self.require()
        spec = parse_spec(arg)
        species = resolve_species(spec.path, spec.species)
        found = None
        if spec.training is not None:
            try:
                found = training_active_set(spec.path, species, spec.training)
            except DataError as exc:
                raise PotentialError(f"mtp:{arg}: field 'training': {exc}") from exc
        return MTPCalculator(spec.path, species, active_set=found)


def _digest16(fingerprint_text: str) -> str:
    """16 hex of a dataset fingerprint (a sha256 itself, or hashed when composite)."""
    if len(fingerprint_text) == 64 and all(ch in "0123456789abcdef" for ch in fingerprint_text):
        return fingerprint_text[:16]
    return hashlib.sha256(fingerprint_text.encode()).hexdigest()[:16]


def extrapolation_grades(
    mtp_file: str | Path,
    training: Sequence[Atoms],
    images: Sequence[Atoms],
    *,
    species: Sequence[str] = DEFAULT_SPECIES,
    per_atom: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """MaxVol extrapolation grade γ of each image (Podryabinkin & Shapeev, Comput. Mater. Sci. 140
    (2017) 171) against the active set selected from `training`, over the linear (moment)
    coefficients, as motep's grader. γ <= 1: interpolation; γ > 1: extrapolation. Not memoized.

    per_atom (default): neighbourhood mode, rows are atoms and an image's grade is its largest
    atomic grade; it needs at least as many training atoms as the file has moment coefficients
    (1464 for the paper-001 MTPs). Otherwise configuration mode (one row per structure: the summed
    basis). Shape (len(images),). Raises PotentialError when the active set cannot be built.
    """
    calc = MTPCalculator(Path(mtp_file), species)
    key = ActiveSetKey("", tuple(species), "", seed)

    def rows(images_: Sequence[Atoms]) -> np.ndarray:
        matrix = training_basis(calc, images_)
        if per_atom:
            return matrix
        ends = np.cumsum([len(atoms) for atoms in images_])
        return np.add.reduceat(matrix, np.concatenate([[0], ends[:-1]]), axis=0) if len(ends) else matrix

    found = build(key, rows(training))
    grades = []
    for atoms in images:
        per_row = found.grades(rows([atoms]))
        grades.append(float(per_row.max(initial=0.0)))
    return np.array(grades, float)
