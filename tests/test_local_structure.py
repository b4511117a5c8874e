"""PTM through asap3: perfect and thermally rattled crystals are recognised, a disordered cell is
not, and a mixed cell gives the mixed fractions."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from mlip_bench.errors import PropertyError
from mlip_bench.properties.local_structure import STRUCTURES, classify, fractions

pytest.importorskip("asap3")

CRYSTALS = {
    "fcc": bulk("Al", "fcc", a=4.05, cubic=True).repeat(5),
    "bcc": bulk("Al", "bcc", a=3.24, cubic=True).repeat(6),
    "hcp": bulk("Mg", "hcp", a=3.21, c=5.21).repeat((6, 6, 4)),
    "sc": bulk("Po", "sc", a=3.35).repeat(7),
}


@pytest.mark.parametrize("name", sorted(CRYSTALS))
def test_crystals_are_recognised_also_when_rattled(name: str) -> None:
    atoms = CRYSTALS[name]
    assert getattr(fractions(classify(atoms)), name) == 1.0
    hot = atoms.copy()
    hot.rattle(0.08, seed=1)  # about the amplitude of Al near its melting point
    assert getattr(fractions(classify(hot)), name) > 0.9


def test_a_disordered_cell_is_not_solid_and_a_half_half_cell_is_half_solid() -> None:
    rng = np.random.default_rng(0)
    atoms = CRYSTALS["fcc"].copy()
    atoms.positions += rng.normal(0.0, 0.5, atoms.positions.shape)
    assert fractions(classify(atoms)).solid < 0.05
    half = CRYSTALS["fcc"].repeat((2, 1, 1))
    upper = half.positions[:, 0] > half.cell[0, 0] / 2
    half.positions[upper] += rng.normal(0.0, 0.5, (int(upper.sum()), 3))
    got = fractions(classify(half))
    assert 0.4 < got.fcc < 0.55 and abs(sum(vars(got).values()) - 1.0) < 1e-12


def test_bad_input_is_named() -> None:
    with pytest.raises(PropertyError, match="periodic"):
        classify(Atoms("Al2", positions=[[0, 0, 0], [2, 0, 0]]))
    with pytest.raises(PropertyError, match="codes"):
        fractions(np.array([len(STRUCTURES)]))
