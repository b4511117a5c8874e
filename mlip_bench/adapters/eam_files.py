"""Checks of EAM potential files before LAMMPS reads them.

LAMMPS reads a truncated or garbled EAM file with an error that names neither the file nor the line
(or, for some damage, not at all: a NaN tabulated value gives NaN energies). These checks walk the
file the way LAMMPS's reader does and raise PotentialError naming the file and the line.

Formats (LAMMPS ``pair_style eam``, ``eam/alloy``, ``eam/fs`` documentation):

- funcfl (``.eam``): 1 comment line; ``Z mass a lattice``; ``Nrho drho Nr dr cutoff``; then Nrho
  values of F(rho), Nr of Z(r) and Nr of rho(r).
- setfl (``.eam.alloy``): 3 comment lines; ``N El1 ... ElN``; ``Nrho drho Nr dr cutoff``; per element
  a line ``Z mass a lattice``, Nrho values of F(rho) and Nr of rho(r); then N(N+1)/2 blocks of Nr
  values of r*phi(r).
- Finnis-Sinclair (``.eam.fs``): as setfl, but each element has N blocks of Nr density values.

Numbers may wrap across lines in any way; only the per-element header is a line of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ase.data import atomic_numbers, chemical_symbols

from mlip_bench.errors import PotentialError

#: grid sizes beyond this are damage, not a potential (LAMMPS would try to allocate them)
MAX_GRID_POINTS = 10_000_000


@dataclass(frozen=True)
class EamHeader:
    """What the checked file declares: its elements (setfl/fs order, or the one funcfl element)."""

    elements: tuple[str, ...]


class _Numbers:
    """Reads a file as LAMMPS's potential-file reader does: a block of numbers starts on a new line and
    may wrap over lines; ``#`` starts a comment and blank lines are skipped. Tracks the line number."""

    def __init__(self, path: Path, lines: list[str], start: int) -> None:
        self.path, self.lines, self.index = path, lines, start

    def line_number(self) -> int:
        return self.index  # 1-based number of the last line consumed

    def _next_words(self) -> list[str] | None:
        while self.index < len(self.lines):
            self.index += 1
            words = self.lines[self.index - 1].split("#", 1)[0].split()
            if words:
                return words
        return None

    def header_line(self, what: str) -> list[str]:
        """The next non-blank line as words; raises PotentialError at the end of the file."""
        words = self._next_words()
        if words is None:
            raise PotentialError(f"{self.path}: truncated: the file ends at line {self.index} before {what}")
        return words

    def take(self, count: int, what: str) -> None:
        """Consume `count` finite numbers from the next lines; raises PotentialError naming the line of
        the first bad value, of the end of a truncated file, or of a line with more values than the
        block needs (LAMMPS would drop them silently)."""
        left = count
        while left > 0:
            words = self._next_words()
            if words is None:
                raise PotentialError(
                    f"{self.path}: truncated: the file ends at line {self.index} after "
                    f"{count - left} of the {count} values of {what}"
                )
            if len(words) > left:
                raise PotentialError(
                    f"{self.path}: line {self.index}: {len(words)} values where {what} needs {left} more "
                    "(the grid line's Nrho/Nr do not match the tabulated data)"
                )
            for word in words:
                _finite(word, self.path, self.index, what)
            left -= len(words)


