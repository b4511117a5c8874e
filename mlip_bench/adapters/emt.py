"""Effective-medium theory: asap3's C++ EMT (about 60x faster than ASE's), with ASE's
pure-Python EMT as a fallback that warns."""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

from mlip_bench.adapters.base import Adapter, PotentialInfo, package_version
from mlip_bench.adapters.supercell import ReplicatingCalculator

_ASAP_ELEMENTS = frozenset({"Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"})
#: asap3 asked for cell heights above 11.2 Å for Al-Li cells; a margin covers its other elements
ASAP_MIN_HEIGHT_A = 12.0
_CITATION = "K. W. Jacobsen, P. Stoltze, J. K. Norskov, Surf. Sci. 366 (1996) 394"


class EMTAdapter(Adapter):
    name = "emt"
    summary = "effective-medium theory (asap3; ASE's slower EMT if asap3 is missing)"
    example = "emt"

    @staticmethod
    def _has_asap() -> bool:
        return importlib.util.find_spec("asap3") is not None

    def describe(self, arg: str) -> PotentialInfo:
        engine = "asap3" if self._has_asap() else "ase"
        return PotentialInfo(
            spec="emt",
            name="EMT",
            family=self.name,
            version=f"{engine} {package_version(engine)}",
            elements=_ASAP_ELEMENTS,
            citation=_CITATION,
            license="LGPL (asap3/ASE)",
            options={"engine": engine},
        )

    def make_calculator(self, arg: str) -> Any:
        if self._has_asap():
            from asap3 import EMT

            # asap3 refuses some periodic cells thinner than twice its cutoff (seen: 8.6 Å Li-Al cells)
            return ReplicatingCalculator(EMT(), min_height_A=ASAP_MIN_HEIGHT_A)
        warnings.warn(
            "asap3 not installed: using ASE's pure-Python EMT, about 60x slower (pip install mlip-bench[emt])",
            stacklevel=2,
        )
        from ase.calculators.emt import EMT as AseEMT

        return AseEMT()
