"""Unit conversions. mlip-bench works internally in ASE units: eV, Å, eV/Å³ (stress tensile-positive,
Voigt order xx yy zz yz xz xy); reports convert at the edge with these factors."""

from __future__ import annotations

from ase.units import GPa as _ASE_GPA

#: multiply a stress or modulus in eV/Å³ by this to get GPa
EV_PER_A3_TO_GPA: float = 1.0 / _ASE_GPA
#: multiply eV by this to get meV
EV_TO_MEV: float = 1000.0
#: multiply eV/Å² by this to get mJ/m² (surface and stacking-fault energies)
EV_PER_A2_TO_MJ_PER_M2: float = 16021.766208

VOIGT_ORDER: tuple[str, ...] = ("xx", "yy", "zz", "yz", "xz", "xy")
