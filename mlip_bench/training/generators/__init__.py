"""Training-data generators of the papers, each with the paper's defaults (see each module):

- paper 002: :mod:`.random_crystals` (RANDSPG), :mod:`.staged_relaxation` (VOLMIN, CELLMIN,
  INTMIN by an oracle), :mod:`.distortions` (TRIAX, SHEAR, RATTLE); :mod:`.paper002` chains them;
- paper 003: :mod:`.disordered_cells` (random cells, r_min rejection), :mod:`.temperature_md`
  (Langevin MD under the Eq. 2 random temperature schedules);
- paper 001: :mod:`.swap_orderings` (symmetry-distinct swapped orderings);
- paper 000: :mod:`.sqs_strains` (icet SQS and the paper's ±0.5/±1 % strains).

Each takes a frozen, keyword-only settings dataclass and a seed and returns ``list[Atoms]`` (or sets
of them by name) with provenance in ``atoms.info`` (:mod:`.common`). :mod:`.spec` loads the YAML
specs of ``tasks/training/generators/``.
"""

from __future__ import annotations

from mlip_bench.training.generators.spec import GENERATORS, GeneratorSpec, load_generator_spec, run_spec

__all__ = ["GENERATORS", "GeneratorSpec", "load_generator_spec", "run_spec"]
