"""Task kinds by name: the built-in kinds, each imported on first use (loading one task does not
import pymatgen, phonopy or icet for the others), plus plugins from the entry-point group
``mlip_bench.kinds``, following ASE's plugin pattern like the adapters (validate each plugin,
refuse a duplicate name naming both owners, warn about and skip a broken one).

Dataset kinds: ``rmse`` (errors against DFT labels), and the alloy kinds of paper 001
(``phase_rmse``, ``ranking``, ``lec``, ``ground_phase``, ``convex_hull``, ``phase_transition``,
``irregular``). Crystal kinds (simulations from task-built structures): ``eos``, ``elastic``,
``phonons``, ``gsfe``, ``point_defects``, ``surfaces``, ``cold_curves``, ``bain_path``,
``trigonal_path``, ``elastic_alloy`` (SQS solid solutions, finite-temperature stress-strain).

A new kind is a :class:`TaskKind` subclass with a ``name``, its ``parameters`` (:class:`Param`) and
``produces``; a package registers it with an entry point::

    [project.entry-points."mlip_bench.kinds"]
    my_kind = "my_package.kinds:MyKind"
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from collections.abc import Iterator, MutableMapping

from mlip_bench.engine.kinds.base import Outcome, TaskContext, TaskKind
from mlip_bench.engine.parameters import Param, check_declarations, describe, input_parameters
from mlip_bench.errors import KindError, UnknownKindError

ENTRY_POINT_GROUP = "mlip_bench.kinds"

_PACKAGE = "mlip_bench.engine.kinds"
#: built-in kinds as "module:Class", imported on first use
BUILTIN_KINDS: dict[str, str] = {
    "rmse": f"{_PACKAGE}.rmse:RmseKind",
    "phase_rmse": f"{_PACKAGE}.alloy_ordering:PhaseRmseKind",
    "ranking": f"{_PACKAGE}.alloy_ordering:RankingKind",
    "lec": f"{_PACKAGE}.alloy_ordering:LecKind",
    "ground_phase": f"{_PACKAGE}.alloy_ordering:GroundPhaseKind",
    "convex_hull": f"{_PACKAGE}.alloy_stability:ConvexHullKind",
    "phase_transition": f"{_PACKAGE}.alloy_stability:PhaseTransitionKind",
    "irregular": f"{_PACKAGE}.alloy_stability:IrregularKind",
    "eos": f"{_PACKAGE}.crystal:EosKind",
    "elastic": f"{_PACKAGE}.crystal:ElasticKind",
    "phonons": f"{_PACKAGE}.phonons:PhononsKind",
    "gsfe": f"{_PACKAGE}.gsfe:GsfeKind",
    "point_defects": f"{_PACKAGE}.defects:PointDefectsKind",
    "surfaces": f"{_PACKAGE}.defects:SurfacesKind",
    "cold_curves": f"{_PACKAGE}.cold_curves:ColdCurvesKind",
    "bain_path": f"{_PACKAGE}.paths:BainPathKind",
    "trigonal_path": f"{_PACKAGE}.paths:TrigonalPathKind",
    "elastic_alloy": f"{_PACKAGE}.alloy_elastic:AlloyElasticKind",
    "extrapolation": f"{_PACKAGE}.extrapolation:ExtrapolationKind",
    "md_extrapolation": f"{_PACKAGE}.md_watch:MdExtrapolationKind",
    "liquid": f"{_PACKAGE}.liquid:LiquidKind",
    "heat_cycle": f"{_PACKAGE}.heat_cycle:HeatCycleKind",
    "melt": f"{_PACKAGE}.melt:MeltKind",
}


def validate_kind(kind: object, *, origin: str) -> TaskKind:
    """`kind` (a TaskKind subclass or instance) as an instance, after checking its name and its
    parameter declarations; raises KindError naming `origin`."""
    if isinstance(kind, type) and issubclass(kind, TaskKind):
        kind = kind()
    if not isinstance(kind, TaskKind):
        raise KindError(f"{origin}: {kind!r} is not an mlip_bench TaskKind")
    name = getattr(kind, "name", None)
    if not isinstance(name, str) or not name:
        raise KindError(f"{origin}: kind name {name!r} must be a non-empty string")
    check_declarations(kind.parameters, owner=f"{origin}: kind {name!r}")
    return kind


def _owner_text(kind: TaskKind) -> str:
    return f"{type(kind).__module__}:{type(kind).__name__}"


class KindRegistry(MutableMapping[str, TaskKind]):
    """Kinds by name. Names are known without importing anything; a built-in kind's module is
    imported when the kind is first looked up; plugins are loaded on the first lookup or listing.
    Setting an item (tests) replaces a kind as a dict would."""

    def __init__(self, builtin: dict[str, str] | None = None, group: str = ENTRY_POINT_GROUP) -> None:
        self._builtin = dict(BUILTIN_KINDS if builtin is None else builtin)
        self._group = group
        self.refresh()

    def refresh(self) -> None:
        """Forget loaded kinds and plugins: the next lookup reads the entry points again."""
        self._owners: dict[str, str] = dict(self._builtin)
        self._loaded: dict[str, TaskKind] = {}
        self._plugins_read = False

    def register(self, kind: object, *, origin: str) -> TaskKind:
        """Validate and add `kind`; raises KindError for an invalid kind or a name already taken
        (naming both owners)."""
        instance = validate_kind(kind, origin=origin)
        if instance.name in self._owners:
            raise KindError(f"{origin}: kind name {instance.name!r} is already taken by {self._owners[instance.name]}")
        self._owners[instance.name] = _owner_text(instance)
        self._loaded[instance.name] = instance
        return instance

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        for ep in importlib.metadata.entry_points(group=self._group):
            origin = f"entry point {ep.name!r} ({ep.value}) in group {self._group}"
            try:
                self.register(ep.load(), origin=origin)
            except Exception as exc:  # a broken plugin must not break the suite
                warnings.warn(f"skipping {origin}: {type(exc).__name__}: {exc}", stacklevel=3)

    def _load_builtin(self, name: str) -> TaskKind:
        spec = self._builtin[name]
        module, _, attr = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise KindError(f"built-in kind {name!r} ({spec}): cannot import: {exc}") from exc
        kind = validate_kind(cls, origin=f"built-in kind {spec}")
        if kind.name != name:
            raise KindError(f"built-in kind {spec}: its name is {kind.name!r}, registered as {name!r}")
        return kind

    def __getitem__(self, name: str) -> TaskKind:
        self._read_plugins()
        if name not in self._loaded:
            if name not in self._owners or name not in self._builtin:
                raise KeyError(name)
            self._loaded[name] = self._load_builtin(name)
        return self._loaded[name]

    def __setitem__(self, name: str, kind: TaskKind) -> None:
        self._read_plugins()
        self._owners[name] = _owner_text(kind)
        self._loaded[name] = kind

    def __delitem__(self, name: str) -> None:
        self._read_plugins()
        del self._owners[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        self._read_plugins()
        return iter(list(self._owners))

    def __len__(self) -> int:
        self._read_plugins()
        return len(self._owners)

    def __contains__(self, name: object) -> bool:
        self._read_plugins()
        return name in self._owners


#: every kind by name (a lazy mapping; ``KINDS[name]`` imports that kind's module)
KINDS = KindRegistry()


def get_kind(name: str) -> TaskKind:
    """The kind called `name`; raises UnknownKindError listing the known names, or KindError when
    a built-in kind cannot be imported."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKindError(f"unknown kind {name!r} (known: {', '.join(kind_names())})") from None


def kind_names() -> list[str]:
    """Every registered kind's name, sorted (imports no kind module)."""
    return sorted(KINDS)


def describe_parameters(name: str) -> list[dict[str, str]]:
    """The parameters of kind `name`: name, type, default, unit, doc (one dict each)."""
    return describe(get_kind(name).parameters)


def reference_inputs(name: str) -> dict[str, str]:
    """Parameters of kind `name` naming inputs outside the task file, with their input type
    ("potential", "file", "curve"): the engine fingerprints their content."""
    return input_parameters(get_kind(name).parameters)


__all__ = [
    "BUILTIN_KINDS",
    "ENTRY_POINT_GROUP",
    "KINDS",
    "KindRegistry",
    "Outcome",
    "Param",
    "TaskContext",
    "TaskKind",
    "describe_parameters",
    "get_kind",
    "kind_names",
    "reference_inputs",
    "validate_kind",
]
