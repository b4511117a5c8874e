"""Checks of MLIP-2 ``.mtp`` files before motep parses them.

motep's parser reports a damaged file as a bare ValueError, KeyError or StopIteration that names
neither the file nor the line (or, for a NaN coefficient, not at all). :func:`check_mtp_file` walks
the file and raises PotentialError naming the file, the line and the field.

Layout (MLIP-2): a line ``MTP``; ``key = value`` lines (``species_count``, ``radial_basis_size``,
``radial_funcs_count``, ``alpha_scalar_moments``, ...); a ``radial_coeffs`` block of
species_count² pair lines (``0-1``), each followed by radial_funcs_count lines ``{c1, ..., cN}``
with N = radial_basis_size; then ``alpha_moment_mapping``, ``species_coeffs`` and
``moment_coeffs`` as ``{...}`` lists of alpha_scalar_moments, species_count and
alpha_scalar_moments values.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

from mlip_bench.errors import PotentialError

_INTEGERS = ("species_count", "radial_basis_size", "radial_funcs_count", "alpha_scalar_moments")
_REQUIRED = (
    "species_count",
    "radial_funcs_count",
    "alpha_scalar_moments",
    "radial_coeffs",
    "species_coeffs",
    "moment_coeffs",
)
_LIMIT = 1_000_000  # any count beyond this is damage


def _numbers(path: Path, line: int, field: str, text: str) -> list[float]:
    """The finite numbers of a ``{a, b, ...}`` list; raises PotentialError naming the line."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise PotentialError(f"{path}: line {line}: {field} must be a {{...}} list, got {body[:60]!r}")
    values = []
    for word in body[1:-1].split(","):
        try:
            value = float(word)
        except ValueError:
            raise PotentialError(f"{path}: line {line}: {field}: {word.strip()[:40]!r} is not a number") from None
        if not math.isfinite(value):
            raise PotentialError(f"{path}: line {line}: {field}: non-finite value {word.strip()!r}")
        values.append(value)
    return values


class _Reader:
    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path, self.lines = path, lines
        self.fields: dict[str, tuple[int, str]] = {}  # key -> (line, value)
        self.counts: dict[str, int] = {}

    def integer(self, key: str) -> int:
        line, text = self.fields[key]
        try:
            value = int(text)
        except ValueError:
            raise PotentialError(f"{self.path}: line {line}: {key} must be an integer, got {text[:40]!r}") from None
        if not 1 <= value <= _LIMIT:
            raise PotentialError(f"{self.path}: line {line}: {key} = {value} is outside 1..{_LIMIT}")
        return value

    def radial_block(self, start: int) -> int:
        """Check the radial_coeffs block after line `start` (0-based index); returns the next index."""
        if "species_count" not in self.counts or "radial_funcs_count" not in self.counts:
            raise PotentialError(
                f"{self.path}: line {start + 1}: radial_coeffs before species_count and radial_funcs_count"
            )
        # a magnetic MTP's rows hold radial x magnetic² values: only the plain layout's width is checked
        size = None if "magnetic_basis_type" in self.fields else self.counts.get("radial_basis_size")
        index = start + 1
        n_species, n_funcs = self.counts["species_count"], self.counts["radial_funcs_count"]
        for pair in range(n_species * n_species):
            expected = f"{pair // n_species}-{pair % n_species}"
            index = self._line(index, f"radial_coeffs pair {expected}")
            if self.lines[index].strip() != expected:
                got = self.lines[index].strip()[:40]
                raise PotentialError(
                    f"{self.path}: line {index + 1}: radial_coeffs: expected the pair line {expected!r}, got {got!r}"
                )
            for _ in range(n_funcs):
                index = self._line(index + 1, f"radial_coeffs of pair {expected}")
                values = _numbers(self.path, index + 1, f"radial_coeffs {expected}", self.lines[index])
                if size is not None and len(values) != size:
                    raise PotentialError(
                        f"{self.path}: line {index + 1}: radial_coeffs {expected}: {len(values)} values, "
                        f"radial_basis_size is {size}"
                    )
            index += 1
        return index

    def _line(self, index: int, what: str) -> int:
        if index >= len(self.lines):
            raise PotentialError(f"{self.path}: truncated: the file ends at line {len(self.lines)} in {what}")
        return index


def check_mtp_lines(path: Path, lines: list[str]) -> int:
    """Check an MLIP-2 file's lines; returns species_count. Raises PotentialError naming file and line."""
    if not lines or lines[0].strip() != "MTP":
        raise PotentialError(f"{path}: line 1: expected 'MTP' (an MLIP-2 .mtp file starts so)")
    reader = _Reader(path, lines)
    index = 1
    while index < len(lines):
        text = lines[index].strip()
        if text == "radial_coeffs":
            reader.fields["radial_coeffs"] = (index + 1, "")
            index = reader.radial_block(index)
            continue
        key, eq, value = (part.strip() for part in text.partition("="))
        if eq:
            reader.fields[key] = (index + 1, value)
            if key in _INTEGERS:
                reader.counts[key] = reader.integer(key)
        elif text:
            raise PotentialError(f"{path}: line {index + 1}: expected 'key = value', got {text[:60]!r}")
        index += 1
    missing = [key for key in _REQUIRED if key not in reader.fields]
    if missing:
        raise PotentialError(
            f"{path}: truncated or not an MLIP-2 file: no {', '.join(missing)} (read {len(lines)} lines)"
        )
    for key, count_key in (("species_coeffs", "species_count"), ("moment_coeffs", "alpha_scalar_moments")):
        line, value = reader.fields[key]
        found = len(_numbers(path, line, key, value))
        if found != reader.counts[count_key]:
            raise PotentialError(
                f"{path}: line {line}: {key} has {found} values, {count_key} is {reader.counts[count_key]}"
            )
    for key in ("scaling", "min_dist", "max_dist"):
        if key in reader.fields:
            line, value = reader.fields[key]
            _numbers(path, line, key, "{" + value + "}")
    return reader.counts["species_count"]


@cache
def _checked(path: str, size: int, mtime_ns: int) -> int:
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise PotentialError(f"{file}: not a text .mtp file (byte {exc.start} is not UTF-8)") from None
    except OSError as exc:
        raise PotentialError(f"{file}: cannot read the MTP file: {exc}") from exc
    return check_mtp_lines(file, lines)


def check_mtp_file(path: Path) -> int:
    """Check an MLIP-2 file (memoized per size and mtime); returns its species_count."""
    stat = path.stat()
    return _checked(str(path), stat.st_size, stat.st_mtime_ns)
