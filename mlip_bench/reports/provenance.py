"""What a report's numbers rest on, as rows a reader can check: datasets (path relative to the data
root, checksum, citation) and potentials (version, citation), for every output format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlip_bench.errors import MlipBenchError
from mlip_bench.reports.leaderboard import Table

#: shown where a potential's files and package name no reference
NO_CITATION = "not stated by the potential's files or package"


@dataclass(frozen=True)
class DatasetSource:
    id: str
    #: relative to the data root for registered datasets, as given otherwise (``--dataset``)
    path: str
    sha256: str
    n_structures: int
    citation: str
    source: str
    license: str
    method: str


@dataclass(frozen=True)
class PotentialSource:
    label: str
    spec: str
    version: str
    citation: str
    license: str
    reference_method: str


def dataset_sources(tables: Sequence[Table]) -> tuple[DatasetSource, ...]:
    """Each dataset (id, checksum) behind `tables` once, in order of appearance."""
    seen: dict[tuple[str, str], DatasetSource] = {}
    for record in (r for t in tables for r in t.records):
        d = record.dataset
        if d is not None and (d.id, d.sha256) not in seen:
            path = display_path(d.path, d.id)
            seen[(d.id, d.sha256)] = DatasetSource(
                d.id, path, d.sha256, d.n_structures, d.citation, d.source, d.license, d.method
            )
    return tuple(seen.values())


def potential_sources(tables: Sequence[Table]) -> tuple[PotentialSource, ...]:
    """Each potential behind `tables` once, labelled as in the tables."""
    labels = {row.spec: row.label for t in tables for row in t.rows}
    seen: dict[str, PotentialSource] = {}
    for p in (r.potential for t in tables for r in t.records):
        if p.spec not in seen:
            citation = p.citation if p.citation.strip() not in ("", "Unknown") else NO_CITATION
            seen[p.spec] = PotentialSource(
                labels.get(p.spec, p.name), p.spec, p.version, citation, p.license, p.reference_method
            )
    return tuple(seen.values())


def display_path(path: str, dataset_id: str = "") -> str:
    """`path` as a reader can find it on any machine: a registered dataset's path under the data
    root (``li_al/validation.extxyz.gz``), else relative to the current data root when under it,
    else unchanged."""
    from mlip_bench.data.registry import registered_datasets
    from mlip_bench.paths import resolve_data_root

    try:
        entry = registered_datasets().get(dataset_id)
    except MlipBenchError:  # a broken registry must not stop a report
        entry = None
    if entry is not None and entry.path and Path(path).as_posix().endswith("/" + entry.path):
        return entry.path
    root = resolve_data_root()
    if root is not None and path:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return path
