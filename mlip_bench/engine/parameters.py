"""Typed task parameters: what a kind declares (:class:`Param`: name, default, JSON-schema type and
allowed values, unit, doc) and the checks a task file gets against it when it loads (unknown key,
wrong type or value, missing required key, a metric the kind cannot produce).

The declared default is the single source of truth: :meth:`TaskContext.parameter` returns it for a
parameter the task does not set. Validation never rewrites a task's ``parameters`` (they are hashed
into the task's identity as written).
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jsonschema

from mlip_bench.errors import KindError, TaskSpecError

#: what an input-type parameter names outside the task file (its content changes results, so the
#: engine fingerprints it): a potential spec, a file path, a key in ``reference_data/curves``
INPUT_TYPES = ("potential", "file", "curve")

NUMBER: Mapping[str, Any] = {"type": "number"}
POSITIVE: Mapping[str, Any] = {"type": "number", "exclusiveMinimum": 0}
NON_NEGATIVE: Mapping[str, Any] = {"type": "number", "minimum": 0}
INTEGER: Mapping[str, Any] = {"type": "integer"}
POSITIVE_INTEGER: Mapping[str, Any] = {"type": "integer", "minimum": 1}
BOOLEAN: Mapping[str, Any] = {"type": "boolean"}
STRING: Mapping[str, Any] = {"type": "string"}


def array(items: Mapping[str, Any], *, min_items: int = 0, max_items: int | None = None) -> dict[str, Any]:
    """Schema of a list of `items` (YAML sequence)."""
    out: dict[str, Any] = {"type": "array", "items": dict(items)}
    if min_items:
        out["minItems"] = min_items
    if max_items is not None:
        out["maxItems"] = max_items
    return out


def one_of(*values: Any) -> dict[str, Any]:
    """Schema allowing exactly `values`."""
    return {"enum": list(values)}


def nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` or null (YAML ``null``/``~``)."""
    return {"anyOf": [dict(schema), {"type": "null"}]}


@dataclass(frozen=True)
class Param:
    """One parameter a kind reads.

    `schema` is a JSON-schema fragment (draft 2020-12) for the value's type and allowed values; a
    ``default`` of None with `default_doc` says the kind computes the default at run time;
    `required` parameters have no default; `input` is one of :data:`INPUT_TYPES` when the value
    names something outside the task file whose content changes results.
    """

    name: str
    default: Any = None
    schema: Mapping[str, Any] = field(default_factory=dict)
    unit: str = ""
    doc: str = ""
    required: bool = False
    input: str = ""
    default_doc: str = ""

    @property
    def type_text(self) -> str:
        """The schema in words: ``number > 0``, ``array of integer``, ``one of: a, b``."""
        return _type_text(self.schema)

    @property
    def default_text(self) -> str:
        if self.required:
            return "required"
        if self.default is None and self.default_doc:
            return self.default_doc
        return _yaml_text(self.default)