def _finite(word: str, path: Path, line: int, what: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise PotentialError(f"{path}: line {line}: {word[:40]!r} is not a number (in {what})") from None
    if not math.isfinite(value):
        raise PotentialError(f"{path}: line {line}: non-finite value {word!r} in {what}")
    return value


def _grid(path: Path, words: list[str], line: int) -> tuple[int, int]:
    """(Nrho, Nr) from the ``Nrho drho Nr dr cutoff`` line."""
    where = f"{path}: line {line}"
    if len(words) < 5:
        raise PotentialError(f"{where}: expected 'Nrho drho Nr dr cutoff', got {' '.join(words)[:80]!r}")
    try:
        nrho, nr = int(words[0]), int(words[2])
    except ValueError:
        raise PotentialError(f"{where}: Nrho and Nr must be integers, got {words[0]!r} and {words[2]!r}") from None
    for name, value in (("drho", words[1]), ("dr", words[3]), ("cutoff", words[4])):
        if _finite(value, path, line, name) <= 0:
            raise PotentialError(f"{where}: {name} must be positive, got {value}")
    for name, count in (("Nrho", nrho), ("Nr", nr)):
        if not 2 <= count <= MAX_GRID_POINTS:
            raise PotentialError(f"{where}: {name} = {count} is outside 2..{MAX_GRID_POINTS}")
    return nrho, nr


def _element_line(path: Path, words: list[str], line: int, what: str) -> None:
    if len(words) < 2:
        raise PotentialError(f"{path}: line {line}: expected 'Z mass a lattice' for {what}, got {' '.join(words)!r}")
    _finite(words[1], path, line, f"the mass of {what}")
    try:
        int(float(words[0]))
    except ValueError:
        raise PotentialError(f"{path}: line {line}: atomic number {words[0]!r} of {what} is not a number") from None


def check_funcfl(path: Path, lines: list[str]) -> EamHeader:
    """Check a funcfl file; returns its element (from Z). Raises PotentialError naming file and line."""
    reader = _Numbers(path, lines, 1)  # line 1 is a comment
    words = reader.header_line("the 'Z mass a lattice' line")
    _element_line(path, words, reader.line_number(), "the element")
    z = int(float(words[0]))
    if not 1 <= z < len(chemical_symbols):
        raise PotentialError(f"{path}: line {reader.line_number()}: atomic number {words[0]!r} is not an element")
    nrho, nr = _grid(path, reader.header_line("the grid line"), reader.line_number())
    reader.take(nrho, "F(rho)")
    reader.take(nr, "Z(r)")
    reader.take(nr, "rho(r)")
    return EamHeader(elements=(chemical_symbols[z],))


def check_setfl(path: Path, lines: list[str], *, finnis_sinclair: bool) -> EamHeader:
    """Check a setfl (or Finnis-Sinclair) file; returns its elements. Raises PotentialError naming
    the file, the line and what was expected there."""
    reader = _Numbers(path, lines, 3)  # three comment lines
    words = reader.header_line("the element line 'N El1 ... ElN'")
    line = reader.line_number()
    try:
        count = int(words[0])
    except ValueError:
        raise PotentialError(f"{path}: line {line}: expected 'N El1 ... ElN', got {' '.join(words)[:80]!r}") from None
    symbols = tuple(words[1:])
    if count < 1 or len(symbols) != count:
        raise PotentialError(f"{path}: line {line}: the element line declares {count} elements but names {symbols}")
    unknown = [s for s in symbols if s not in atomic_numbers or s == "X"]
    if unknown:
        raise PotentialError(f"{path}: line {line}: unknown element symbol(s) {unknown} in the element line")
    nrho, nr = _grid(path, reader.header_line("the grid line"), reader.line_number())
    for symbol in symbols:
        _element_line(path, reader.header_line(f"the {symbol} block"), reader.line_number(), symbol)
        reader.take(nrho, f"F(rho) of {symbol}")
        reader.take(nr * (count if finnis_sinclair else 1), f"rho(r) of {symbol}")
    reader.take(nr * count * (count + 1) // 2, "the pair potentials r*phi(r)")
    return EamHeader(elements=symbols)


@cache
def _checked(path: str, size: int, mtime_ns: int, kind: str) -> EamHeader:
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8", errors="strict").splitlines()
    except UnicodeDecodeError as exc:
        raise PotentialError(f"{file}: not a text EAM file (byte {exc.start} is not UTF-8)") from None
    except OSError as exc:
        raise PotentialError(f"{file}: cannot read the EAM file: {exc}") from exc
    if kind == "funcfl":
        return check_funcfl(file, lines)
    return check_setfl(file, lines, finnis_sinclair=kind == "fs")


def check_eam_file(path: Path, kind: str) -> EamHeader:
    """Check `path` as kind "funcfl", "setfl" or "fs" (memoized per file size and mtime)."""
    stat = path.stat()
    return _checked(str(path), stat.st_size, stat.st_mtime_ns, kind)
