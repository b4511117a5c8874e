"""What an adapter is: a named family of potentials that turns a spec argument into a
description (:class:`PotentialInfo`) and an ASE calculator."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mlip_bench.errors import OptionalDependencyError, PotentialError

if TYPE_CHECKING:
    from mlip_bench.adapters.uncertainty import UncertaintyInfo

ALL_PROPERTIES = frozenset({"energy", "forces", "stress"})


@dataclass(frozen=True)
class PotentialInfo:
    """Describes one potential. `elements` None means "any element"; `version` changes
    whenever the potential's numbers can change (package version, file sha256)."""

    spec: str
    name: str
    family: str
    version: str
    elements: frozenset[str] | None
    citation: str = ""
    license: str = ""
    reference_method: str = ""
    options: dict[str, str] = field(default_factory=dict)
    #: what the potential computes; force-only potentials (AGNI) lack "energy" and "stress"
    provides: frozenset[str] = ALL_PROPERTIES
    #: what the potential says about its own uncertainty (None: nothing); its calculator then sets
    #: ``results["uncertainty"]`` (and ``"uncertainties"`` per atom), see adapters/uncertainty.py
    uncertainty: UncertaintyInfo | None = None

    def unsupported(self, symbols: Iterable[str]) -> frozenset[str]:
        """The elements of `symbols` this potential cannot handle (empty when all are fine)."""
        if self.elements is None:
            return frozenset()
        return frozenset(symbols) - self.elements


class Adapter(ABC):
    """Base class of every adapter. Subclasses set `name` (the spec prefix), `summary`,
    and `requires` (import names) with the pip `extra` that installs them."""

    name: ClassVar[str]
    summary: ClassVar[str]
    example: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str] = ""

    def missing(self) -> str | None:
        """Why this adapter cannot run here (a sentence with the fix), or None when it can."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                return f"{module} not installed: {install_hint(self.extra or module)}"
        return None

    def require(self) -> None:
        """Raise :class:`OptionalDependencyError` when :meth:`missing` has a reason."""
        reason = self.missing()
        if reason:
            raise OptionalDependencyError(f"potential family {self.name!r}: {reason}")

    @abstractmethod
    def describe(self, arg: str) -> PotentialInfo:
        """Describe the potential named by `arg` (the spec after ``name:``); cheap, no model load."""

    @abstractmethod
    def make_calculator(self, arg: str) -> Any:
        """A fresh ASE calculator (or an object with ``get_potential_energy(atoms)`` etc.)."""


def spec_options(arg: str, *, family: str, choices: Mapping[str, tuple[str, ...]]) -> tuple[str, dict[str, str]]:
    """(the spec argument before its options, {option name: value} of the options given) from
    ``HEAD;name=value;name=value...`` with every name a key of `choices` and its value one of
    ``choices[name]`` (an option given twice: the last one counts); raises PotentialError naming the
    spec on any other option."""
    head, *options = [part.strip() for part in arg.split(";")]
    given: dict[str, str] = {}
    for option in options:
        key, _, text = (part.strip() for part in option.partition("="))
        if text not in choices.get(key, ()):
            known = ", ".join(f"{name}={value}" for name, values in choices.items() for value in values)
            raise PotentialError(f"{family}:{arg}: unknown option {option!r} (known: {known})")
        given[key] = text
    return head, given


def yes_no_option(arg: str, *, family: str, name: str) -> tuple[str, bool]:
    """(the spec argument before its options, the value of option `name`) from ``HEAD`` or
    ``HEAD;name=yes|no`` (default no); raises PotentialError naming the spec on any other option."""
    head, given = spec_options(arg, family=family, choices={name: ("yes", "no")})
    return head, given.get(name) == "yes"


def install_hint(extra: str) -> str:
    """The pip command that installs the optional `extra`: from this checkout when mlip-bench runs
    from one (``pip install -e '.[chgnet]'``, with the checkout's path when the working directory
    is elsewhere), else from PyPI (``pip install 'mlip-bench[chgnet]'``)."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "mlip-bench"' in pyproject.read_text(errors="replace"):
        where = "." if Path.cwd().resolve() == root else str(root)
        return f"pip install -e '{where}[{extra}]'"
    return f"pip install 'mlip-bench[{extra}]'"


@functools.cache
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_version(path: str | Path) -> str:
    """ "sha256 <first 16 hex>" of a file (cached per path, mtime and size): a potential's version
    must change whenever its parameters can."""
    stat = Path(path).stat()
    return f"sha256 {_file_digest(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)[:16]}"


def package_version(dist: str) -> str:
    """Installed version of distribution `dist`, or "not installed"."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
