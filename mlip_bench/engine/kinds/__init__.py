"""Task kinds by name. A new kind is a :class:`TaskKind` subclass added to :data:`KINDS`.

Dataset kinds: ``rmse`` (errors against DFT labels), and the alloy kinds of paper 001
(``phase_rmse``, ``ranking``, ``lec``, ``ground_phase``, ``convex_hull``, ``phase_transition``,
``irregular``). Crystal kinds (simulations from task-built structures): ``eos``, ``elastic``,
``phonons``, ``gsfe``, ``point_defects``, ``surfaces``, ``cold_curves``, ``bain_path``,
``trigonal_path``, ``elastic_alloy`` (SQS solid solutions, finite-temperature stress-strain).
"""

from __future__ import annotations

from mlip_bench.engine.kinds.alloy_elastic import AlloyElasticKind
from mlip_bench.engine.kinds.alloy_ordering import GroundPhaseKind, LecKind, PhaseRmseKind, RankingKind
from mlip_bench.engine.kinds.alloy_stability import ConvexHullKind, IrregularKind, PhaseTransitionKind
from mlip_bench.engine.kinds.base import Outcome, TaskContext, TaskKind
from mlip_bench.engine.kinds.crystal import ElasticKind, EosKind
from mlip_bench.engine.kinds.defects import PointDefectsKind, SurfacesKind
from mlip_bench.engine.kinds.gsfe import GsfeKind
from mlip_bench.engine.kinds.paths import BainPathKind, ColdCurvesKind, TrigonalPathKind
from mlip_bench.engine.kinds.phonons import PhononsKind
from mlip_bench.engine.kinds.rmse import RmseKind

KINDS: dict[str, TaskKind] = {
    kind.name: kind
    for kind in (
        RmseKind(),
        PhaseRmseKind(),
        RankingKind(),
        LecKind(),
        GroundPhaseKind(),
        ConvexHullKind(),
        PhaseTransitionKind(),
        IrregularKind(),
        EosKind(),
        ElasticKind(),
        PhononsKind(),
        GsfeKind(),
        PointDefectsKind(),
        SurfacesKind(),
        ColdCurvesKind(),
        BainPathKind(),
        TrigonalPathKind(),
        AlloyElasticKind(),
    )
}

__all__ = ["KINDS", "Outcome", "TaskContext", "TaskKind"]
