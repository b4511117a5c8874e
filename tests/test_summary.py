"""The leaderboard summary: headline metric per task, cost per atom, the Pareto view, its text forms."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from mlip_bench.engine.records import (
    Counts,
    Environment,
    ItemRecord,
    MetricValue,
    PotentialRecord,
    ResultRecord,
    TaskRecord,
    Timings,
)
from mlip_bench.metrics import pareto_front
from mlip_bench.reports.figures_summary import pareto_figure
from mlip_bench.reports.leaderboard import Column, Table, TableCell, TableRow, build_tables
from mlip_bench.reports.leaderboard_spec import MissingCell
from mlip_bench.reports.summary import build_summary, headline, summary_blocks

ENV = Environment("3.11", "Linux", "0.1.0", {}, "1", 2)
EVIL = "<b>|pot_1|</b>"


def _metric(name: str, value: float, direction: str = "lower", target: float | None = None) -> MetricValue:
    return MetricValue(name, value, "meV/atom", direction, label=name, target=target, n=2)


def _record(task: str, kind: str, spec: str, metrics: tuple[MetricValue, ...], seconds: float = 0.0) -> ResultRecord:
    items = (
        ItemRecord("a", "ok", n_atoms=100),
        ItemRecord("b", "failed", n_atoms=50),
        ItemRecord("c", "skipped", n_atoms=7),
    )
    return ResultRecord(
        key="k",
        task=TaskRecord(task, 1, kind, f"Title {task}", "sha"),
        potential=PotentialRecord(spec, spec.upper(), "test", "1", ("Al",)),
        dataset=None,
        status="ok",
        message="",
        metrics=metrics,
        groups=(),
        items=items,
        counts=Counts(ok=2),
        timings=Timings(calculator_s=seconds),
        environment=ENV,
        parameters={},
    )


def _records() -> list[ResultRecord]:
    out = []
    # (spec, raw E RMSE, aligned E RMSE, calculator seconds for 150 evaluated atoms, a0)
    for spec, raw, aligned, seconds, a0 in (("cheap", 900.0, 20.0, 0.0015, 4.0), ("good", 5.0, 2.0, 0.15, 4.06)):
        rmse = (
            _metric("energy_rmse_meV_per_atom", raw),
            _metric("energy_aligned_rmse_meV_per_atom", aligned),
            _metric("fit_residual", 1.0, "none"),
        )
        out.append(_record("rmse-x", "rmse", spec, rmse, seconds))
        eos = (_metric("fit_rms_meV_per_atom", 0.1, "none"), _metric("a0_A", a0, "target", target=4.05))
        out.append(_record("eos-x", "eos", spec, eos, seconds=99.0))  # not a dataset task: no cost
    return out


def test_headline_is_the_first_ranked_metric_aligned_energy_preferred() -> None:
    tables = {t.task_id: t for t in build_tables(_records())}
    assert headline(tables["rmse-x"]).name == "energy_aligned_rmse_meV_per_atom"  # type: ignore[union-attr]
    assert headline(tables["eos-x"]).name == "a0_A"  # type: ignore[union-attr]  # diagnostics are skipped
    only_diagnostics = Table("d", "D", (Column("r", "r", "", "none", None, ""),), (), (), ())
    assert headline(only_diagnostics) is None


def test_summary_rows_cells_and_cost() -> None:
    summary = build_summary(build_tables(_records()))
    assert [h.task_id for h in summary.headlines] == ["eos-x", "rmse-x"]
    cheap, good = summary.rows
    assert (cheap.spec, good.spec) == ("cheap", "good")
    assert [c.text for c in good.cells] == ["4.060", "2.000"] and [c.best for c in good.cells] == [True, True]
    assert cheap.cells[1].value == 20.0 and not cheap.cells[1].best
    # calculator seconds over the atoms handed to it (ok and failed items, not skipped): 150 atoms
    assert cheap.cost_us_per_atom == pytest.approx(10.0) and good.cost_us_per_atom == pytest.approx(1000.0)
    assert cheap.cost_atoms == 150


def test_pareto_views_and_front() -> None:
    summary = build_summary(build_tables(_records()))
    first = summary.views[0]
    assert first.headline.task_id == "rmse-x"  # the dataset energy error is the default view
    assert [(p.label, p.error, p.on_front) for p in first.points] == [("CHEAP", 20.0, True), ("GOOD", 2.0, True)]
    eos = summary.views[1]
    assert [p.error for p in eos.points] == pytest.approx([0.05, 0.01])  # |a0 - target|
    assert pareto_front([(1.0, 5.0), (2.0, 6.0), (3.0, 1.0), (1.0, 4.0)]) == {2, 3}
    fig = pareto_figure(summary)
    assert fig is not None and fig.layout.xaxis.type == "log"
    assert [t.name for t in fig.data] == ["CHEAP", "GOOD", "Pareto front", "CHEAP", "GOOD", "Pareto front"]
    assert [t.visible for t in fig.data] == [True] * 3 + [False] * 3
    assert len(fig.layout.updatemenus[0].buttons) == 2


def test_missing_and_unscored_cells_say_why() -> None:
    records = _records()
    failed = _record("rmse-x", "rmse", "broken", ())
    failed = replace(failed, status="not_applicable", message="no Al")
    tables = build_tables([*records, failed])
    missing = MissingCell("late", "LATE", "eos-x", False, "mlip-bench run ...")
    tables = [replace(t, missing=(missing,)) if t.task_id == "eos-x" else t for t in tables]
    summary = build_summary(tables)
    by_spec = {r.spec: r for r in summary.rows}
    assert [c.text for c in by_spec["broken"].cells] == ["", "n/a"]  # not in eos-x's table or missing cells
    assert [c.text for c in by_spec["late"].cells] == ["not run", ""]
    assert math.isnan(by_spec["late"].cost_us_per_atom)


def test_text_forms_fit_and_escape() -> None:
    score = Table(
        "score",
        "Score",
        (Column("V", "V", "", "lower", None, ""),),
        (TableRow(EVIL, "s", "ok", "", (TableCell(1.0, "1.000", True),), "", 0.0),),
        (),
        (),
    )
    tables = [*build_tables(_records()), score]
    (terminal,) = summary_blocks(tables)
    assert max(len(line) for line in terminal.splitlines()) <= 120
    assert "2.000 *" in terminal and "[µs/atom]" in terminal
    (markdown,) = summary_blocks(tables, markdown=True)
    assert "**2.000**" in markdown and "<b>" not in markdown and "\\|pot\\_1\\|" in markdown
    assert summary_blocks(build_tables(_records()[:1])) == []  # one task: nothing to summarise


def test_summary_on_the_page(tmp_path: Path) -> None:
    from mlip_bench.reports.figures_style import PALETTE
    from mlip_bench.reports.html import write_html

    text = write_html(build_tables(_records()), tmp_path / "index.html", title="t").read_text(encoding="utf-8")
    summary = text.split("<section id=summary>")[1].split("</section>")[0]
    assert summary.index("CHEAP") < summary.index("GOOD")
    assert f"background:{PALETTE[0]}'></span>CHEAP" in summary and f"background:{PALETTE[1]}'></span>GOOD" in summary
    assert "<a href='#task-rmse-x'>rmse-x</a>" in summary and "★ 2.000" in summary
    assert summary.count("Plotly.newPlot(") == 1  # accuracy against cost
    assert text.index("<section id=summary>") < text.index("<section id='task-eos-x'>")


def test_no_cost_column_without_a_timed_dataset_task() -> None:
    """A leaderboard of property and MD tasks only (al-melt): no potential has a calculator cost per
    call, so the column is left out (not shown empty) and the rule says where the MD cost is."""
    from mlip_bench.reports.html_parts import summary_section
    from mlip_bench.reports.summary import NO_COST_RULE

    eos_only = [r for r in _records() if r.task.kind == "eos"]
    other = [replace(r, task=replace(r.task, id="eos-y")) for r in eos_only]
    summary = build_summary(build_tables([*eos_only, *other]))
    assert not summary.has_cost and summary.cost_rule() == NO_COST_RULE
    (terminal,) = summary_blocks(build_tables([*eos_only, *other]))
    assert "µs/atom]" not in terminal and "No cost column" in terminal.replace("\n", " ")
    page = summary_section(summary, {}, "")
    assert "cost<small>" not in page and page.count("<td") == 4  # two potentials x two tasks
    assert build_summary(build_tables(_records())).has_cost