def _type_text(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of: " + ", ".join(_yaml_text(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_type_text(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if kind == "array" and "items" in schema:
        text += f" of {_type_text(schema['items'])}"
    bounds = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    text += "".join(f" {op} {schema[key]}" for key, op in bounds.items() if key in schema)
    return text


def _yaml_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        value = list(value)
    return str(value)


def describe(parameters: Iterable[Param]) -> list[dict[str, str]]:
    """One row per parameter (name, type, default, unit, doc), for the docs or the CLI."""
    return [
        {"name": p.name, "type": p.type_text, "default": p.default_text, "unit": p.unit, "doc": p.doc}
        for p in parameters
    ]


def input_parameters(parameters: Iterable[Param]) -> dict[str, str]:
    """Parameter name -> input type (:data:`INPUT_TYPES`) of the parameters naming outside inputs."""
    return {p.name: p.input for p in parameters if p.input}


@cache
def _validator(schema_json: str) -> Any:
    return jsonschema.Draft202012Validator(json.loads(schema_json))


@cache
def _schema_problem(schema_json: str) -> str:
    """Why a parameter's schema is not a valid JSON schema ("" when it is); once per distinct schema
    (every kind declares a handful of the same few, and checking one costs milliseconds)."""
    try:
        jsonschema.Draft202012Validator.check_schema(json.loads(schema_json))
    except jsonschema.SchemaError as exc:
        return str(exc.message)
    return ""


def _validate(param: Param, value: Any) -> jsonschema.ValidationError | None:
    validator = _validator(json.dumps(param.schema, sort_keys=True))
    return jsonschema.exceptions.best_match(validator.iter_errors(value))


def check_declarations(parameters: Sequence[Param], *, owner: str) -> None:
    """A kind's declarations are usable: Params with unique names, valid schemas, an `input` from
    :data:`INPUT_TYPES`, defaults that satisfy their schemas. Raises KindError naming `owner`."""
    seen: set[str] = set()
    for p in parameters:
        if not isinstance(p, Param):
            raise KindError(f"{owner}: parameter declaration {p!r} is not a Param")
        if p.name in seen:
            raise KindError(f"{owner}: parameter {p.name!r} declared twice")
        seen.add(p.name)
        if p.input and p.input not in INPUT_TYPES:
            raise KindError(f"{owner}: parameter {p.name!r}: input {p.input!r} not one of {INPUT_TYPES}")
        why = _schema_problem(json.dumps(p.schema, sort_keys=True))
        if why:
            raise KindError(f"{owner}: parameter {p.name!r}: bad schema: {why}")
        if p.default is not None and (error := _validate(p, _plain(p.default))) is not None:
            raise KindError(f"{owner}: parameter {p.name!r}: default {p.default!r} fails its schema: {error.message}")


def _plain(value: Any) -> Any:
    """Tuples as lists, as YAML gives them (a declared default may be a tuple)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def check_parameters(parameters: Sequence[Param], raw: Mapping[str, Any], *, source: str, kind: str) -> None:
    """Validate a task's ``parameters`` against its kind's declarations.

    Raises TaskSpecError naming `source` and ``parameters/<key>``: an unknown key (with the close
    match and every declared name), a value failing its schema, a required key missing."""
    declared = {p.name: p for p in parameters}
    for key, value in raw.items():
        param = declared.get(key)
        if param is None:
            close = difflib.get_close_matches(str(key), declared, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise TaskSpecError(
                f"{source}: field parameters/{key}: kind {kind!r} has no parameter {key!r} "
                f"({hint}declared: {', '.join(declared) or 'none'})"
            )
        error = _validate(param, value)
        if error is not None:
            where = "/".join(["parameters", str(key), *(str(p) for p in error.absolute_path)])
            raise TaskSpecError(f"{source}: field {where}: {error.message} (expected {param.type_text})")
    for p in parameters:
        if p.required and p.name not in raw:
            raise TaskSpecError(f"{source}: field parameters/{p.name}: kind {kind!r} requires it ({p.doc})")


#: marks "no default given" (None is a valid default)
NO_DEFAULT: Any = object()


def declared_default(parameters: Sequence[Param], name: str, *, kind: str, fallback: Any = NO_DEFAULT) -> Any:
    """The declared default of `name` (a copy: kinds may not change it), else `fallback` when given.

    Raises KindError when the kind reads a parameter it does not declare and no fallback is given
    (a task file could never set it)."""
    for p in parameters:
        if p.name == name:
            return copy.deepcopy(p.default)
    if fallback is not NO_DEFAULT:
        return fallback
    raise KindError(f"kind {kind!r} reads parameter {name!r}, which it does not declare")


@cache
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def produces_metric(name: str, produces: Iterable[str], patterns: Iterable[str]) -> bool:
    """Whether `name` is in `produces` or fully matches one of the regular expressions `patterns`."""
    return name in set(produces) or any(_pattern(p).fullmatch(name) for p in patterns)


def close_metrics(name: str, produces: Iterable[str]) -> list[str]:
    """Up to three produced names close to `name` (for error messages)."""
    return difflib.get_close_matches(name, sorted(produces), n=3)


def fmax_param(default: float) -> Param:
    """The force convergence of a kind's relaxations (each kind has its own default)."""
    return Param("fmax_eV_per_A", default, POSITIVE, "eV/Å", "relaxations stop when every force is below this")


#: schemas of the field types of settings dataclasses (annotations are strings here)
_ANNOTATION_SCHEMAS: dict[str, Mapping[str, Any]] = {
    "float": NUMBER,
    "int": INTEGER,
    "bool": BOOLEAN,
    "str": STRING,
    "tuple[float, ...]": array(NUMBER),
    "tuple[int, ...]": array(INTEGER),
}
#: units read from a name's suffix (names carry their units: ``timestep_fs``)
_SUFFIX_UNITS = {
    "_eV_per_A": "eV/Å",
    "_per_GPa": "1/GPa",
    "_per_fs": "1/fs",
    "_GPa": "GPa",
    "_fs": "fs",
    "_K": "K",
    "_A": "Å",
}


def field_param(field_: Any, *, default: Any = NO_DEFAULT, doc: str = "", default_doc: str = "") -> Param:
    """A Param from a dataclass field (`dataclasses.Field`): its name, its default unless `default`
    is given, a schema from its annotation (any value for an annotation not known here), a unit
    from the name's suffix."""
    import dataclasses

    if default is NO_DEFAULT:
        default = None if field_.default is dataclasses.MISSING else field_.default
    annotation = field_.type if isinstance(field_.type, str) else getattr(field_.type, "__name__", "")
    unit = next((u for suffix, u in _SUFFIX_UNITS.items() if field_.name.endswith(suffix)), "")
    schema = _ANNOTATION_SCHEMAS.get(annotation, {})
    return Param(field_.name, default, schema, unit, doc, default_doc=default_doc)


#: parameters any task may set, read by the engine rather than by the kind
ENGINE_PARAMETERS = (
    Param(
        "item_timeout_s",
        None,
        nullable(POSITIVE),
        "s",
        "seconds one work item may run before its worker is stopped (the CLI's --timeout overrides it)",
        default_doc="the kind's item_timeout_s (3600 s)",
    ),
)
