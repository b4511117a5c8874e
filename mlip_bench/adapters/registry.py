"""The adapter registry: built-in adapters plus plugins from the entry-point group
``mlip_bench.adapters``, following ASE's plugin pattern (validate each plugin, refuse
duplicate names, warn about and skip a broken one).

A potential spec is ``NAME`` or ``NAME:ARG``; ``python:module:factory`` splits at the first colon,
and so does ``committee:mtp:a.mtp|mtp:b.mtp`` (its ARG holds the member specs).
"""

from __future__ import annotations

import importlib.metadata
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any

from mlip_bench.adapters.base import Adapter, PotentialInfo
from mlip_bench.errors import PotentialError, UnknownPotentialError

ENTRY_POINT_GROUP = "mlip_bench.adapters"


def _builtin_adapters() -> list[Adapter]:
    # imported here so that `import mlip_bench` stays light: no adapter module imports a model package
    from mlip_bench.adapters.ani import AniAdapter
    from mlip_bench.adapters.committee import CommitteeAdapter
    from mlip_bench.adapters.emt import EMTAdapter
    from mlip_bench.adapters.gpaw import GpawAdapter
    from mlip_bench.adapters.lammps import EAMAdapter, LammpsAdapter
    from mlip_bench.adapters.models import CHGNetAdapter, MACEAdapter, SevenNetAdapter
    from mlip_bench.adapters.mtp import MTPAdapter
    from mlip_bench.adapters.predictions import PredictionsAdapter
    from mlip_bench.adapters.python_factory import PythonFactoryAdapter

    return [
        EMTAdapter(),
        EAMAdapter(),
        LammpsAdapter(),
        MTPAdapter(),
        CHGNetAdapter(),
        SevenNetAdapter(),
        MACEAdapter(),
        AniAdapter(),
        PythonFactoryAdapter(),
        PredictionsAdapter(),
        CommitteeAdapter(),
        GpawAdapter(),
    ]


def register(registry: dict[str, Adapter], adapter: object, *, origin: str) -> None:
    """Add `adapter` to `registry` after validating it; raises PotentialError on a duplicate
    name or an object that is not an :class:`Adapter`."""
    if isinstance(adapter, type) and issubclass(adapter, Adapter):
        adapter = adapter()
    if not isinstance(adapter, Adapter):
        raise PotentialError(f"{origin}: {adapter!r} is not an mlip_bench Adapter")
    name = getattr(adapter, "name", "")
    if not name or ":" in name:
        raise PotentialError(f"{origin}: adapter name {name!r} must be non-empty without ':'")
    if name in registry:
        raise PotentialError(
            f"{origin}: adapter name {name!r} is already taken by "
            f"{type(registry[name]).__module__}.{type(registry[name]).__name__}"
        )
    registry[name] = adapter


@cache
def adapters() -> dict[str, Adapter]:
    """Every adapter by name: built-ins first, then valid plugins (broken ones warn and are skipped)."""
    registry: dict[str, Adapter] = {}
    for adapter in _builtin_adapters():
        register(registry, adapter, origin="built-in")
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {ep.name!r} ({ep.value}) in group {ENTRY_POINT_GROUP}"
        try:
            register(registry, ep.load(), origin=origin)
        except Exception as exc:  # a broken plugin must not break the suite
            warnings.warn(f"skipping {origin}: {type(exc).__name__}: {exc}", stacklevel=2)
    return registry


@dataclass(frozen=True)
class Potential:
    """A resolved spec: its adapter, argument and description. The calculator is built on demand."""

    adapter: Adapter
    arg: str
    info: PotentialInfo

    def calculator(self) -> Any:
        self.adapter.require()
        return self.adapter.make_calculator(self.arg)


def split_spec(spec: str) -> tuple[str, str]:
    name, _, arg = spec.strip().partition(":")
    return name, arg


def load_potential(spec: str) -> Potential:
    """Resolve a spec such as ``emt``, ``eam:Al_mm.eam.fs`` or ``python:pkg.mod:factory``.

    Raises UnknownPotentialError (listing the known names), OptionalDependencyError or
    PotentialError (bad argument, missing file).
    """
    name, arg = split_spec(spec)
    registry = adapters()
    if name not in registry:
        raise UnknownPotentialError(
            f"unknown potential {spec!r}: no adapter named {name!r} (known: {', '.join(sorted(registry))})"
        )
    adapter = registry[name]
    adapter.require()
    return Potential(adapter=adapter, arg=arg, info=adapter.describe(arg))
