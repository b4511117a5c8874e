"""The provenance block of every file `mlip-bench reference` writes (curves, engine/reference.py;
datasets, engine/reference_dataset.py): the tool and code version, the date, the calculator with
every setting, the task with its effective parameters and file checksum, the environment, and the
checksums of the calculator's own input files (PAW setups)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlip_bench import __version__
from mlip_bench.adapters.base import PotentialInfo
from mlip_bench.adapters.registry import Potential
from mlip_bench.data.extxyz import sha256_of
from mlip_bench.engine.identity import code_version
from mlip_bench.engine.kinds import get_kind
from mlip_bench.engine.records import Environment
from mlip_bench.engine.spec import TaskSpec


def effective_parameters(task: TaskSpec) -> dict[str, Any]:
    """Every parameter the kind declares, with the task's value or the declared default."""
    out = {p.name: p.default for p in get_kind(task.kind).parameters}
    return out | dict(task.parameters)


def base_provenance(info: PotentialInfo, env: Environment, task: TaskSpec | None = None) -> dict[str, Any]:
    """The provenance every reference file carries (curves and datasets): generator, date,
    calculator with every setting, the task with its effective parameters and the file's checksum
    (when there is a task), and the environment."""
    block: dict[str, Any] = {
        "generator": {"tool": "mlip-bench reference", "mlip_bench": __version__, "code_version": code_version()},
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "calculator": {
            "spec": info.spec,
            "name": info.name,
            "family": info.family,
            "version": info.version,
            "citation": info.citation,
            "method": info.reference_method,
            "settings": dict(info.options),
        },
    }
    if task is not None:
        source = Path(task.source.split(" (parameters overridden")[0])
        block["task"] = {
            "id": task.id,
            "version": task.version,
            "kind": task.kind,
            "title": task.title,
            "spec_sha256": task.sha256,
            "file": str(source),
            "file_sha256": sha256_of(source) if source.is_file() else "",
            "parameters": effective_parameters(task),
            "structures": [asdict(s) for s in task.structures],
        }
    block["environment"] = {
        "python": env.python,
        "platform": env.platform,
        "packages": dict(env.packages),
        "omp_num_threads": env.omp_num_threads,
    }
    return block


def input_checksums(potential: Potential, elements: Iterable[str]) -> dict[str, str]:
    """Checksums of the calculator's input files for `elements`, from the adapter's optional
    ``input_checksums(arg, elements)`` (the gpaw adapter's PAW setups; {} for other adapters; a
    potential file's checksum is already in its version)."""
    hook = getattr(potential.adapter, "input_checksums", None)
    return dict(hook(potential.arg, sorted(set(elements)))) if hook is not None else {}
