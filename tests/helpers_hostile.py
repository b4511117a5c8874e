"""Misbehaving calculators for tests of bad potential output, used through specs such as
``python:helpers_hostile:ArrayEnergy``. Each is ASE's EMT, except on structures whose
``info["id"]`` ends in ":2" (the third of a small test set), where one result is replaced."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT


class _Corrupting(EMT):
    #: the result replaced on the ":2" structure
    field: ClassVar[str] = "energy"

    def bad_value(self) -> Any:
        raise NotImplementedError

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        if str(self.atoms.info.get("id", "")).endswith(":2"):
            self.results[self.field] = self.bad_value()


class ArrayEnergy(_Corrupting):
    """An energy that is an array of two numbers."""

    def bad_value(self) -> Any:
        return np.array([-1.0, -2.0])


class StringEnergy(_Corrupting):
    """An energy that is a string."""

    def bad_value(self) -> Any:
        return "-3.2 eV"


class NoneEnergy(_Corrupting):
    """No energy at all (None)."""

    def bad_value(self) -> Any:
        return None


class HugeEnergy(_Corrupting):
    """-1e7 eV/atom: beyond any physical scale, even all-electron."""

    def bad_value(self) -> Any:
        return -1.0e7 * len(self.atoms)


class HugeForces(_Corrupting):
    """A force of 1e5 eV/Å on atom 5."""

    field = "forces"

    def bad_value(self) -> Any:
        forces = np.array(self.results["forces"])
        forces[5] = [1.0e5, 0.0, 0.0]
        return forces


class StringForces(_Corrupting):
    """Forces that are a string."""

    field = "forces"

    def bad_value(self) -> Any:
        return "lots"


class HugeStress(_Corrupting):
    """A stress component of 1e4 eV/Å³ (1.6 PPa)."""

    field = "stress"

    def bad_value(self) -> Any:
        stress = np.array(self.results["stress"])
        stress[0] = 1.0e4
        return stress
