"""Any ASE calculator without writing an adapter: ``python:module:factory`` calls
``module.factory()`` and uses the calculator it returns (the module must be importable)."""

from __future__ import annotations

import importlib
from typing import Any

from mlip_bench.adapters.base import Adapter, PotentialInfo, file_version
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
        return PotentialInfo(
            spec=f"python:{arg}",
            name=getattr(factory, "__name__", arg),
            family=self.name,
            version=version,
            elements=None,
            citation=(factory.__doc__ or "").strip().split("\n")[0],
        )

    def make_calculator(self, arg: str) -> Any:
        calc = self._factory(arg)()
        if not hasattr(calc, "get_potential_energy") and not hasattr(calc, "calculate"):
            raise PotentialError(f"python:{arg}: factory returned {type(calc).__name__}, not an ASE calculator")
        return calc
