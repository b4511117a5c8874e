"""ANI-Al (J. S. Smith et al., Nat. Commun. 12 (2021) 1257): an 8-member ensemble of ANI networks
for aluminium, stored in the NeuroChem format and evaluated with torchani (``ani:DIR``, with options
``ani:DIR;member_forces=yes;device=cuda`` in any order).

``DIR`` is a folder holding one NeuroChem ``*.info`` file (four lines: AEV constants file, self-energy
file, ensemble prefix, ensemble size; paths relative to ``DIR``) or that ``.info`` file itself.
``ani`` alone (or an empty DIR, ``ani:;member_forces=yes``) means ``<data root>/../models/ani_al``
(data root from :func:`mlip_bench.paths.resolve_data_root`, normally ``../shared/data``, so
``../shared/models/ani_al``).
torchani's ``NeurochemInfo.from_info_file`` resolves those paths in its own download folder,
hence the explicit parsing here.

Energies are the ensemble mean (NeuroChem files are in Hartree; converted to eV). The ensemble
spread is the potential's uncertainty (``ensemble_std``, adapters/uncertainty.py; paper 003 Sec. II.B
and III.A, "sample variance over the eight neural networks"), in ``calc.results`` on every call:

- ``"uncertainty"``: standard deviation (ddof=1) of the members' total energies / N, eV/atom;
- ``"energy_std_eV"``: the same spread, not divided (total energy, eV);
- ``"energy_std_per_sqrt_atom_eV"``: ρ = σ_E / sqrt(N), eV, the quantity ANI's active learning
  thresholds (the normalisation of ANI-1x, J. S. Smith et al., J. Chem. Phys. 148 (2018) 241733,
  which paper 003 Sec. II.B builds on; paper 003 itself states no formula). Independent atomic
  errors add up as sqrt(N), so ρ compares structures of different size; σ_E / N falls as 1/sqrt(N)
  for the same local error, which is why large bulk cells look more certain per atom than they are;

and with member forces on (``ani:DIR;member_forces=yes``, or ``member_forces=True``), whose
gradients are then computed on every call, energy-only calls included:

- ``"uncertainties"``: (N,) norm of the per-component force standard deviation (ddof=1), eV/Å;
- ``"forces_std_eV_per_A"``: (N, 3) that standard deviation per component, eV/Å.

Member forces cost one backward pass per member instead of one for the mean: 5-6x the cost of
energy, forces and stress (108-atom Al cell, one CPU thread: 0.22 s -> 1.2 s). torch's batched
gradient (``is_grads_batched``) is no faster (vmap falls back to a loop for torchani's operations).

``device=cpu|cuda`` (default cpu) is where the model and its tensors live; results come back as
float64 numpy arrays either way, the same numbers to rounding, so the device is no part of the
potential's ``version`` (it is in ``PotentialInfo.options``). ``device=cuda`` without a GPU that torch
sees raises PotentialError when the calculator is made (describing the potential needs no GPU).

Neighbour lists (``neighbours=auto|all_pairs``, default auto). torchani's all-pairs list replicates
the cell ceil(cutoff / height) times along each periodic direction, so it is exact for any cell (a
one-atom primitive cell gives the same energy per atom, forces and stress as a 4x4x4 supercell;
tests/test_ani.py), but its memory grows as N²: 35 GB at 4000 atoms on an H100, out of memory at
8788. ``auto`` uses torchani's cell list wherever it applies (periodic in all three directions,
every cell height at least the cutoff), on a copy of the structure wrapped into the cell: the cell
list maps atoms into the cell with a detached cell, which loses part of the strain derivative for
atoms outside it (about 5 GPa of stress error seen), and wrapping first leaves nothing to map.
Energies, forces and stresses then equal the all-pairs ones to 1e-12 (test); it is 1.5-2x faster
on a CPU from 108 atoms on and needs memory linear in N.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress
from ase.units import Hartree

from mlip_bench.adapters.base import Adapter, PotentialInfo, file_version, package_version, spec_options
from mlip_bench.adapters.uncertainty import ATOM_KEY, STRUCTURE_KEY, UncertaintyInfo
from mlip_bench.errors import PotentialError
from mlip_bench.paths import resolve_data_root

DEFAULT_MODEL_DIR = "ani_al"
_CITATION = "J. S. Smith et al., Nat. Commun. 12 (2021) 1257"
DEVICES = ("cpu", "cuda")
_OPTIONS = {"member_forces": ("yes", "no"), "device": DEVICES, "neighbours": ("auto", "all_pairs")}


def default_model_dir() -> Path:
    """``<data root>/../models/ani_al``; raises PotentialError when there is no data root."""
    root = resolve_data_root()
    if root is None:
        raise PotentialError("ani: no data root found (set MLIP_BENCH_DATA or pass ani:MODEL_DIR)")
    return root.parent / "models" / DEFAULT_MODEL_DIR


def info_file(arg: str) -> Path:
    """The NeuroChem ``.info`` file named by the spec argument; raises PotentialError."""
    path = Path(arg).expanduser() if arg else default_model_dir()
    if path.is_file() and path.suffix == ".info":
        return path
    found = sorted(path.glob("*.info")) if path.is_dir() else []
    if len(found) != 1:
        raise PotentialError(f"ani needs a folder with exactly one NeuroChem .info file: {path} has {len(found)}")
    return found[0]


def read_info(info: Path) -> tuple[Path, Path, Path, int]:
    """(AEV constants file, self-energy file, ensemble prefix, ensemble size) of a ``.info`` file,
    paths resolved against its folder; raises PotentialError on a malformed or incomplete model."""
    lines = [line.strip() for line in info.read_text().splitlines() if line.strip()]
    try:
        const, sae, prefix = (info.parent / name for name in lines[:3])
        size = int(lines[3])
    except (IndexError, ValueError) as exc:
        raise PotentialError(f"{info}: expected 4 lines (constants, sae, prefix, ensemble size): {exc}") from exc
    missing = [p for p in (const, sae) if not p.is_file()]
    missing += [member for member in _member_dirs(prefix, size) if not member.is_dir()]
    if missing:
        raise PotentialError(f"{info}: model files missing: {', '.join(map(str, missing))}")
    return const, sae, prefix, size


def _member_dirs(prefix: Path, size: int) -> list[Path]:
    return [prefix.parent / f"{prefix.name}{i}" / "networks" for i in range(size)]


def model_files(info: Path) -> list[Path]:
    """Every file the model is built from: the .info, constants, self energies, all network files."""
    const, sae, prefix, size = read_info(info)
    networks = [f for member in _member_dirs(prefix, size) for f in sorted(member.iterdir()) if f.is_file()]
    return [info, const, sae, *networks]


def model_version(info: Path) -> str:
    """ "sha256 <16 hex>" over the relative paths and file hashes of :func:`model_files`."""
    digest = hashlib.sha256()
    for path in model_files(info):
        digest.update(f"{path.relative_to(info.parent)}={file_version(path)}\n".encode())
    return f"sha256 {digest.hexdigest()[:16]}"


def element_symbols(const: Path) -> frozenset[str]:
    """The ``Atyp`` elements of a NeuroChem constants file (ANI-Al: {"Al"})."""
    for line in const.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "Atyp":
            return frozenset(s.strip() for s in value.strip().strip("[]").split(",") if s.strip())
    raise PotentialError(f"{const}: no Atyp line (element list)")


def load_model(info: Path, *, device: str = "cpu") -> Any:
    """The torchani ``ANI`` ensemble model in float64 on `device` ("cpu" or "cuda"), gradients off
    for its parameters."""
    import torchani
    from torchani.neighbors import AllPairs
    from torchani.neurochem import NeurochemInfo, modules_from_info

    const, sae, prefix, size = read_info(info)
    neurochem = NeurochemInfo(sae=sae, const=const, ensemble_prefix=prefix, ensemble_size=size)
    aev_computer, networks, self_energies, symbols = modules_from_info(neurochem)
    aev_computer.neighborlist = AllPairs()  # the calculator picks the list per structure (module docstring)
    model = torchani.arch.ANI(symbols, aev_computer, networks, self_energies).double().to(device).eval()
    model.requires_grad_(False)
    return model


class AniEnsembleCalculator(Calculator):  # type: ignore[misc]
    """ASE calculator for a torchani ensemble: mean energy (eV), forces (eV/Å), stress (eV/Å³,
    fully periodic cells only) and the ensemble spread (see the module docstring), computed on the
    model's device, returned as float64 numpy. Raises PropertyNotImplementedError for stress of a
    cell not periodic in all three directions."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]  # noqa: RUF012 (ASE declares it so)

    def __init__(self, model: Any, *, member_forces: bool = False, cell_list: bool = True) -> None:
        from torchani.neighbors import AllPairs, CellList

        super().__init__()
        self.model = model
        self.member_forces = member_forces
        self.device = next(model.parameters()).device
        self._lists = (AllPairs(), CellList() if cell_list else AllPairs())

    def _structure(self) -> Any:
        """The structure the model sees, with the neighbour list set for it (module docstring)."""
        atoms = self.atoms
        assert atoms is not None
        heights = 1.0 / np.linalg.norm(atoms.cell.reciprocal(), axis=1) if atoms.pbc.all() else np.zeros(3)
        fits = bool(atoms.pbc.all() and heights.min() >= self.cutoff_A)
        self.model.neighborlist = self._lists[fits]
        if fits:
            atoms = atoms.copy()
            atoms.wrap()
        return atoms

    @property
    def cutoff_A(self) -> float:
        return float(self.model.cutoff)

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        import torch
        from torchani.ase import from_ase

        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        properties = properties or ["energy"]
        periodic = bool(self.atoms.pbc.all())
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError("ani: stress needs a cell periodic in all three directions")
        species, coords, cell, pbc = from_ase(self._structure(), device=self.device, dtype=torch.float64)
        # member forces are the per-atom uncertainty, which the contract wants on every call
        want_grad = "forces" in properties or "stress" in properties or self.member_forces
        coords.requires_grad_(want_grad)
        strain = coords.new_zeros((3, 3), requires_grad=want_grad and periodic)
        positions = coords
        if periodic:
            # stress = dE/d(strain) / V: deform positions and cell by (1 + strain) at strain = 0
            deformation = torch.eye(3, dtype=coords.dtype, device=self.device) + 0.5 * (strain + strain.T)
            positions, cell = coords @ deformation, cell @ deformation
        with torch.set_grad_enabled(want_grad):
            members = self.model((species, positions), cell, pbc, ensemble_values=True).energies[:, 0] * Hartree
        self.results = _energy_results(_numpy(members), len(self.atoms))
        if not want_grad:
            return
        inputs = [coords, strain] if periodic else [coords]
        if self.member_forces:
            # one backward pass per member; the mean's gradients are the mean of theirs
            grads = [torch.autograd.grad(e, inputs, retain_graph=k < len(members) - 1) for k, e in enumerate(members)]
            per_member = [_numpy(torch.stack([g[i] for g in grads])) for i in range(len(inputs))]
            self.results.update(_member_force_results(-per_member[0][:, 0]))
            mean_grads = [g.mean(axis=0) for g in per_member]
        else:
            mean_grads = [_numpy(g) for g in torch.autograd.grad(members.mean(), inputs)]
        self.results["forces"] = -mean_grads[0][0]
        if periodic:
            volume = abs(float(np.linalg.det(self.atoms.cell[:])))
            self.results["stress"] = full_3x3_to_voigt_6_stress(mean_grads[1] / volume)


