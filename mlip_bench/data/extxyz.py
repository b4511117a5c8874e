"""Extended-XYZ reading and writing (plain or gzip), through ``ase.io``."""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_bench.data.frames import Dataset, Frame, Provenance, make_frame
from mlip_bench.errors import DataError

#: info keys that are not labels: results ASE turned into calculator results, and the frame id
_NOT_LABELS = frozenset({"energy", "free_energy", "stress", "forces", "virial", "id"})
_GZIP_MAGIC = b"\x1f\x8b"
#: comment-line keys holding reference labels: a malformed one costs its frame, not the file
_LABEL_KEYS = ("stress", "virial", "energy", "free_energy")


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
    """Every frame; the fast path parses the whole text at once, and a file that fails is parsed
    again frame by frame (:func:`_parse_slowly`) to keep frames whose only fault is a label."""
    frames: list[Frame] = []
    try:
        import ase.io  # here, not at import: ase.io loads scipy.integrate (0.5 s), which a cached run never needs

        for index, atoms in enumerate(ase.io.iread(io.StringIO(text), index=":", format="extxyz")):
            frames.append(_frame_from_atoms(atoms, path, index, stem))
    except DataError:
        raise
    except Exception:  # ase raises many kinds on a broken file: find the frame and the field
        return _parse_slowly(text, path, stem)
    return frames


def _parse_slowly(text: str, path: Path, stem: str) -> list[Frame]:
    """Frame by frame: a frame whose comment line holds a malformed label (a stress of 5 numbers)
    is kept with that label dropped and recorded as its problem; any other fault is a DataError
    naming the frame, the line it starts at and, where known, the field."""
    lines = text.splitlines(keepends=True)
    frames: list[Frame] = []
    start = 0
    while start < len(lines) and lines[start].strip():
        index = len(frames)
        where = f"frame {index}" if index else "the first frame"
        end, short = _frame_end(lines, start, f"{path}: cannot read {where}")
        try:
            atoms, dropped = _read_block(lines[start:end])
        except Exception as exc:
            raise DataError(f"{path}: cannot read {where}: {_explain(exc)} (frame at line {start + 1}{short})") from exc
        frame = _frame_from_atoms(atoms, path, index, stem)
        if dropped:
            name, reason = dropped
            at = f"{path}: frame {index} (id {frame.id!r})"
            frame = replace(frame, problems={**frame.problems, name: f"{at}: field {name!r} is malformed: {reason}"})
        frames.append(frame)
        start = end
    rest = next((i for i in range(start, len(lines)) if lines[i].strip()), None)
    if rest is not None:
        raise DataError(f"{path}: cannot read frame {len(frames)}: text after a blank line (line {rest + 1})")
    return frames


def _frame_end(lines: list[str], start: int, context: str) -> tuple[int, str]:
    """The line after the frame that starts at line `start` with its atom count, and a note when the
    file ends before it does."""
    try:
        count = int(lines[start].strip())
    except ValueError:
        got = lines[start].strip()[:40]
        raise DataError(f"{context}: line {start + 1}: expected the atom count, got {got!r}") from None
    if count < 0:
        raise DataError(f"{context}: line {start + 1}: negative atom count {count}")
    end = start + 2 + count
    if end <= len(lines):
        return end, ""
    have = max(len(lines) - start - 2, 0)
    return len(lines), f"; the file ends after {have} of its {count} atom lines"


def _read_block(block: list[str]) -> tuple[Atoms, tuple[str, str] | None]:
    """One frame's atoms; when only a label of its comment line breaks it, the atoms without that
    label and (label, reason)."""
    try:
        return _read_one(block), None
    except Exception as exc:
        first_error = exc
    for name in _LABEL_KEYS:
        stripped = _drop_key(block[1], name)
        if stripped == block[1]:
            continue
        try:
            atoms = _read_one([block[0], stripped, *block[2:]])
        except Exception:
            continue
        return atoms, (name, f"{type(first_error).__name__}: {first_error}")
    raise first_error


def _read_one(block: list[str]) -> Atoms:
    import ase.io

    atoms = ase.io.read(io.StringIO("".join(block)), index=0, format="extxyz")
    assert isinstance(atoms, Atoms)  # index=0: one frame
    return atoms


def _drop_key(comment: str, name: str) -> str:
    pattern = rf"(?<![\w-]){re.escape(name)}\s*=\s*(\"(?:[^\"\\]|\\.)*\"|'[^']*'|\{{[^}}]*\}}|\S+)"
    return re.sub(pattern, " ", comment, flags=re.IGNORECASE)


def _explain(exc: Exception) -> str:
    if isinstance(exc, KeyError):  # ase's symbol table
        return f"field 'species': unknown element symbol {exc.args[0]!r}"
    return f"{type(exc).__name__}: {exc}"


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
    """Write frames as extended XYZ (gzip when the name ends in ``.gz``).

    Raises :class:`DataError` naming the frame and label when an id or label would not read back
    as written (ASE's parser turns "T" into True, "01" into 1, swallows an empty value; parquet
    keeps any string)."""
    path = Path(path)
    frames = list(frames)
    for frame in frames:
        _check_writable(frame, path)
    import ase.io

    ase.io.write(str(path), [frame_to_atoms(f) for f in frames], format="extxyz")
    return path


#: comment-line keys with a meaning of their own: a label of that name would be read as something else
_RESERVED = frozenset({*_NOT_LABELS, "pbc", "lattice", "properties", "time"})


def _check_writable(frame: Frame, path: Path) -> None:
    for key, value in {"id": frame.id, **frame.labels}.items():
        if key != "id" and (key.lower() in _RESERVED or not re.fullmatch(r"[A-Za-z_][\w.-]*", key)):
            raise DataError(f"{path}: frame {frame.id!r}: label name {key!r} cannot be written to extended XYZ")
        if not _reads_back(key, value):
            raise DataError(
                f"{path}: frame {frame.id!r}: {'id' if key == 'id' else f'label {key!r}'} = {value!r} would not "
                "read back from extended XYZ as written (ASE parses it as another value); write parquet instead"
            )


def _reads_back(key: str, value: str) -> bool:
    if any(ch in value for ch in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        return False  # a line break ends the comment line in the file, whatever the parser says of the text
    try:
        from ase.io.extxyz import key_val_dict_to_str, key_val_str_to_dict

        parsed = key_val_str_to_dict(key_val_dict_to_str({key: value, "z_end": "z"}))
    except Exception:
        return False
    got = parsed.get(key)
    scalar = isinstance(got, str | int | float | bool | np.integer)
    return set(parsed) == {key, "z_end"} and scalar and str(got) == value
