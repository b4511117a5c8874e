"""Generator specs: ``tasks/training/generators/*.yaml``, one generator with its parameters each.

A spec file holds ``id``, ``generator`` (a name in :data:`GENERATORS`), ``title``, ``citation``,
optional ``description``, ``seed`` (integer >= 0, default 0), ``parameters`` (the generator's
settings; any not given keep the paper's default) and optional ``structures``, the parents of
generators that transform structures: each ``{id, file}`` (ASE-readable, relative to the spec's
folder; every frame) or ``{id, symbols, basis, spacegroup, cellpar, repeat}`` (``ase.spacegroup.crystal``).

Every problem raises TaskSpecError naming the file and the field (``parameters/n_structures``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from ase import Atoms

from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.engine.spec import check_plain
from mlip_bench.errors import TaskSpecError
from mlip_bench.training.generators import (
    disordered_cells,
    distortions,
    random_crystals,
    sqs_strains,
    staged_relaxation,
    swap_orderings,
    temperature_md,
)
from mlip_bench.training.generators.common import as_tuple


@dataclass(frozen=True)
class Generator:
    """A generator: its settings class, what it needs besides settings (``structures``, ``oracle``
    or ``calculator``), whether it takes a seed, and the paper it follows."""

    settings: type
    needs: tuple[str, ...]
    seeded: bool
    paper: str
    run: Callable[..., Any]


GENERATORS: dict[str, Generator] = {
    random_crystals.NAME: Generator(random_crystals.RandomCrystalSettings, (), True, "002", random_crystals.generate),
    staged_relaxation.NAME: Generator(
        staged_relaxation.StagedRelaxationSettings, ("structures", "oracle"), False, "002", staged_relaxation.generate
    ),
    distortions.NAME: Generator(distortions.DistortionSettings, ("structures",), True, "002", distortions.generate),
    disordered_cells.NAME: Generator(
        disordered_cells.DisorderedCellSettings, (), True, "003", disordered_cells.generate
    ),
    temperature_md.NAME: Generator(
        temperature_md.TemperatureMdSettings, ("structures", "calculator"), True, "003", temperature_md.generate
    ),
    swap_orderings.NAME: Generator(
        swap_orderings.SwapOrderingSettings, ("structures",), True, "001", swap_orderings.generate
    ),
    sqs_strains.NAME: Generator(sqs_strains.SqsStrainSettings, (), True, "000", sqs_strains.generate),
}

_TOP = {"id", "generator", "title", "citation", "description", "seed", "parameters", "structures"}
_REQUIRED = ("id", "generator", "title", "citation")
_ANNOTATION_SCHEMAS: dict[str, dict[str, Any]] = {
    "float": {"type": "number"},
    "int": {"type": "integer"},
    "str": {"type": "string"},
    "tuple[str, ...]": {"type": "array", "items": {"type": "string"}},
    "tuple[float, ...]": {"type": "array", "items": {"type": "number"}},
    "tuple[Any, ...]": {"type": "array"},
}


@dataclass(frozen=True)
class GeneratorSpec:
    """A validated spec: `settings` is the generator's settings dataclass; `structures` the parents
    built from the file (empty when it names none); `sha256` of the file's text."""

    id: str
    generator: str
    title: str
    citation: str
    description: str
    seed: int
    settings: Any
    structures: tuple[Atoms, ...]
    source: str
    sha256: str


def load_generator_spec(path: Path | str) -> GeneratorSpec:
    """Read and validate one spec file; TaskSpecError naming the file and field on any problem."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
        raw = load_yaml(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TaskSpecError(f"{source}: cannot read the generator spec: {exc}") from exc
    return parse_generator_spec(raw, source=source, base=path.parent, sha256=hashlib.sha256(text.encode()).hexdigest())


def parse_generator_spec(raw: Any, *, source: str, base: Path = Path("."), sha256: str = "") -> GeneratorSpec:
    """Validate a loaded YAML mapping (see the module doc); `base` resolves structure files."""
    if not isinstance(raw, Mapping):
        raise TaskSpecError(f"{source}: field (top level): a mapping is required, got {type(raw).__name__}")
    check_plain(raw, source, "")
    for key in raw:
        if key not in _TOP:
            raise TaskSpecError(f"{source}: field {key}: unknown (allowed: {', '.join(sorted(_TOP))})")
    for key in _REQUIRED:
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise TaskSpecError(f"{source}: field {key}: a non-empty string is required")
    name = raw["generator"]
    if name not in GENERATORS:
        raise TaskSpecError(f"{source}: field generator: unknown {name!r} (known: {', '.join(sorted(GENERATORS))})")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise TaskSpecError(f"{source}: field seed: an integer >= 0 is required, got {seed!r}")
    settings = build_settings(name, raw.get("parameters") or {}, source=source)
    structures = _structures(raw.get("structures"), source, base)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise TaskSpecError(f"{source}: field description: a string is required")
    return GeneratorSpec(
        raw["id"], name, raw["title"], raw["citation"], description, seed, settings, structures, source, sha256
    )


def parameter_schemas(name: str) -> dict[str, dict[str, Any]]:
    """JSON-schema of each settings field of generator `name` (types only; bounds are the
    settings' own checks)."""
    return {f.name: _ANNOTATION_SCHEMAS.get(str(f.type), {}) for f in dataclasses.fields(GENERATORS[name].settings)}


def build_settings(name: str, parameters: Any, *, source: str) -> Any:
    """Generator `name`'s settings from a ``parameters`` mapping; TaskSpecError naming `source` and
    ``parameters/<key>`` for an unknown key, a wrong type or a value out of range."""
    if not isinstance(parameters, Mapping):
        raise TaskSpecError(f"{source}: field parameters: a mapping is required")
    schemas = parameter_schemas(name)
    kwargs: dict[str, Any] = {}
    for key, value in parameters.items():
        if key not in schemas:
            raise TaskSpecError(
                f"{source}: field parameters/{key}: generator {name!r} has no such parameter "
                f"(known: {', '.join(schemas)})"
            )
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schemas[key]).iter_errors(value))
        if error is not None:
            where = "/".join(["parameters", str(key), *(str(p) for p in error.absolute_path)])
            raise TaskSpecError(f"{source}: field {where}: {error.message}")
        kwargs[key] = float(value) if schemas[key].get("type") == "number" else as_tuple(value)
    try:
        return GENERATORS[name].settings(**kwargs)
    except TaskSpecError as exc:
        raise TaskSpecError(f"{source}: {exc}") from exc


def run_spec(
    spec: GeneratorSpec,
    *,
    structures: Sequence[Atoms] | None = None,
    oracle: Any = None,
    calculator: Any = None,
    stop: Callable[[Atoms], bool] | None = None,
) -> list[Atoms]:
    """Run the spec's generator; `structures` (else the spec's own) are the parents. Sets come back
    in one list, each structure's ``info["set"]`` naming its set where the generator makes several.
    Raises TaskSpecError naming the spec when an input the generator needs is missing."""
    generator = GENERATORS[spec.generator]
    parents = list(structures) if structures is not None else list(spec.structures)
    given = {"structures": bool(parents), "oracle": oracle is not None, "calculator": calculator is not None}
    missing = [need for need in generator.needs if not given[need]]
    if missing:
        raise TaskSpecError(f"{spec.source}: generator {spec.generator!r} needs {', '.join(missing)}")
    kwargs: dict[str, Any] = {"seed": spec.seed} if generator.seeded else {}
    if "oracle" in generator.needs:
        kwargs["oracle"] = oracle
    if "calculator" in generator.needs:
        kwargs.update(calculator=calculator, stop=stop)
    args = (parents, spec.settings) if "structures" in generator.needs else (spec.settings,)
    result = generator.run(*args, **kwargs)
    if isinstance(result, dict):
        return [atoms for group in result.values() for atoms in group]
    return list(result)


def _structures(raw: Any, source: str, base: Path) -> tuple[Atoms, ...]:
    from mlip_bench.training.generators.structures import build_structures

    return build_structures(raw, source=source, base=base)
