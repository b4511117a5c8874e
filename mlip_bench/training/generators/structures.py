"""Parent structures named in a generator spec (its ``structures`` field): a file ASE reads, or a
crystal from its space group (``ase.spacegroup.crystal``), optionally repeated. Each structure's
``info["label"]`` is its id (``<id>-<frame>`` for a file of several frames)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ase import Atoms

from mlip_bench.errors import TaskSpecError

_FILE_KEYS = {"id", "file", "repeat"}
_CRYSTAL_KEYS = {"id", "symbols", "basis", "spacegroup", "cellpar", "repeat"}


def build_structures(raw: Any, *, source: str, base: Path) -> tuple[Atoms, ...]:
    """The structures of a spec's ``structures`` list (None: none). TaskSpecError naming `source`
    and ``structures/<i>/<key>`` for a bad entry, a missing or unreadable file, an invalid crystal."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TaskSpecError(f"{source}: field structures: a list is required")
    out: list[Atoms] = []
    ids: set[str] = set()
    for index, entry in enumerate(raw):
        where = f"{source}: field structures/{index}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str) or not entry["id"]:
            raise TaskSpecError(f"{where}: a mapping with a string id is required")
        if entry["id"] in ids:
            raise TaskSpecError(f"{where}/id: {entry['id']!r} repeats")
        ids.add(entry["id"])
        keys = _FILE_KEYS if "file" in entry else _CRYSTAL_KEYS
        unknown = sorted(set(entry) - keys)
        if unknown:
            raise TaskSpecError(f"{where}/{unknown[0]}: unknown (allowed: {', '.join(sorted(keys))})")
        frames = _read(entry, where, base) if "file" in entry else [_crystal(entry, where)]
        repeat = _repeat(entry.get("repeat", [1, 1, 1]), where)
        for k, atoms in enumerate(frames):
            atoms = atoms.repeat(repeat)
            atoms.info["label"] = entry["id"] if len(frames) == 1 else f"{entry['id']}-{k}"
            out.append(atoms)
    return tuple(out)


def _repeat(value: Any, where: str) -> tuple[int, int, int]:
    ok = isinstance(value, list) and len(value) == 3
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 20 for v in value)
    if not ok:
        raise TaskSpecError(f"{where}/repeat: three integers in 1..20 are required, got {value!r}")
    return (value[0], value[1], value[2])


def _read(entry: Mapping[str, Any], where: str, base: Path) -> list[Atoms]:
    from ase.io import read

    if not isinstance(entry["file"], str):
        raise TaskSpecError(f"{where}/file: a path string is required")
    path = (base / entry["file"]).resolve()
    if not path.is_file():
        raise TaskSpecError(f"{where}/file: {path} does not exist")
    try:
        frames = read(path, index=":")
    except Exception as exc:  # ASE's readers raise many classes for a malformed file
        raise TaskSpecError(f"{where}/file: {path}: not readable by ASE: {exc}") from exc
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise TaskSpecError(f"{where}/file: {path} holds no structure")
    return [Atoms(a.get_chemical_symbols(), positions=a.positions, cell=a.cell, pbc=a.pbc) for a in frames]


def _crystal(entry: Mapping[str, Any], where: str) -> Atoms:
    from ase.spacegroup import crystal

    missing = sorted({"symbols", "basis", "spacegroup", "cellpar"} - set(entry))
    if missing:
        raise TaskSpecError(f"{where}/{missing[0]}: required (or give a file)")
    symbols, basis, cellpar = entry["symbols"], entry["basis"], entry["cellpar"]
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise TaskSpecError(f"{where}/symbols: a list of chemical symbols is required")
    if not isinstance(basis, list) or len(basis) != len(symbols) or not all(_numbers(b, 3) for b in basis):
        raise TaskSpecError(f"{where}/basis: one [x, y, z] fractional position per symbol is required")
    if not _numbers(cellpar, 6) or not all(v > 0 for v in cellpar):
        raise TaskSpecError(f"{where}/cellpar: [a, b, c, alpha, beta, gamma] (Å, degrees), all > 0, is required")
    group = entry["spacegroup"]
    if isinstance(group, bool) or not isinstance(group, int) or not 1 <= group <= 230:
        raise TaskSpecError(f"{where}/spacegroup: an integer in 1..230 is required")
    try:
        return crystal(symbols, basis=basis, spacegroup=group, cellpar=cellpar)
    except Exception as exc:  # ase.spacegroup raises several classes for inconsistent input
        raise TaskSpecError(f"{where}: not a valid crystal: {exc}") from exc


def _numbers(value: Any, n: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == n
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )
