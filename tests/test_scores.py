"""Leaderboard-level scores: paper 001's validation score V over the rows of a leaderboard."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_html_report import _record

from mlip_bench.engine.records import MetricValue
from mlip_bench.errors import TaskSpecError
from mlip_bench.reports.leaderboard import load_leaderboard
from mlip_bench.reports.scores import Criterion, ScoreSpec, parse_scores, score_table


def _metric(name: str, value: float, direction: str = "lower") -> MetricValue:
    return MetricValue(name, value, "", direction)


def test_validation_score_by_hand() -> None:
    """Two criteria (weights 1 and 1.5) over three potentials; V = sum (w (c - min)/std)^2."""
    rmse = {"a": 1.0, "b": 2.0, "c": 4.0}
    nf = {"a": 10.0, "b": 0.0, "c": 5.0}
    records = [_record("t1", "rmse", p, metrics=(_metric("e", rmse[p]),)) for p in rmse]
    records += [_record("t2", "irregular", p, metrics=(_metric("nf", nf[p]),)) for p in nf]
    records.append(_record("t1", "rmse", "d", status="failed", message="boom"))
    spec = ScoreSpec("v", "V", "paper001", (Criterion("t1", "e"), Criterion("t2", "nf", 1.5, "N_F")))
    table = score_table(spec, records, {}, ["a", "b", "c", "d", "never-run"])
    rows = {r.spec: r for r in table.rows}
    assert set(rows) == {"a", "b", "c", "d"}  # a potential with no record on these tasks has no row
    e, f = np.array([1.0, 2.0, 4.0]), np.array([10.0, 0.0, 5.0])
    expected = ((e - e.min()) / e.std()) ** 2 + (1.5 * (f - f.min()) / f.std()) ** 2
    for spec_name, v in zip("abc", expected, strict=True):
        assert rows[spec_name].cells[-1].value == pytest.approx(v)
    best = min("abc", key=lambda s: rows[s].cells[-1].value)
    assert rows[best].cells[-1].best and sum(r.cells[-1].best for r in table.rows) == 1
    assert rows["d"].status != "ok" and "no V" in rows["d"].message and math.isnan(rows["d"].cells[-1].value)
    assert table.columns[1].label == "N_F ×1.5"


def test_higher_is_better_criteria_are_turned_around() -> None:
    nac = {"a": 0.9, "b": 0.5}
    records = [_record("t", "rmse", p, metrics=(_metric("nac", nac[p], "higher"),)) for p in nac]
    table = score_table(ScoreSpec("v", "V", "paper001", (Criterion("t", "nac"),)), records, {}, ["a", "b"])
    v = {r.spec: r.cells[-1].value for r in table.rows}
    assert v["a"] == 0.0 and v["b"] > 0.0


def test_bad_scores_field_names_the_file() -> None:
    with pytest.raises(TaskSpecError, match=r"lb\.yaml: scores\[0\]\.method 'magic' unknown"):
        parse_scores([{"id": "v", "method": "magic", "criteria": []}], source="lb.yaml")
    with pytest.raises(TaskSpecError, match=r"lb\.yaml: scores\[0\]"):
        parse_scores([{"id": "v"}], source="lb.yaml")


def test_li_al_leaderboard_declares_the_ten_criteria_of_paper_001() -> None:
    common, train, retrain = load_leaderboard("li-al").scores
    for score in (common, train, retrain):
        assert len(score.criteria) == 10
        assert sorted(c.weight for c in score.criteria) == [1.0] * 8 + [1.5, 1.5]
    assert not common.potentials  # every row
    # a family is compared on its own training set (paper 001 Methods, criteria 1, 3, 5, 6)
    assert len(train.potentials) == len(retrain.potentials) == 4
    assert all("MTP_retrain" in p for p in retrain.potentials)
    assert sum(c.task == "rmse-li-al-retrain" for c in retrain.criteria) == 4
    assert not any(c.task == "rmse-li-al-retrain" for c in train.criteria)


def test_a_score_over_a_subset_of_the_rows() -> None:
    e = {"a": 1.0, "b": 2.0, "c": 9.0}
    records = [_record("t", "rmse", p, metrics=(_metric("e", e[p]),)) for p in e]
    spec = ScoreSpec("v", "V", "paper001", (Criterion("t", "e"),), potentials=("a", "b"))
    table = score_table(spec, records, {}, ["a", "b", "c"])
    values = {r.spec: r.cells[-1].value for r in table.rows}
    x = np.array([1.0, 2.0])
    assert set(values) == {"a", "b"}
    assert values["b"] == pytest.approx(((x[1] - x[0]) / x.std()) ** 2)


def test_score_naming_what_the_leaderboard_lacks_is_refused() -> None:
    entry = {"id": "v", "criteria": [{"task": "t", "metric": "e"}], "potentials": ["a"]}
    with pytest.raises(TaskSpecError, match=r"lb\.yaml: scores\[0\]\.criteria\[\]\.task: t not on this leaderboard"):
        parse_scores([entry], source="lb.yaml", tasks=["u"], potentials=["a"])
    with pytest.raises(TaskSpecError, match=r"lb\.yaml: scores\[0\]\.potentials: a not on this leaderboard"):
        parse_scores([entry], source="lb.yaml", tasks=["t"], potentials=["b"])


def test_tables_use_the_newest_record_of_a_cell() -> None:
    import dataclasses

    from mlip_bench.reports.leaderboard import build_tables

    old = _record("t1", "rmse", "a", metrics=(_metric("e", 5.0),))
    new = dataclasses.replace(
        _record("t1", "rmse", "a", metrics=(_metric("e", 1.0),)), created_utc="2026-11-24T00:00:00"
    )
    old = dataclasses.replace(old, created_utc="2026-11-23T00:00:00")
    for records in ([old, new], [new, old]):
        [table] = build_tables(records)
        assert [r.cells[0].value for r in table.rows] == [1.0]


def test_identical_potentials_are_named_in_the_score_notes() -> None:
    import dataclasses

    e = {"a": 1.0, "b": 2.0, "c": 2.0}
    records = [_record("t", "rmse", p, metrics=(_metric("e", e[p]),)) for p in e]
    versions = {"a": "files sha256 1", "b": "files sha256 2", "c": "files sha256 2"}
    records = [
        dataclasses.replace(r, potential=dataclasses.replace(r.potential, version=versions[r.potential.spec]))
        for r in records
    ]
    table = score_table(ScoreSpec("v", "V", "paper001", (Criterion("t", "e"),)), records, {"b": "B", "c": "C"}, list(e))
    [note] = [n for n in table.notes if "same potential" in n]
    assert note == "B and C are the same potential (files sha256 2): V counts it 2 times"
