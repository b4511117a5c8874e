"""What determines a result, as content hashes: the suite's computing code, a potential (its
version, its files, the packages that evaluate it), a task's declared inputs outside its file
(dataset, reference potential, force sets, reference curves), and the versions of the packages
that compute. A cell key or a work-item key changes exactly when one of these does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from mlip_bench import __version__
from mlip_bench.adapters.base import package_version
from mlip_bench.adapters.registry import Potential, load_potential
from mlip_bench.data.extxyz import sha256_of
from mlip_bench.data.registry import fingerprint
from mlip_bench.engine.records import SCHEMA_VERSION
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.paths import resolve_input_file, using_data_root

#: packages every computation goes through (structures, numerics, symmetry)
CORE_PACKAGES = ("ase", "numpy", "scipy", "spglib")


@cache
def code_version() -> str:
    """sha256 of the suite's computing code (adapters, data, engine, metrics, properties): a fix
    in any of them must invalidate stored results; reports and the CLI do not."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for folder in ("adapters", "data", "engine", "metrics", "properties"):
        for path in sorted((package / folder).rglob("*.py")):
            digest.update(path.read_bytes())
    digest.update((package / "units.py").read_bytes())
    return digest.hexdigest()[:16]


@cache
def _import_to_distributions() -> dict[str, list[str]]:
    """importlib's import-name -> distributions map, built once per process (0.3 s a call)."""
    import importlib.metadata

    return dict(importlib.metadata.packages_distributions())


def _distributions_of(module: str) -> tuple[str, ...]:
    return tuple(_import_to_distributions().get(module, (module,)))


#: a distribution's version, looked up once per process (importlib.metadata scans every path entry
#: on each lookup: 2-10 ms, and a leaderboard asks for the same few per cell)
@cache
def _version(dist: str) -> str:
    return package_version(dist)


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of import or distribution names (mapped to distributions), sorted."""
    out: dict[str, str] = {}
    for name in names:
        for dist in _distributions_of(name):
            out[dist] = _version(dist)
    return dict(sorted(out.items()))


def potential_identity(potential: Potential) -> list[object]:
    """Spec, version (file or package hashes, declared model files) and the versions of the
    packages its adapter needs."""
    info = potential.info
    return [info.spec, info.version, package_versions(potential.adapter.requires)]


def resolve(spec: str, data_root: str | None) -> Potential | Exception:
    """The potential of `spec`, or the exception that says why it cannot be resolved."""
    try:
        with using_data_root(data_root):
            return load_potential(spec)
    except Exception as exc:  # plugins and user modules can fail in any way; the record says why
        return exc


def _spec_identity(spec: str) -> list[object]:
    resolved = resolve(spec, None)
    if isinstance(resolved, Exception):
        return [spec, f"unresolved: {type(resolved).__name__}: {resolved}"]
    return potential_identity(resolved)


def _file_identity(text: str) -> str:
    path = resolve_input_file(text)
    return sha256_of(path) if path.is_file() else f"{text}: missing"


#: how the content of a declared input (a kind parameter with ``input=...``) is identified; reference
#: curves ("curve") are part of the task's own sha256 (spec.py)
IDENTIFY_INPUT: dict[str, Callable[[str], object]] = {"potential": _spec_identity, "file": _file_identity}


def cell_key(task: TaskSpec, potential: Potential | Exception, spec: str, data_root: str | None) -> str:
    """Content hash of everything that determines a cell's result."""
    from mlip_bench.engine.kinds import KINDS
    from mlip_bench.engine.parameters import input_parameters

    kind = KINDS.get(task.kind)
    packages = (*CORE_PACKAGES, *(kind.packages if kind is not None else ()))
    inputs = input_parameters(kind.parameters) if kind is not None else {}
    parts: dict[str, object] = {
        "task": task.sha256,
        "schema": SCHEMA_VERSION,
        "suite": __version__,
        "code": code_version(),
        "packages": package_versions(packages),
        "potential": (
            [spec, f"unresolved: {type(potential).__name__}: {potential}"]
            if isinstance(potential, Exception)
            else potential_identity(potential)
        ),
    }
    with using_data_root(data_root):
        if task.dataset:
            parts["dataset"] = fingerprint(task.dataset)
        for name, what in sorted(inputs.items()):
            if what in IDENTIFY_INPUT and (value := task.parameters.get(name)) is not None:
                parts[name] = IDENTIFY_INPUT[what](str(value))
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def predictions_key(potential: Potential) -> str:
    """Key of a potential's stored predictions: shared by every task, changed by the potential,
    the suite's code or the core packages."""
    parts = [potential_identity(potential), code_version(), package_versions(CORE_PACKAGES)]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
