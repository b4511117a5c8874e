"""Which sampled snapshots go to the oracle, with the same budget for every strategy.

- ``gamma``: snapshots with γ >= γ_select, the most extrapolative first, taken from the
  trajectories in turn so that one runaway trajectory does not fill the budget (paper 002 App. E);
- ``random``: snapshots drawn uniformly from all that were sampled (the baseline).
"""

from __future__ import annotations

import numpy as np

from mlip_bench.training.sampling import Candidate, Sample

STRATEGIES = ("gamma", "random")


def select(found: Sample, *, strategy: str, n: int, gamma_select: float, seed: int) -> list[Candidate]:
    """At most `n` snapshots of `found` by `strategy` (module docstring); random draws derive from
    `seed`. Raises ValueError for an unknown strategy."""
    pool = list(found.candidates)
    if strategy == "random":
        picks = np.random.default_rng([seed, 2]).permutation(len(pool))[:n]
        return [pool[i] for i in sorted(picks)]
    if strategy != "gamma":
        raise ValueError(f"strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    queues: dict[int, list[Candidate]] = {}
    for cand in sorted(pool, key=lambda c: -c.gamma if np.isfinite(c.gamma) else -np.inf):
        if cand.gamma >= gamma_select:
            queues.setdefault(cand.trajectory, []).append(cand)
    chosen: list[Candidate] = []
    while len(chosen) < n and any(queues.values()):
        for queue in sorted(queues.values(), key=lambda q: -q[0].gamma if q else 0.0):
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    return chosen
