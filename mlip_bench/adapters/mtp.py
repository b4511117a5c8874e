"""Moment Tensor Potentials (MLIP-2 ``.mtp`` files) through motep's C-extension engine.

Spec: ``mtp:FILE.mtp`` or ``mtp:FILE.mtp;species=Li,Al`` (a relative FILE not found in the working
directory is looked up under the data root, e.g. ``mtp:li_al/mtp/MTP_train.mtp``). MLIP-2 files number their species
0, 1, ... without naming them; ``species`` maps those type indices to elements, in order. The
default, ``Li,Al``, is the mapping of the Li-Al MTPs of paper 001 (types in increasing atomic
number); any file with another number of species must name its species. A wrong mapping does
not fail loudly (the potential just evaluates the wrong chemistry: about 1.3 eV/atom errors on
the Li-Al validation set), which is why the energy RMSE on a known set is the check.

motep sizes its neighbour list for the first structure it sees; :class:`MTPCalculator` resets it
whenever the number of atoms changes, so one calculator serves structures of any size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers

from mlip_bench.adapters.base import Adapter, PotentialInfo, file_version, package_version
from mlip_bench.adapters.mtp_file import check_mtp_file
from mlip_bench.errors import PotentialError
from mlip_bench.paths import resolve_input_file

DEFAULT_SPECIES = ("Li", "Al")
_CITATION = (
    "A. V. Shapeev, Multiscale Model. Simul. 14 (2016) 1153 (MTP); I. S. Novikov et al., Mach. Learn.: "
    "Sci. Technol. 2 (2021) 025002 (MLIP-2); motep (github.com/imw-md/motep)"
)


def parse_spec(arg: str) -> tuple[Path, tuple[str, ...] | None]:
    """(file, species or None) from ``FILE[;species=A,B]``; raises PotentialError on a bad option."""
    path_text, *options = [part.strip() for part in arg.split(";")]
    species: tuple[str, ...] | None = None
    for option in options:
        key, _, value = option.partition("=")
        if key.strip() != "species" or not value:
            raise PotentialError(f"mtp:{arg}: unknown option {option!r} (known: species=A,B,...)")
        species = tuple(s.strip() for s in value.split(",") if s.strip())
        unknown = [s for s in species if s not in atomic_numbers or s == "X"]
        if unknown or len(set(species)) != len(species):
            what = f"unknown element symbol(s) {unknown}" if unknown else "a repeated symbol"
            raise PotentialError(f"mtp:{arg}: species must be distinct element symbols, got {value!r} ({what})")
    path = resolve_input_file(path_text)
    if not path.is_file():
        raise PotentialError(f"mtp:{arg}: MTP file {path} not found (relative paths are tried under the data root)")
    return path, species


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
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]  # noqa: RUF012 (ASE's API)

    def __init__(self, path: Path, species: Sequence[str], *, engine: str = "cext") -> None:
        super().__init__()
        from motep.calculator import make_calculator

        self.mtp_data = read_mtp_file(path)
        self.mtp_data.species = [atomic_numbers[s] for s in species]
        self.inner = make_calculator(self.mtp_data, engine=engine)
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

    def basis_values(self) -> np.ndarray:
        """Per-atom moment-basis values of the last structure, shape (n_atoms, n_basis)."""
        return np.asarray(self.inner.engine.mbd.vatoms).T.copy()


class MTPAdapter(Adapter):
    name = "mtp"
    summary = "Moment Tensor Potential, MLIP-2 .mtp file (motep engine); option ;species=A,B in type order"
    example = "mtp:MTP_train.mtp;species=Li,Al"
    requires = ("motep",)
    extra = "mtp"

    def describe(self, arg: str) -> PotentialInfo:
        path, species = parse_spec(arg)
        chosen = resolve_species(path, species)
        return PotentialInfo(
            spec=f"mtp:{arg}",
            name=f"MTP {path.stem}",
            family=self.name,
            version=f"motep {package_version('motep')}; {file_version(path)}",
            elements=frozenset(chosen),
            citation=_CITATION,
            license="per the potential file's authors",
            reference_method="as fitted (see the potential's paper)",
            options={"species": ",".join(chosen), "file": str(path)},
        )

    def make_calculator(self, arg: str) -> MTPCalculator:
        self.require()
        path, species = parse_spec(arg)
        return MTPCalculator(path, resolve_species(path, species))


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
    (2017) 171) against the active set selected from `training`, with motep's grader, over the
    linear (moment) coefficients. γ <= 1: interpolation; γ > 1: extrapolation.

    per_atom (default): neighbourhood mode, rows are atoms and an image's grade is its largest
    atomic grade; it needs at least as many training atoms as the file has moment coefficients
    (1464 for the paper-001 MTPs). Otherwise configuration mode (one row per structure). Shape
    (len(images),). Raises ValueError (from motep) when the active set cannot be built.
    """
    from motep.grade.grader import Grader
    from motep.grade.setting import GradeMode

    data = read_mtp_file(Path(mtp_file))
    data.species = [atomic_numbers[s] for s in species]
    data.optimized = ["moment_coeffs"]  # the linear grade of MLIP-2; radial parameters would need train mode
    mode = GradeMode.NEIGHBORHOOD if per_atom else GradeMode.CONFIGURATION
    grader = Grader(data, seed=seed, mode=mode)
    grader.update(list(training))
    graded = grader.grade(list(images))
    return np.array([atoms.calc.results["MV_grade"] for atoms in graded], float)
