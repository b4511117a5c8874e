"""Training configs (``tasks/training/*.yaml``): what ``mlip-bench train CONFIG`` does, validated.

A config names its oracle (a potential spec), the MTP to fit, the start cells, the sampling, the
loop (strategies, iterations, oracle calls per iteration, γ thresholds) and the held-out test set
(oracle MD snapshots). A ``mode: levels`` config (paper 002's cost-accuracy view) names instead its
``systematic_set`` (systematic_set.py) and its ``levels`` (levels.py), and none of the loop's
sections. Every section maps onto a frozen dataclass; an unknown key, a value of the
wrong type or out of range raises :class:`TaskSpecError` naming the file and the field
(``tasks/training/x.yaml: field 'loop.n_iterations': ...``). Example: ``al-eam-active-learning.yaml``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.errors import MlipBenchError, TaskSpecError
from mlip_bench.training.fit_mtp import MtpFitSettings
from mlip_bench.training.levels import LevelsSettings
from mlip_bench.training.sampling import KINDS, CellSettings, SamplingSettings
from mlip_bench.training.selection import STRATEGIES
from mlip_bench.training.systematic_set import SystematicSetSettings, parse_systematic_set

MODES = ("active_learning", "levels")
#: sections only one mode reads (naming them in the other mode is an error, not silently ignored)
_LOOP_ONLY = ("cells", "initial", "sampling", "loop", "test")
_LEVELS_ONLY = ("levels", "systematic_set")


@dataclass(frozen=True, kw_only=True)
class InitialSettings:
    """The initial training set: `n_structures` start cells labelled by the oracle."""

    n_structures: int = 4


@dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """The strategies to run (each from the same initial fit) and their shared budget."""

    strategies: tuple[str, ...] = STRATEGIES
    n_iterations: int = 8
    calls_per_iteration: int = 4
    gamma_select: float = 1.001
    gamma_break: float = 5.0


@dataclass(frozen=True, kw_only=True)
class TestSetSettings:
    """The held-out set: for each of `kinds` alike (sampling.py; what the potential must handle,
    whatever the sampler's weights), `n_trajectories` Langevin runs with the oracle from fresh start
    cells, at temperatures uniform in `temperature_range_K` (K; liquid: the cells' own range),
    `n_snapshots` snapshots each, one every `snapshot_every_steps` steps of `timestep_fs` (fs) after
    `equilibration_steps`; own `seed`."""

    __test__ = False  # not a pytest class

    kinds: tuple[str, ...] = ("bulk",)
    n_trajectories: int = 6
    n_snapshots: int = 5
    snapshot_every_steps: int = 20
    equilibration_steps: int = 40
    timestep_fs: float = 2.0
    temperature_range_K: tuple[float, float] = (300.0, 1200.0)
    seed: int = 1000


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A whole training config; `path` is the file it came from, `sha256` its canonical content
    (a changed config trains into a new folder, never over an old one's iterations)."""

    id: str
    title: str
    oracle: str
    fit: MtpFitSettings
    description: str = ""
    mode: str = "active_learning"
    seed: int = 0
    final: str = "gamma"
    cells: CellSettings = field(default_factory=CellSettings)
    initial: InitialSettings = field(default_factory=InitialSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    loop: LoopConfig = field(default_factory=LoopConfig)
    test: TestSetSettings = field(default_factory=TestSetSettings)
    leaderboards: tuple[str, ...] = ()
    levels: LevelsSettings | None = None
    systematic_set: SystematicSetSettings | None = None
    path: str = ""
    sha256: str = ""


#: fields that do not change what is trained (left out of the run folder's hash)
_NOT_TRAINING = ("title", "description", "leaderboards")
_SECTIONS: dict[str, type] = {
    "fit": MtpFitSettings,
    "cells": CellSettings,
    "initial": InitialSettings,
    "sampling": SamplingSettings,
    "loop": LoopConfig,
    "test": TestSetSettings,
}
#: fields that must be >= 1 (counts) or > 0 (lengths, times)
_AT_LEAST_ONE = {
    "n_structures", "n_trajectories", "n_steps", "snapshot_every_steps", "n_iterations", "calls_per_iteration",
    "n_snapshots", "repeat", "n_vacancies",
}  # fmt: skip
_POSITIVE = {
    "a_A", "timestep_fs", "friction_per_fs", "gamma_select", "gamma_break", "vacuum_A", "liquid_density_g_per_cm3",
    "liquid_r_min_A",
}  # fmt: skip
_NON_NEGATIVE = {
    "max_strain", "rattle_A", "equilibration_steps", "seed", "temperature_range_K", "liquid_temperature_range_K",
    "weights",
}  # fmt: skip


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a training config (a file, or the id of one in ``tasks/training/``).
    Raises TaskSpecError naming the file (and field)."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and len(path.parts) == 1:
        from mlip_bench.paths import tasks_dir

        path = tasks_dir() / "training" / f"{path}.yaml"
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TaskSpecError(f"{path}: cannot read training config: {exc}") from exc
    return parse_config(raw, source=str(path))


def parse_config(raw: Any, *, source: str) -> TrainConfig:
    """A TrainConfig from parsed YAML; raises TaskSpecError naming `source` and the field."""
    if not isinstance(raw, dict):
        raise TaskSpecError(f"{source}: a training config is a mapping, got {type(raw).__name__}")
    missing = [name for name in ("id", "title", "oracle", "fit") if name not in raw]
    if missing:
        raise TaskSpecError(f"{source}: missing field {missing[0]!r} (required: id, title, oracle, fit)")
    values = _fields(TrainConfig, raw, source, "", skip=("path", "sha256", *_SECTIONS, *_LEVELS_ONLY))
    _check_mode_sections(raw, source)
    for name, cls in _SECTIONS.items():
        section = raw.get(name, {} if name != "fit" else None)
        if not isinstance(section, dict):
            raise TaskSpecError(f"{source}: field {name!r} must be a mapping, got {section!r}")
        values[name] = _make(cls, _fields(cls, section, source, f"{name}."), source, name)
    if raw.get("mode") == "levels":
        values["levels"] = _levels(raw, values["fit"], source)
        values["systematic_set"] = parse_systematic_set(raw.get("systematic_set", {}), source=source)
    # what changes the fit names its run folder; where the candidate is shown or how it is described does not
    trains = {k: v for k, v in raw.items() if k not in _NOT_TRAINING}
    canonical = json.dumps(trains, sort_keys=True, default=str)
    config = _make(TrainConfig, {**values, "path": source, "sha256": hashlib.sha256(canonical.encode()).hexdigest()})
    _check(config, source)
    return config


def _check_mode_sections(raw: dict[str, Any], source: str) -> None:
    """A section the config's mode does not read is an error (a typo'd mode would otherwise run
    something else than the file describes)."""
    mode = raw.get("mode", "active_learning")
    unused = _LOOP_ONLY if mode == "levels" else _LEVELS_ONLY if mode == "active_learning" else ()
    named = [name for name in unused if name in raw]
    if named:
        raise TaskSpecError(f"{source}: field {named[0]!r}: not used in mode {mode!r}")


def _levels(raw: dict[str, Any], fit: MtpFitSettings, source: str) -> LevelsSettings:
    """The ``levels:`` section (levels, test_share, split_seed, cost_repeats, cost_min_atoms) with the
    config's ``fit`` as the settings every level shares."""
    section = raw.get("levels", {})
    if not isinstance(section, dict):
        raise TaskSpecError(f"{source}: field 'levels' must be a mapping, got {section!r}")
    if "fit" in section:
        raise TaskSpecError(f"{source}: unknown field 'levels.fit' (the shared fit settings are the 'fit' section)")
    values = _fields(LevelsSettings, section, source, "levels.", skip=("fit",))
    return _make(LevelsSettings, {**values, "fit": fit}, source, "levels")  # type: ignore[no-any-return]


def _make(cls: type, values: dict[str, Any], source: str = "", where: str = "") -> Any:
    try:
        return cls(**values)
    except (MlipBenchError, ValueError, TypeError) as exc:
        raise TaskSpecError(f"{source}: field {where!r}: {exc}") from exc


def _fields(cls: type, raw: dict[str, Any], source: str, prefix: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """`raw`'s values for `cls`'s fields, each checked against its type and range."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name not in skip and not f.name.startswith("_")}
    unknown = sorted(set(map(str, raw)) - known - set(skip))
    if unknown:
        raise TaskSpecError(f"{source}: unknown field '{prefix}{unknown[0]}' (known: {', '.join(sorted(known))})")
    values = {}
    for name in known & set(raw):
        where = f"{source}: field '{prefix}{name}'"
        values[name] = _value(hints[name], raw[name], where)
        _range(name, values[name], where)
    return values


def _value(tp: Any, value: Any, where: str) -> Any:
    """`value` as type `tp` (int, float, str, tuple[X, ...], tuple[X, X]); TaskSpecError if not."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise TaskSpecError(f"{where}: expected a list, got {value!r}")
        if len(args) != 2 or args[1] is not Ellipsis:
            if len(value) != len(args):
                raise TaskSpecError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_value(a, v, where) for a, v in zip(args, value, strict=True))
        return tuple(_value(args[0], v, where) for v in value)
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if tp is str and isinstance(value, str):
        return value
    raise TaskSpecError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def _range(name: str, value: Any, where: str) -> None:
    items = value if isinstance(value, tuple) else (value,)
    if not all(isinstance(v, int | float) for v in items):
        return
    if name in _AT_LEAST_ONE and min(items, default=1) < 1:
        raise TaskSpecError(f"{where}: must be >= 1, got {value!r}")
    if name in _POSITIVE and min(items, default=1) <= 0:
        raise TaskSpecError(f"{where}: must be > 0, got {value!r}")
    if name in _NON_NEGATIVE and min(items, default=0) < 0:
        raise TaskSpecError(f"{where}: must be >= 0, got {value!r}")
    if name.endswith("temperature_range_K") and value[0] > value[1]:
        raise TaskSpecError(f"{where}: low > high in {value!r}")


def _check(config: TrainConfig, source: str) -> None:
    """Cross-field checks."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", config.id):
        raise TaskSpecError(f"{source}: field 'id': {config.id!r} must be letters, digits, '_.-'")
    if config.mode not in MODES:
        raise TaskSpecError(f"{source}: field 'mode': {config.mode!r} is not one of {', '.join(MODES)}")
    if config.mode == "levels":
        return  # the loop's cross-field checks concern sections a levels config does not have
    bad = [s for s in config.loop.strategies if s not in STRATEGIES]
    if bad or not config.loop.strategies or len(set(config.loop.strategies)) != len(config.loop.strategies):
        raise TaskSpecError(
            f"{source}: field 'loop.strategies': {list(config.loop.strategies)} must be distinct, from {STRATEGIES}"
        )
    if config.final not in config.loop.strategies:
        raise TaskSpecError(f"{source}: field 'final': {config.final!r} is not among loop.strategies")
    if config.loop.gamma_break < config.loop.gamma_select:
        raise TaskSpecError(f"{source}: field 'loop.gamma_break': must be >= loop.gamma_select")
    unknown = [k for k in config.test.kinds if k not in KINDS]
    if unknown or not config.test.kinds or len(set(config.test.kinds)) != len(config.test.kinds):
        raise TaskSpecError(f"{source}: field 'test.kinds': {list(config.test.kinds)} must be distinct, from {KINDS}")
    if config.cells.symbol not in config.fit.species:
        raise TaskSpecError(f"{source}: field 'cells.symbol': {config.cells.symbol!r} not in fit.species")
    if not config.oracle.strip():
        raise TaskSpecError(f"{source}: field 'oracle': a potential spec is required (e.g. eam:Al_mm.eam.fs)")
