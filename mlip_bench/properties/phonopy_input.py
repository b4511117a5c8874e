"""Reading a phonopy force-set file (a task's ``reference_force_sets``) without running its content.

phonopy reads its yaml files with PyYAML's full loader (``yaml.CLoader``), which builds any
``!!python/...`` object the file names, so a crafted file runs code when phonopy opens it. Here the
bytes are parsed with the safe loader first: a file that only uses standard YAML tags builds the
same data under either loader, so phonopy may then read those same bytes.
"""

from __future__ import annotations

import lzma
from pathlib import Path

import yaml

from mlip_bench.errors import DataError

#: the libyaml parser where PyYAML was built with it (as phonopy's CLoader), else the pure-Python one
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_force_sets_bytes(path: Path) -> bytes:
    """The (decompressed: .gz, .xz, .lzma, .bz2 as phonopy reads them) bytes of a phonopy yaml, after
    checking that they are plain YAML holding displacements with forces.

    Raises DataError naming the file: unreadable or corrupt compression, a non-standard tag such as
    ``!!python/object/apply`` (nothing is constructed), not a mapping, no displacements with forces
    (phonopy would then fall back to a ``FORCE_SETS`` file in the working directory).
    """
    from phonopy.file_IO import get_io_module_to_decompress

    try:
        with get_io_module_to_decompress(path).open(path, "rb") as handle:
            raw: bytes = handle.read()
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise DataError(f"{path}: cannot read phonopy force sets: {exc}") from exc
    try:
        data = yaml.load(raw, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise DataError(
            f"{path}: not a plain phonopy YAML file (only standard YAML tags are read; nothing was run): {exc}"
        ) from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: a phonopy yaml must be a mapping, got {type(data).__name__}")
    _require_forces(path, data)
    return raw


def _require_forces(path: Path, data: dict[str, object]) -> None:
    from phonopy.interface.phonopy_yaml import load_phonopy_yaml
    from phonopy.structure.dataset import forces_in_dataset

    try:
        dataset = load_phonopy_yaml(data).dataset
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
        raise DataError(f"{path}: cannot read phonopy force sets: {type(exc).__name__}: {exc}") from exc
    if not forces_in_dataset(dataset):
        raise DataError(f"{path}: no displacements with forces (expected a phonopy_params.yaml-like file)")
