"""Task kinds by name. A new kind is a :class:`TaskKind` subclass added to :data:`KINDS`."""

from __future__ import annotations

from mlip_bench.engine.kinds.base import Outcome, TaskContext, TaskKind
from mlip_bench.engine.kinds.crystal import ElasticKind, EosKind
from mlip_bench.engine.kinds.rmse import RmseKind

KINDS: dict[str, TaskKind] = {kind.name: kind for kind in (RmseKind(), EosKind(), ElasticKind())}

__all__ = ["KINDS", "Outcome", "TaskContext", "TaskKind"]
