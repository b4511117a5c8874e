"""From a cell's outcome (or the reason it has none) to its :class:`ResultRecord`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from mlip_bench.adapters.registry import Potential
from mlip_bench.data.frames import Dataset
from mlip_bench.engine.environment import capture_environment
from mlip_bench.engine.kinds import Outcome
from mlip_bench.engine.records import (
    Counts,
    DatasetRecord,
    GroupMetrics,
    MetricValue,
    PotentialRecord,
    ResultRecord,
    TaskRecord,
    Timings,
)
from mlip_bench.engine.spec import TaskSpec


@dataclass
class CellCost:
    """What a cell cost: seconds inside the calculator for its results (whenever computed), wall
    seconds of its work in this run, potential calls made in this run, items lost in this run."""

    calculator_s: float = 0.0
    wall_s: float = 0.0
    calls: int = 0
    lost: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordBuilder:
    """Collects what is known about a cell as it is planned, run and reduced."""

    spec: str
    task: TaskSpec
    key: str
    potential: Potential | None = None
    dataset: Dataset | None = None
    cost: CellCost = field(default_factory=CellCost)

    def finish(
        self, status: str, message: str, outcome: Outcome | None = None, notes: tuple[str, ...] = ()
    ) -> ResultRecord:
        outcome = outcome or Outcome(values={}, items=())
        items = outcome.items
        counts = Counts(
            **{s: sum(i.status == s for i in items) for s in ("ok", "failed", "skipped", "invalid")},
            lost=len(self.cost.lost),
        )
        if status == "ok" and items and counts.ok == 0 and counts.failed:
            first = next(i.reason for i in items if i.status == "failed")
            status, message = "failed", f"all {counts.failed} scored items failed; the first: {first}"
        calc_s = self.cost.calculator_s
        wall = max(self.cost.wall_s, calc_s)
        return ResultRecord(
            key=self.key,
            task=TaskRecord(self.task.id, self.task.version, self.task.kind, self.task.title, self.task.sha256),
            potential=self._potential_record(),
            dataset=self._dataset_record(),
            status=status,
            message=message,
            metrics=metric_values(self.task, outcome.values, n=outcome.n_scored),
            groups=tuple(
                GroupMetrics(g.group, g.n_items, metric_values(self.task, g.values, n=g.n_items), g.labels, g.arrays)
                for g in outcome.groups
            ),
            items=items,
            counts=counts,
            timings=Timings(calculator_s=calc_s, suite_s=wall - calc_s, wall_s=wall, potential_calls=self.cost.calls),
            environment=capture_environment(),
            parameters=dict(self.task.parameters),
            notes=tuple(outcome.notes) + notes,
            created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def _potential_record(self) -> PotentialRecord:
        if self.potential is None:
            return PotentialRecord(self.spec, self.spec, "?", "?", None)
        i = self.potential.info
        elements = tuple(sorted(i.elements)) if i.elements is not None else None
        return PotentialRecord(
            i.spec, i.name, i.family, i.version, elements, i.citation, i.license, i.reference_method, i.uncertainty
        )

    def _dataset_record(self) -> DatasetRecord | None:
        d = self.dataset
        if d is None:
            return None
        p = d.provenance
        return DatasetRecord(d.id, p.path, p.sha256, len(d), p.citation, p.source, p.license, p.method)


def metric_values(task: TaskSpec, values: dict[str, float], *, n: int) -> tuple[MetricValue, ...]:
    """Spec'd metrics first (with unit, direction and literature target), then any other value
    the kind produced (direction "none")."""
    out = []
    for m in task.metrics:
        ref = m.reference
        out.append(
            MetricValue(
                name=m.name,
                value=float(values.get(m.name, float("nan"))),
                unit=m.unit,
                direction=m.direction,
                label=m.label or m.name,
                target=ref.value if ref else None,
                reference=f"{ref.citation} ({ref.kind})" if ref else "",
                n=n,
                reference_key=ref.key if ref else "",
            )
        )
    named = {m.name for m in task.metrics}
    out.extend(
        MetricValue(name=k, value=float(v), unit="", direction="none", label=k, n=n, listed=False)
        for k, v in values.items()
        if k not in named
    )
    return tuple(out)