def _numpy(tensor: Any) -> np.ndarray:
    """A tensor's values as a numpy array on the host (float64 for the float64 model)."""
    return np.asarray(tensor.detach().cpu().numpy())


def _energy_results(members_eV: np.ndarray, n_atoms: int) -> dict[str, Any]:
    """Mean energy and the spread keys of the module docstring from the members' total energies (eV)."""
    std = float(members_eV.std(ddof=1)) if len(members_eV) > 1 else 0.0
    n = max(n_atoms, 1)
    mean = float(members_eV.mean())
    return {
        "energy": mean,
        "free_energy": mean,
        "energy_std_eV": std,
        STRUCTURE_KEY: std / n,
        "energy_std_per_sqrt_atom_eV": std / math.sqrt(n),
    }


def _member_force_results(member_forces: np.ndarray) -> dict[str, np.ndarray]:
    """Force spread keys from the members' forces, shape (members, N, 3), eV/Å."""
    std = member_forces.std(axis=0, ddof=1) if len(member_forces) > 1 else np.zeros(member_forces.shape[1:])
    return {"forces_std_eV_per_A": std, ATOM_KEY: np.linalg.norm(std, axis=1)}


@dataclass(frozen=True)
class AniSpec:
    """The parsed spec argument: `model` is the folder or .info file ("" = the default folder)."""

    model: str
    member_forces: bool = False
    device: str = "cpu"
    cell_list: bool = True


