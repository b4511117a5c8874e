"""Extended-XYZ reading and writing (plain or gzip), through ``ase.io``."""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Iterable
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_bench.data.frames import Dataset, Frame, Provenance, make_frame
from mlip_bench.errors import DataError

#: info keys that are not labels: results ASE turned into calculator results, and the frame id
_NOT_LABELS = frozenset({"energy", "free_energy", "stress", "forces", "virial", "id"})
_GZIP_MAGIC = b"\x1f\x8b"


def sha256_of(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_bytes(path: str | Path) -> bytes:
    """A dataset file's raw bytes, read once so that checksum and parse see the same content.

    Raises :class:`DataError` naming the file when it is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such dataset file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc


def read_extxyz(
    path: str | Path,
    *,
    dataset_id: str | None = None,
    provenance: Provenance | None = None,
    content: bytes | None = None,
) -> Dataset:
    """Read every frame of an extended-XYZ file (``.gz`` allowed).

    `content` is the file's bytes when the caller already read them (to verify a checksum); the
    file is then not read again. A gzip file is decompressed in memory once and parsed from a
    seekable text buffer: ``ase.io.iread`` on a ``.gz`` path seeks backwards in the gzip stream
    once per frame, which makes loading quadratic in the frame count.

    Frame ids come from ``info['id']`` when present, else ``"<file stem>:<index>"``.
    Raises :class:`DataError` naming the file and frame on a missing, truncated or
    malformed file.
    """
    path = Path(path)
    raw = read_bytes(path) if content is None else content
    text, truncated = _decode(raw, path)
    stem = path.name.split(".")[0]
    frames = _parse(text, path, stem)
    if truncated:
        where = f"frame {len(frames)}" if frames else "the first frame"
        raise DataError(f"{path}: cannot read {where}: the gzip stream ends early (truncated file)")
    if not frames:
        raise DataError(f"{path}: file holds no frames")
    prov = provenance or Provenance(source=str(path))
    prov = Provenance(**{**prov.__dict__, "sha256": hashlib.sha256(raw).hexdigest(), "path": str(path)})
    return Dataset(id=dataset_id or stem, frames=tuple(frames), provenance=prov)


def _decode(raw: bytes, path: Path) -> tuple[str, bool]:
    """The file's text, and whether a gzip stream was cut short (then the text ends at the last
    complete line, so that the cut frame fails to parse and is named)."""
    truncated = False
    if raw[:2] == _GZIP_MAGIC:
        inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
        try:
            data = inflater.decompress(raw)
            while inflater.unused_data and inflater.eof:  # concatenated gzip members
                rest = inflater.unused_data
                inflater = zlib.decompressobj(wbits=31)
                data += inflater.decompress(rest)
        except zlib.error as exc:
            raise DataError(f"{path}: not a readable gzip file: {exc}") from exc
        truncated = not inflater.eof
        if truncated:
            data = data[: data.rfind(b"\n") + 1]
        raw = data
    try:
        return raw.decode(), truncated
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text (extended XYZ) file: {exc}") from exc


def _parse(text: str, path: Path, stem: str) -> list[Frame]:
    frames: list[Frame] = []
    try:
        for index, atoms in enumerate(ase.io.iread(io.StringIO(text), index=":", format="extxyz")):
            frames.append(_frame_from_atoms(atoms, path, index, stem))
    except DataError:
        raise
    except Exception as exc:  # ase raises many kinds on a broken file
        where = f"frame {len(frames)}" if frames else "the first frame"
        raise DataError(f"{path}: cannot read {where}: {type(exc).__name__}: {exc}") from exc
    return frames


def _frame_from_atoms(atoms: Atoms, path: Path, index: int, stem: str) -> Frame:
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    info = atoms.info
    frame_id = str(info.get("id", f"{stem}:{index}"))
    labels = {
        key: str(value)
        for key, value in info.items()
        if key not in _NOT_LABELS and isinstance(value, str | int | float | bool | np.integer)
    }
    return make_frame(
        source=path,
        index=index,
        frame_id=frame_id,
        atoms=atoms,
        energy=results.get("energy", info.get("energy")),
        forces=results.get("forces", atoms.arrays.get("forces")),
        stress=_stress(results, info, atoms),
        labels=labels,
    )


def _stress(results: dict[str, object], info: dict[str, object], atoms: Atoms) -> object:
    """Stress from the file: ``stress``, else ``virial`` (eV) as stress = -virial / volume."""
    stress = results.get("stress", info.get("stress"))
    virial = results.get("virial", info.get("virial"))
    if stress is None and virial is not None and atoms.pbc.all():
        return -np.asarray(virial, dtype=float).reshape(3, 3) / atoms.get_volume()
    return stress


def frame_to_atoms(frame: Frame) -> Atoms:
    """An ``Atoms`` copy carrying the frame's labels as a SinglePointCalculator and its info."""
    atoms = frame.atoms.copy()
    atoms.info.update(frame.labels)
    atoms.info["id"] = frame.id
    results: dict[str, object] = {}
    if frame.energy_eV is not None:
        results["energy"] = frame.energy_eV
    if frame.forces_eV_per_A is not None:
        results["forces"] = frame.forces_eV_per_A
    if frame.stress_eV_per_A3 is not None:
        results["stress"] = frame.stress_eV_per_A3
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def write_extxyz(frames: Iterable[Frame], path: str | Path) -> Path:
    """Write frames as extended XYZ (gzip when the name ends in ``.gz``)."""
    path = Path(path)
    ase.io.write(str(path), [frame_to_atoms(f) for f in frames], format="extxyz")
    return path
