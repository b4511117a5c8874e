"""Any ASE calculator without writing an adapter: ``python:module:factory`` calls
``module.factory()`` and uses the calculator it returns (the module must be importable).

The potential's version is the sha256 of the module's source plus that of every file the factory
declares in a ``model_files`` attribute (weights, parameter files; relative paths are relative to
the module's folder), so a changed weights file is never scored with stale results.

A factory whose calculator reports its own uncertainty declares it in an ``uncertainty`` attribute
(an :class:`~mlip_bench.adapters.uncertainty.UncertaintyInfo`), as adapters do."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from mlip_bench.adapters.base import Adapter, PotentialInfo, file_version
from mlip_bench.adapters.uncertainty import UncertaintyInfo
from mlip_bench.errors import PotentialError


class PythonFactoryAdapter(Adapter):
    name = "python"
    summary = "any ASE calculator: python:module:factory calls module.factory()"
    example = "python:ase.calculators.emt:EMT"

    def _factory(self, arg: str) -> Any:
        module_name, _, attr = arg.partition(":")
        if not module_name or not attr:
            raise PotentialError(f"python spec needs module and factory: python:module:factory, got {arg!r}")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a user's module can fail with any error while importing
            raise PotentialError(
                f"python:{arg}: cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
            ) from exc
        factory = getattr(module, attr, None)
        if not callable(factory):
            raise PotentialError(f"python:{arg}: {module_name} has no callable {attr!r}")
        return factory

    def describe(self, arg: str) -> PotentialInfo:
        factory = self._factory(arg)
        module = importlib.import_module(arg.partition(":")[0])
        source = getattr(module, "__file__", None)
        # the module's source identifies the potential better than a version string that may lag
        version = file_version(source) if source else str(getattr(module, "__version__", "unversioned"))
        # weights and parameter files the factory reads change results as much as its code does
        for path in _model_files(factory, arg, Path(source).parent if source else Path.cwd()):
            version += f"; {path.name} {file_version(path)}"
        return PotentialInfo(
            spec=f"python:{arg}",
            name=getattr(factory, "__name__", arg),
            family=self.name,
            version=version,
            elements=None,
            citation=(factory.__doc__ or "").strip().split("\n")[0],
            uncertainty=_uncertainty(factory, arg),
        )

    def make_calculator(self, arg: str) -> Any:
        calc = self._factory(arg)()
        if not hasattr(calc, "get_potential_energy") and not hasattr(calc, "calculate"):
            raise PotentialError(f"python:{arg}: factory returned {type(calc).__name__}, not an ASE calculator")
        return calc


def _uncertainty(factory: Any, arg: str) -> UncertaintyInfo | None:
    """The factory's declared ``uncertainty``; raises PotentialError when it is not an UncertaintyInfo."""
    declared = getattr(factory, "uncertainty", None)
    if declared is None or isinstance(declared, UncertaintyInfo):
        return declared
    raise PotentialError(
        f"python:{arg}: the factory's 'uncertainty' attribute is a {type(declared).__name__}, "
        "not a mlip_bench.adapters.uncertainty.UncertaintyInfo"
    )


def _model_files(factory: Any, arg: str, base: Path) -> list[Path]:
    """The files a factory declares it reads (``factory.model_files``: paths, relative ones to its
    module's folder). Raises PotentialError for a declared file that does not exist."""
    declared = getattr(factory, "model_files", ())
    if isinstance(declared, str | Path):
        declared = (declared,)
    paths = []
    for entry in declared:
        path = Path(entry).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise PotentialError(f"python:{arg}: model file {entry!r} declared in model_files does not exist ({path})")
        paths.append(path)
    return paths