def parse_spec(arg: str) -> AniSpec:
    """The :class:`AniSpec` of ``DIR[;member_forces=yes|no][;device=cpu|cuda][;neighbours=auto|all_pairs]``
    (options in any order; an empty DIR is the default folder); raises PotentialError on an unknown option."""
    head, given = spec_options(arg, family="ani", choices=_OPTIONS)
    return AniSpec(
        head,
        member_forces=given.get("member_forces") == "yes",
        device=given.get("device", "cpu"),
        cell_list=given.get("neighbours", "auto") == "auto",
    )


def check_device(device: str, *, spec: str) -> None:
    """Raise PotentialError naming `spec` when `device` is "cuda" and torch sees no CUDA GPU."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise PotentialError(f"{spec}: device=cuda, but torch {torch.__version__} sees no CUDA GPU (use device=cpu)")


def _uncertainty_info(info: Path, size: int, *, member_forces: bool) -> UncertaintyInfo:
    return UncertaintyInfo(
        measure="ensemble_std",
        unit="eV/atom",
        per_atom=member_forces,
        atom_unit="eV/Å" if member_forces else "",
        source=f"{size}-network ensemble {info.name} (sample std, ddof=1, of the members' total energy / N)",
    )


class AniAdapter(Adapter):
    name = "ani"
    summary = (
        "ANI-Al ensemble in NeuroChem format via torchani (ani:MODEL_DIR; ani = ../shared/models/ani_al); "
        "uncertainty per atom with ;member_forces=yes (5x cost); ;device=cuda runs it on a GPU"
    )
    example = "ani:/path/to/ani_al"
    requires = ("torchani", "torch")
    extra = "ani"

    def describe(self, arg: str) -> PotentialInfo:
        spec = parse_spec(arg)
        info = info_file(spec.model)
        const, _, _, size = read_info(info)
        return PotentialInfo(
            spec=f"ani:{arg}" if arg else "ani",
            name=f"ANI {info.parent.name}",
            family=self.name,
            version=f"torchani {package_version('torchani')}; {model_version(info)}",
            elements=element_symbols(const),
            citation=_CITATION,
            license="none stated by github.com/atomistic-ml/ani-al (model); MIT (torchani)",
            reference_method="DFT PBE (ANI-Al active-learning data set)",
            options={
                "model": str(info),
                "ensemble_size": str(size),
                "member_forces": "yes" if spec.member_forces else "no",
                "device": spec.device,
                "neighbours": "auto" if spec.cell_list else "all_pairs",
            },
            uncertainty=_uncertainty_info(info, size, member_forces=spec.member_forces),
        )

    def make_calculator(self, arg: str) -> Any:
        spec = parse_spec(arg)
        check_device(spec.device, spec=f"ani:{arg}")
        return AniEnsembleCalculator(
            load_model(info_file(spec.model), device=spec.device),
            member_forces=spec.member_forces,
            cell_list=spec.cell_list,
        )
