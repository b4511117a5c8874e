"""The averaging window of an MD run: the last ``average_steps`` steps in ``blocks`` blocks of
``numpy.array_split`` sizes (the first ones one step longer). Engines hand in sums over intervals
that never straddle a block edge; the sums travel in checkpoints, so a resumed run's averages are
those of an uninterrupted one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mlip_bench.errors import PropertyError


@dataclass(frozen=True)
class IntervalSums:
    """Sums over `count` consecutive steps: Voigt stress (6,) GPa or None, cell (3, 3) Å, continuous
    fractional positions (n, 3), potential energy eV, temperature K."""

    count: int
    stress_GPa: np.ndarray | None
    cell_A: np.ndarray
    scaled_positions: np.ndarray
    potential_energy_eV: float
    temperature_K: float


class Window:
    """Running sums of one run's averaging window (empty when ``average_steps`` is 0)."""

    def __init__(self, n_steps: int, average_steps: int, blocks: int, n_atoms: int) -> None:
        self.edges = self.edges_of(n_steps, average_steps, blocks)
        self.n_blocks = max(len(self.edges) - 1, 0)
        self.count = np.zeros(self.n_blocks, dtype=np.int64)
        self.stress = np.zeros((self.n_blocks, 6))
        self.cell = np.zeros((3, 3))
        self.scaled = np.zeros((n_atoms, 3))
        self.scalars = np.zeros(2)  # potential energy, temperature
        self.has_stress = True

    @staticmethod
    def edges_of(n_steps: int, average_steps: int, blocks: int) -> tuple[int, ...]:
        """Steps where the window's blocks start, and its end (`n_steps`); () without a window."""
        if average_steps <= 0:
            return ()
        base, extra = divmod(average_steps, blocks)
        sizes = [base + 1] * extra + [base] * (blocks - extra)
        return tuple(int(e) for e in n_steps - average_steps + np.cumsum([0, *sizes]))

    def block_at(self, step: int) -> int | None:
        """The block that the interval starting at `step` belongs to, None before the window."""
        for b in range(self.n_blocks):
            if self.edges[b] <= step < self.edges[b + 1]:
                return b
        return None

    def add(self, block: int, sums: IntervalSums) -> None:
        self.count[block] += sums.count
        if sums.stress_GPa is None:
            self.has_stress = False
        else:
            self.stress[block] += sums.stress_GPa
        self.cell += sums.cell_A
        self.scaled += sums.scaled_positions
        self.scalars += (sums.potential_energy_eV, sums.temperature_K)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Checkpoint arrays and their shapes."""
        return {k: v.shape for k, v in self.arrays().items()}

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "window_count": self.count,
            "window_stress": self.stress,
            "window_cell": self.cell,
            "window_scaled": self.scaled,
            "window_scalars": self.scalars,
            "window_has_stress": np.array(self.has_stress),
        }

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.count = np.array(arrays["window_count"], dtype=np.int64)
        self.stress = np.array(arrays["window_stress"], dtype=float)
        self.cell = np.array(arrays["window_cell"], dtype=float)
        self.scaled = np.array(arrays["window_scaled"], dtype=float)
        self.scalars = np.array(arrays["window_scalars"], dtype=float)
        self.has_stress = bool(arrays["window_has_stress"])

    def means(self) -> tuple[int, np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
        """(steps, stress mean, block means, cell, fractional positions, [energy, temperature]).
        Raises PropertyError when the window is incomplete (an engine skipped steps)."""
        sizes = np.diff(self.edges)
        if not np.array_equal(self.count, sizes):
            seen, expected = self.count.tolist(), sizes.tolist()
            raise PropertyError(f"averaging window saw {seen} steps per block, expected {expected}")
        total = int(sizes.sum())
        stress = self.stress.sum(axis=0) / total if self.has_stress else None
        blocks = self.stress / sizes[:, None] if self.has_stress else None
        return total, stress, blocks, self.cell / total, self.scaled / total, self.scalars / total
