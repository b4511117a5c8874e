"""The HTML leaderboard page: self-contained, escaped, with tables, plots and provenance."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from mlip_bench.engine.kinds.base import Outcome, TaskContext, TaskKind
from mlip_bench.engine.records import (
    Counts,
    DatasetRecord,
    Environment,
    GroupMetrics,
    ItemRecord,
    MetricValue,
    PotentialRecord,
    ResultRecord,
    TaskRecord,
    Timings,
)
from mlip_bench.reports import html as html_report
from mlip_bench.reports.html import MAX_PARITY_POINTS, write_html
from mlip_bench.reports.leaderboard import Column, Table, TableCell, TableRow, build_tables

EVIL = "<script>alert(1)</script>"
ENV = Environment("3.11", "Linux", "0.1.0", {"numpy": "2.0"}, "1", 2)
REF = "Simmons & Wang (1971) <exp>"


def _record(
    task: str,
    kind: str,
    spec: str,
    *,
    status: str = "ok",
    message: str = "",
    metrics: tuple[MetricValue, ...] = (),
    items: tuple[ItemRecord, ...] = (),
    groups: tuple[GroupMetrics, ...] = (),
    dataset: DatasetRecord | None = None,
    notes: tuple[str, ...] = (),
) -> ResultRecord:
    return ResultRecord(
        key="k",
        task=TaskRecord(task, 1, kind, f"Title of {task}", "sha"),
        potential=PotentialRecord(spec, spec.upper(), "test", "1.0", ("Cu",), citation=f"cite {spec}"),
        dataset=dataset,
        status=status,
        message=message,
        # as the runner records them: a metric rests on the items scored (n = 0 is never marked best)
        metrics=tuple(dataclasses.replace(m, n=m.n or len(items)) for m in metrics),
        groups=groups,
        items=items,
        counts=Counts(ok=len(items)),
        timings=Timings(wall_s=1.25),
        environment=ENV,
        parameters={},
        notes=notes,
    )


def _rmse_records() -> list[ResultRecord]:
    rng = np.random.default_rng(1)
    dataset = DatasetRecord("cu-test", f"/data/{EVIL}.xyz", "abc123", 2, citation="Zuo 2020", license="BSD")
    out = []
    for spec, rmse in (("good", 1.0), ("bad", 5.0)):
        items = tuple(
            ItemRecord(
                f"s{i}",
                "ok",
                n_atoms=100,
                group=EVIL if i else "bulk",
                values={
                    "e_ref_eV_per_atom": -3.7 + i * 0.01,
                    "e_pred_eV_per_atom": -3.6 + i * 0.01,
                    "e_err_aligned_meV_per_atom": rmse,
                },
                arrays={
                    "forces_ref_eV_per_A": rng.normal(size=3000).tolist(),
                    "forces_pred_eV_per_A": rng.normal(size=3000).tolist(),
                },
            )
            for i in range(2)
        )
        metric = MetricValue("energy_aligned_rmse_meV_per_atom", rmse, "meV/atom", "lower", label="E RMSE")
        groups = (GroupMetrics("bulk", 1, (metric,)), GroupMetrics(EVIL, 1, (metric,)))
        out.append(
            _record(
                "rmse-cu",
                "rmse",
                spec,
                metrics=(metric,),
                items=items,
                groups=groups,
                dataset=dataset,
                notes=(f"note {EVIL}",),
            )
        )
    nan = MetricValue("energy_aligned_rmse_meV_per_atom", np.nan, "meV/atom", "lower")
    out.append(
        _record(
            "rmse-cu", "rmse", f"evil:{EVIL}", status="failed", message=f"boom {EVIL}\ntraceback {EVIL}", metrics=(nan,)
        )
    )
    out.append(
        _record(
            "rmse-cu",
            "rmse",
            "nodata",
            status="missing_data",
            message="dataset cu-test not found: run `mlip-bench data fetch cu-test`",
        )
    )
    return out


def _crystal_records() -> list[ResultRecord]:
    out = []
    for spec, c11 in (("emt", 100.0), ("eam", 112.0)):
        elastic = tuple(
            MetricValue(f"{n}_GPa", v, "GPa", "target", label=n, target=t, reference=REF)
            for n, v, t in (("C11", c11, 114.0), ("C12", 60.0, 61.9), ("C44", 30.0, 31.6))
        )
        out.append(
            _record(
                "al-elastic",
                "elastic",
                spec,
                metrics=elastic,
                items=(ItemRecord("Al-fcc", "ok", arrays={"C_GPa": [0.0] * 36}),),
            )
        )
        volumes = np.linspace(15, 18, 7)
        eos_item = ItemRecord(
            "Al-fcc",
            "ok",
            values={"e0_eV_per_atom": -3.4},
            arrays={
                "volumes_A3_per_atom": volumes.tolist(),
                "energies_eV_per_atom": (-3.4 + 0.01 * (volumes - 16.5) ** 2).tolist(),
            },
        )
        a0 = MetricValue("a0_A", 4.0 + c11 / 1000, "Å", "target", label="a0", target=4.05, reference="Kittel")
        out.append(_record("al-eos", "eos", spec, metrics=(a0,), items=(eos_item,)))
    return out


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("html") / "sub" / "index.html"
    tables = build_tables(_rmse_records() + _crystal_records())
    out = write_html(tables, path, title=f"Board {EVIL}", description=f"desc {EVIL}", generated_utc="2025-01-01T00:00")
    assert out == path and path.is_file()
    return path.read_text(encoding="utf-8")


def test_user_strings_are_escaped_never_raw(page: str) -> None:
    assert EVIL not in page
    assert "alert(1)</script>" not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for context in (
        f"Board {escaped}",
        f"desc {escaped}",
        f"evil:{escaped}",
        f"boom {escaped}",
        f"note {escaped}",
        f"/data/{escaped}.xyz",
    ):
        assert context in page, context


def test_page_is_self_contained_with_plotly_once(page: str) -> None:
    assert page.count(html_report.get_plotlyjs()[:200]) == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", page)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*['\"]?(https?:)?//", page)
    assert page.count("Plotly.newPlot(") == 5  # energy and force parity, groups; E(V); elastic bars


def test_tables_show_best_targets_status_and_provenance(page: str) -> None:
    for task in ("rmse-cu", "al-elastic", "al-eos"):
        assert f"<code>{task}</code>" in page
    assert "★ 1.000" in page and "★ 112.0" in page and "★ 4.100" in page  # lower / target / target
    assert "<small>◎ 114</small>" in page and "Simmons &amp; Wang (1971) &lt;exp&gt;" in page
    assert "missing data</b>: dataset cu-test not found: run `mlip-bench data fetch cu-test`" in page
    assert "<pre>traceback &lt;script&gt;" in page
    for text in ("abc123", "Zuo 2020", "cite good", "OMP_NUM_THREADS", "numpy 2.0", "Literature references"):
        assert text in page


def test_figures_per_kind() -> None:
    elastic, eos, rmse = build_tables(_rmse_records() + _crystal_records())  # sorted by task id
    energy, forces, groups = html_report._figures(rmse)
    assert [t.name for t in energy.data] == ["BAD", "GOOD", "y = x", "BAD", "GOOD", "y = x"]  # aligned, then raw
    assert [t.visible for t in energy.data] == [True] * 3 + [False] * 3
    raw = energy.layout.updatemenus[0].buttons[1]
    assert raw.label == "raw energies" and list(raw.args[0]["visible"]) == [False] * 3 + [True] * 3
    assert list(energy.data[3].y) == pytest.approx([-3.6, -3.59])  # raw predictions
    assert list(energy.data[0].y) == pytest.approx([-3.695, -3.685])  # reference + aligned error
    assert all(len(t.x) == MAX_PARITY_POINTS for t in forces.data[:2])  # 6000 components subsampled
    assert forces.data[-1].name == "y = x"
    assert list(groups.data[0].x) == ["bulk", "&lt;script&gt;alert(1)&lt;/script&gt;"]
    (curves,) = html_report._figures(eos)
    assert len(curves.data) == 2 and min(curves.data[0].y) == pytest.approx(0.0, abs=1e-9)
    (bars,) = html_report._figures(elastic)
    assert [t.name for t in bars.data] == ["EAM", "EMT", "cited value"]
    assert [v for v in bars.data[-1].y if v is not None] == [114.0, 114.0, 61.9, 61.9, 31.6, 31.6]


def test_force_subsample_is_reproducible() -> None:
    (table,) = build_tables(_rmse_records())
    first = html_report._figures(table)[1].data[0].x
    assert np.array_equal(first, html_report._figures(table)[1].data[0].x)


def test_real_records_render(tmp_path: Path) -> None:
    pytest.importorskip("asap3")
    from mlip_bench.engine.runner import Cell, run_cell
    from mlip_bench.engine.spec import load_task

    potentials = ("emt", "eam:Al_mm.eam.fs")
    records = [run_cell(Cell(p, load_task(t))) for t in ("al-eos", "al-elastic") for p in potentials]
    assert all(r.status == "ok" for r in records), [r.message for r in records]
    text = write_html(build_tables(records), tmp_path / "x.html", title="real").read_text()
    assert text.count("Plotly.newPlot(") == 2 and "asap3" in text and "★" in text


# --- curves declared by a kind (``plots``), alloy figures of paper 001, score tables ---

EVIL_ESC = "&lt;script&gt;alert(1)&lt;/script&gt;"


class _CurveKind(TaskKind):
    """A kind that only declares curves (the HTML report reads `plots` from the registry)."""

    name = "curves_for_test"
    needs_dataset = False
    produces = frozenset()
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "cold": ("volume (Å³/atom)", "<100> energy (meV/atom)"),
        "B_vs_x": ("Mg (wt%)", "B (GPa)"),
        "declared_but_absent": ("x", "y"),
    }

    def run(self, ctx: TaskContext) -> Outcome:
        raise NotImplementedError


@pytest.fixture
def curve_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    from mlip_bench.engine.kinds import KINDS

    monkeypatch.setitem(KINDS, _CurveKind.name, _CurveKind())
    return _CurveKind.name


def _curve_records(kind: str) -> list[ResultRecord]:
    volumes = [14.0, 15.0, 16.0, 17.0]
    ref = {"cold:x_ref": [14.0, 16.0, 18.0], "cold:y_ref": [40.0, 0.0, 30.0]}
    out = []
    for spec, shift in (("eam", 1.0), ("emt", 2.0)):
        cold = {"cold:x": volumes, "cold:y": [shift * (v - 16.0) ** 2 for v in volumes]}
        band = {"extra:x": [0.0, 1.0, math.nan, 0.0, 1.0], "extra:y": [0.0, 2.0, math.nan, 1.0, 3.0]}
        items = [
            ItemRecord("fcc", "ok", arrays=cold | ref | band),
            ItemRecord(EVIL, "ok", arrays=cold),
            ItemRecord("broken", "failed", reason="boom", arrays=cold),
        ]
        for wt in (3.0, 0.0, 6.0):  # one point per composition, out of order
            arrays = {
                "B_vs_x:x": [wt],
                "B_vs_x:y": [76.0 - shift * wt],
                "B_vs_x:x_ref": [wt],
                "B_vs_x:y_ref": [77 - wt],
            }
            items.append(ItemRecord(f"Al-{wt:g}Mg", "ok", arrays=arrays))
        out.append(_record("curves", kind, spec, items=tuple(items)))
    return out


def test_declared_curves_one_figure_each(curve_kind: str) -> None:
    (table,) = build_tables(_curve_records(curve_kind))
    cold, moduli, extra = html_report._figures(table)  # declared order, then undeclared; absent ones skipped
    assert cold.layout.title.text == "Cold" and cold.layout.xaxis.title.text == "volume (Å³/atom)"
    assert cold.layout.yaxis.title.text == "&lt;100&gt; energy (meV/atom)"
    names = [t.name for t in cold.data]
    assert names == ["EAM", "EAM", "EMT", "EMT", "reference"]  # one legend entry per potential
    assert [t.showlegend for t in cold.data[:4]] == [True, False, True, False]
    assert f"EAM ({EVIL_ESC})" in cold.data[1].hovertemplate  # the item in the hover and beside its curve
    assert sorted(a.text for a in cold.layout.annotations) == sorted(["fcc", EVIL_ESC])
    assert cold.data[0].line.color == cold.data[1].line.color != cold.data[2].line.color  # colour per potential
    assert cold.data[-1].line.dash == "dash" and cold.data[-1].line.color == "black"
    assert list(cold.data[2].y) == [8.0, 2.0, 0.0, 2.0]
    # single-point curves of several items are one line per potential, sorted by composition
    assert [t.name for t in moduli.data] == ["EAM", "EMT", "reference"]
    assert list(moduli.data[1].x) == [0.0, 3.0, 6.0] and list(moduli.data[1].y) == [76.0, 70.0, 64.0]
    assert list(moduli.data[1].text) == ["Al-0Mg", "Al-3Mg", "Al-6Mg"]
    assert list(moduli.data[2].y) == [77.0, 74.0, 71.0]
    assert extra.layout.title.text == "Extra" and [t.name for t in extra.data] == ["EAM", "EMT"]


def _group(name: str, metrics: dict[str, float], **kwargs: Any) -> GroupMetrics:
    return GroupMetrics(name, 3, tuple(MetricValue(k, v, "", "none") for k, v in metrics.items()), **kwargs)


#: phase label -> (lattice, composition)
PHASES = {"bcc-Li": ("bcc", "Li"), "Fd3m-org": ("Fd3m", "LiAl"), "Pm3m-org": ("Pm3m", "LiAl3"), EVIL: ("fcc", "Al")}


def _alloy_records() -> list[ResultRecord]:
    out = []
    for spec, scale in (("mtp-a", 1.0), ("mtp-b", 2.0)):
        rmse = tuple(
            _group(g, {"energy_rmse_meV_per_atom": scale * (i + 1)}, labels={"lattice": lat, "composition": comp})
            for i, (g, (lat, comp)) in enumerate(PHASES.items())
        )
        ranking = tuple(
            _group(g, {"ranking_error_rate": 0.1 * scale * i}, arrays={"mismatched_dE_ref_meV_per_atom": [scale] * i})
            for i, g in enumerate(PHASES)
        )
        lec = tuple(
            _group(g, {"lec_dE_ref_meV_per_atom": scale * i}, labels={"lec_ref": f"{g}/1", "lec_pred": f"{g}/{i}"})
            for i, g in enumerate(PHASES)
        )
        ground = tuple(
            _group(c, {"gp_correct": float(ok)}, labels={"ground_phase_ref": "bcc", "ground_phase_pred": pred})
            for c, ok, pred in (("LiAl3", True, "bcc"), ("LiAl", scale == 1.0, "bcc" if scale == 1.0 else EVIL))
        )
        # x, E_f reference, E_f predicted, stable by the reference, stable by the potential
        hull_points = (
            (0.0, 0.0, 0.0, "True", "True"),
            (0.5, -100.0, -90.0, "True", "True"),
            (0.75, -60.0, -70.0, "False", "True"),
            (1.0, 0.0, 0.0, "True", "True"),
        )
        hull = tuple(
            _group(
                name,
                {"x": x, "ef_ref_meV_per_atom": ref, "ef_pred_meV_per_atom": pred * scale},
                labels={"stable_ref": sr, "stable_pred": sp},
            )
            for name, (x, ref, pred, sr, sp) in zip(("Li", "LiAl", "LiAl3", "Al"), hull_points, strict=True)
        )
        transition = tuple(
            _group(
                f"{x:06.2f}%",
                {
                    "x_percent": x,
                    "ef_a_ref_meV_per_atom": -10.0 + x / 5,
                    "ef_b_ref_meV_per_atom": 0.0,
                    "ef_a_pred_meV_per_atom": -10.0 * scale + x / 5,
                    "ef_b_pred_meV_per_atom": 1.0,
                },
            )
            for x in (75.0, 50.0, 62.5)
        )
        for task, kind, groups in (
            ("li-al-phase-rmse", "phase_rmse", rmse),
            ("li-al-ranking", "ranking", ranking),
            ("li-al-lec", "lec", lec),
            ("li-al-ground-phase", "ground_phase", ground),
            ("li-al-convex-hull", "convex_hull", hull),
            ("li-al-bcc-fcc", "phase_transition", transition),
        ):
            out.append(_record(task, kind, spec, groups=groups))
    return out


def _alloy_tables() -> dict[str, Any]:
    return {t.task_id: t for t in build_tables(_alloy_records())}


def test_phase_rmse_heat_map_per_potential() -> None:
    (fig,) = html_report._figures(_alloy_tables()["li-al-phase-rmse"])
    a, b = fig.data
    assert list(a.x) == ["Fd3m", "Pm3m", "bcc", "fcc"]
    assert list(a.y) == ["Li", "LiAl", "LiAl3", "Al"]  # by Al fraction
    assert a.z[3][3] == 4.0 and b.z[3][3] == 8.0 and math.isnan(a.z[0][0])  # fcc-Al; no Fd3m-Li phase
    assert a.text[3][3] == EVIL_ESC
    assert a.visible is True and b.visible is False
    assert (a.zmin, a.zmax, b.zmax) == (0.0, 4.0, 8.0)  # colour scale per potential
    buttons = fig.layout.updatemenus[0].buttons
    assert [x.label for x in buttons] == ["MTP-A", "MTP-B"]
    assert list(buttons[1].args[0]["visible"]) == [False, True]
    assert fig.layout.title.text == "Energy RMSE per phase (lattice × composition): MTP-A"


def test_ranking_lec_and_ground_phase_figures() -> None:
    tables = _alloy_tables()
    bars, box = html_report._figures(tables["li-al-ranking"])
    assert [t.name for t in bars.data] == ["MTP-A", "MTP-B"]
    assert list(bars.data[0].x) == ["bcc-Li", "Fd3m-org", "Pm3m-org", EVIL_ESC]
    assert list(bars.data[1].y) == pytest.approx([0.0, 0.2, 0.4, 0.6])
    assert list(box.data[1].y) == [2.0] * 6  # pooled over phases: 0 + 1 + 2 + 3 pairs
    (lec,) = html_report._figures(tables["li-al-lec"])
    assert list(lec.data[1].y) == [0.0, 2.0, 4.0, 6.0]
    html_report._figure_html(lec, 1, {})
    assert lec.layout.legend.orientation == "h" and lec.layout.legend.yref == "container"  # below, room of its own
    assert lec.layout.margin.b > 60 + 20  # room for the phase names on their side and the legend
    assert lec.data[0].text[3] == f"reference LEC {EVIL_ESC}/1, predicted {EVIL_ESC}/3"
    (gp,) = html_report._figures(tables["li-al-ground-phase"])
    assert list(gp.data[0].x) == ["MTP-A", "MTP-B"] and list(gp.data[0].y) == ["LiAl", "LiAl3"]
    assert [list(row) for row in gp.data[0].z] == [[1.0, 0.0], [1.0, 1.0]]
    assert list(gp.data[0].text[0]) == ["bcc", EVIL_ESC] and list(gp.data[0].customdata[0]) == ["bcc", "bcc"]


def test_convex_hull_and_transition_figures() -> None:
    tables = _alloy_tables()
    (hull,) = html_report._figures(tables["li-al-convex-hull"])
    names = [t.name for t in hull.data]
    assert names == [n for p in ("MTP-A", "MTP-B") for n in ("reference", "reference hull", p, f"{p} hull")]
    ref_hull, pred_hull = hull.data[1], hull.data[3]
    assert list(ref_hull.x) == [0.0, 0.5, 1.0] and list(ref_hull.y) == [0.0, -100.0, 0.0]
    assert list(pred_hull.x) == [0.0, 0.5, 0.75, 1.0] and list(pred_hull.y) == [0.0, -90.0, -70.0, 0.0]
    assert hull.data[0].marker.color != hull.data[2].marker.color and hull.data[2].marker.symbol == "x"
    assert [t.visible for t in hull.data] == [True] * 4 + [False] * 4
    (transition,) = html_report._figures(tables["li-al-bcc-fcc"])
    assert [t.name for t in transition.data] == ["reference", "MTP-A", "MTP-B"]
    ref, _, b = transition.data
    assert list(ref.x) == [50.0, 62.5, 75.0] and list(ref.y) == pytest.approx([0.0, 2.5, 5.0])  # crosses at 50 %
    assert list(b.y) == pytest.approx([-11.0, -8.5, -6.0]) and ref.line.dash == "dash" and ref.line.color == "black"
    assert transition.layout.shapes[0].y0 == 0.0  # the zero line


def _score_table() -> Table:
    row = TableRow(f"pot {EVIL}", "mtp:x", "ok", "", (TableCell(1.5, "1.500", True),), "", 0.0)
    return Table("li-al-validation-score", f"Score {EVIL}", (Column("V", "V", "", "lower", None, ""),), (row,), (), ())


def test_score_table_without_records_renders(tmp_path: Path) -> None:
    assert html_report._figures(_score_table()) == []
    text = write_html([_score_table()], tmp_path / "score.html", title="scores").read_text()
    assert f"Score {EVIL_ESC}" in text and "★ 1.500" in text and EVIL not in text
    assert "Plotly.newPlot(" not in text and "<h3>Potentials</h3>" not in text


def test_alloy_and_curve_page_is_escaped(tmp_path: Path, curve_kind: str) -> None:
    tables = [*build_tables(_alloy_records() + _curve_records(curve_kind)), _score_table()]
    text = write_html(tables, tmp_path / "alloy.html", title="li-al").read_text()
    assert EVIL not in text and "alert(1)</script>" not in text
    # heat map, ranking bars and box, LEC, ground phase, hull, transition; 3 curve figures; no score figures
    assert text.count("Plotly.newPlot(") == 7 + 3
    for title in ("Rate of ranking errors per phase", "Convex hull: MTP-A", "Ground phase per composition"):
        assert title in text


def test_notes_carry_the_row_label_of_their_potential() -> None:
    """A note two potentials share is printed once, naming both; a note under its potential's own name
    keeps that name once."""
    records = [
        _record("t", "rmse", "good", notes=("worst phases: a 1.0", "GOOD: relaxation stopped")),
        _record("t", "rmse", "bad", notes=("worst phases: a 1.0",)),
    ]
    (table,) = build_tables(records)
    assert sorted(table.notes) == ["BAD and GOOD: worst phases: a 1.0", "GOOD: relaxation stopped"]


# --- sorting, legends, colours, axis ranges, counts, bands, references, the summary ---


def test_tables_are_sortable_by_numeric_values(page: str) -> None:
    """Every table of a task carries the numbers behind its texts, so "1/1" and "—" sort by value."""
    assert page.count("<table class=sortable>") == 3 and page.count("function sortBy(th)") == 1
    assert "data-v='1.0' title='best in this column'>★ 1.000</td>" in page  # the star is not part of the number
    assert "<td class=num data-v='1.0'>2/2</td>" in page  # structures scored: a fraction
    assert re.search(r"<td class='status' colspan=1>", page)  # a failed row spans its metrics: no value to sort
    assert "<th title='structures scored / in the task' data-first=desc>scored</th>" in page  # most first
    assert "data-first=asc>E RMSE [meV/atom]" in page  # lower is better: ascending first


def test_page_has_a_legend_for_stars_colours_and_sorting(page: str) -> None:
    legend = page.split("<div class=legend>")[1].split("</div>")[0]
    for text in ("★", "↓ lowest", "↑ highest", "◎ closest to the cited value", "diagnostics", "sort", "colour"):
        assert text in legend, text


def _many_rmse_records(n: int) -> list[ResultRecord]:
    rng = np.random.default_rng(2)
    out = []
    for k in range(n):
        items = tuple(
            ItemRecord(
                f"s{i}",
                "ok",
                n_atoms=10,
                values={
                    "e_ref_eV_per_atom": -3.0 - 0.01 * i,
                    "e_pred_eV_per_atom": -3.0,
                    "e_err_aligned_meV_per_atom": 1.0,
                },
                arrays={"forces_ref_eV_per_A": rng.normal(size=6).tolist(), "forces_pred_eV_per_A": [0.0] * 6},
            )
            for i in range(3)
        )
        metric = MetricValue("energy_aligned_rmse_meV_per_atom", 1.0 + k, "meV/atom", "lower", label="E RMSE", n=3)
        groups = (GroupMetrics("bulk", 3, (metric,)),)
        out.append(
            _record("rmse-x", "rmse", f"potential-number-{k:02d}", metrics=(metric,), items=items, groups=groups)
        )
    return out


def test_one_colour_per_potential_in_every_figure() -> None:
    (table,) = build_tables(_many_rmse_records(3))
    colors = {"POTENTIAL-NUMBER-00": "#111111", "POTENTIAL-NUMBER-01": "#222222", "POTENTIAL-NUMBER-02": "#333333"}
    energy, forces, groups = html_report._figures(table, colors)
    for fig in (energy, forces):
        for trace in fig.data:
            if trace.name != "y = x":
                assert trace.marker.color == colors[trace.name], (fig.layout.title.text, trace.name)
    assert [t.marker.color for t in groups.data] == list(colors.values())
    # without a page mapping: the table's rows in order, each its own colour, reference lines untouched
    default = html_report._figures(table)[0]
    assert len({t.marker.color for t in default.data[:3]}) == 3 and default.data[2 + 1 - 1].line.color != "black"


def test_twenty_potentials_do_not_squeeze_the_parity_plot() -> None:
    (table,) = build_tables(_many_rmse_records(20))
    colors = html_report.potential_colors([r.label for r in table.rows])
    assert len(set(list(colors.values())[:19])) == 19  # distinct colours (the 20th differs by its marker)
    few = html_report._figures(build_tables(_many_rmse_records(2))[0])[1]
    many = html_report._figures(table, colors)[1]
    for fig in (few, many):
        html_report._figure_html(fig, 1, colors)
    plot_height = [f.layout.height - f.layout.margin.t - f.layout.margin.b for f in (few, many)]
    assert plot_height[0] == plot_height[1] > 300  # the plot keeps its size; the legend gets room of its own
    assert many.layout.margin.b >= 60 + 20 * 10 and many.layout.legend.yref == "container"
    symbols = {t.marker.symbol for t in many.data if t.name != "y = x"}
    assert len(symbols) == 2  # the 20th potential reuses a colour with another marker


def test_flat_curves_are_not_drawn_as_landscapes() -> None:
    from mlip_bench.reports.figures_style import readable_range

    flat = go_figure([150.0, 150.00001, 150.00002], "fault energy γ (mJ/m²)")
    lo, hi = readable_range(flat).layout.yaxis.range
    assert hi - lo >= 1.0 and lo < 150.0 < 150.00002 < hi  # 1e-5 mJ/m² of noise shows as a flat line
    zero = readable_range(go_figure([0.0, 1e-7, -1e-7], "energy (meV/atom)")).layout.yaxis.range
    assert zero[1] - zero[0] >= 0.1
    shaped = readable_range(go_figure([0.0, 40.0, 10.0], "energy (meV/atom)"))
    assert shaped.layout.yaxis.range is None  # real structure keeps plotly's own range


def go_figure(y: list[float], title: str) -> Any:
    import plotly.graph_objects as go

    return go.Figure(go.Scatter(x=list(range(len(y))), y=y)).update_layout(yaxis_title=title)


def test_counts_are_printed_as_integers() -> None:
    from mlip_bench.reports.leaderboard import format_value

    assert [format_value(24.0, u) for u in ("phases", "compositions", "structures", "atoms", "of 8")] == ["24"] * 5
    assert format_value(24.5, "phases") == "24.50" and format_value(24.0, "GPa") == "24.00"


def _band_record(spec: str, scale: float, *, reference: bool) -> ResultRecord:
    # path G-X | U-X with one branch: segments [0, 1] and [1, 1.5] of this potential's own crystal
    x = [0.0, 0.5, 1.0, math.nan, 1.0, 1.5, math.nan]
    arrays = {"band:x": [v * scale for v in x], "band:y": [0.0, 2.0, 4.0, math.nan, 4.0, 3.0, math.nan]}
    if reference:
        arrays |= {"band_reference:x": x, "band_reference:y": [0.0, 2.5, 5.0, math.nan, 5.0, 3.5, math.nan]}
    record = _record("al-phonons", "phonons", spec, items=(ItemRecord("Al-fcc", "ok", arrays=arrays),))
    note = f"{spec.upper()}, Al4: path GX | UX (G = Gamma), supercell (4, 4, 4) (256 atoms)"
    return replace(record, notes=(note,), parameters={"reference_potential": "eam:Al99.eam.alloy"})


def test_phonon_bands_have_special_points_and_the_reference() -> None:
    records = [_band_record("eam", 1.0, reference=True), _band_record("emt", 1.1, reference=True)]
    (table,) = build_tables(records)
    figures = html_report._figures(table)
    band = next(f for f in figures if f.layout.title.text == "Phonon band structure")
    assert not any(f.layout.title.text == "Band reference" for f in figures)  # drawn in the band figure
    assert list(band.layout.xaxis.ticktext) == ["Γ", "X|U", "X"] and list(band.layout.xaxis.tickvals) == [0, 1, 1.5]
    names = [t.name for t in band.data]
    assert names == ["EAM", "EMT", "reference: Al99.eam.alloy"]
    emt = band.data[1]
    assert [v for v in emt.x if not math.isnan(v)] == pytest.approx([0.0, 0.5, 1.0, 1.0, 1.5])  # on EAM's path
    assert band.data[2].line.color == "black" and band.data[2].line.dash == "dash"


def test_paths_and_cold_curves_show_the_dft_reference() -> None:
    pytest.importorskip("ase")
    path = ItemRecord("Al-fcc", "ok", arrays={"bain_path:x": [0.7, 1.0], "bain_path:y": [90.0, 0.0]})
    bain = _record("al-bain-path", "bain_path", "eam", items=(path,))
    bain = replace(bain, parameters={"reference_curve": "al/bain/dft-pbe-gpaw"})
    (fig,) = html_report._figures(build_tables([bain])[0])
    reference = fig.data[-1]
    assert reference.name.startswith("reference: DFT") and reference.line.color == "black"
    assert len(reference.x) == 12 and max(reference.y) == pytest.approx(98.03)

    items = tuple(
        ItemRecord(f"Al-{c}", "ok", arrays={"cold_curve:x": [15.0, 16.0, 17.0], "cold_curve:y": [e + 5, e, e + 5]})
        for c, e in (("fcc", 0.0), ("hcp", 30.0))
    )
    target = MetricValue("dE_hcp_fcc_meV_per_atom", 30.0, "meV/atom", "target", "E(hcp) - E(fcc)", 32.19, "PBE", n=1)
    cold = _record("al-cold-curves", "cold_curves", "eam", items=items, metrics=(target,))
    (fig,) = html_report._figures(build_tables([cold])[0])
    bar = fig.data[-1]
    assert bar.name == "cited energy of each minimum" and list(bar.y) == [32.19, 32.19] and list(bar.x) == [15.0, 17.0]


def test_no_star_between_potentials_scored_on_different_structures() -> None:
    """Equal counts are not comparable coverage: 2 Li structures against 2 Al structures."""
    from mlip_bench.reports.leaderboard import build_table

    def rec(spec: str, ids: tuple[str, ...], rmse: float) -> ResultRecord:
        metric = MetricValue("e_rmse", rmse, "meV/atom", "lower")
        return _record("t", "rmse", spec, metrics=(metric,), items=tuple(ItemRecord(i, "ok") for i in ids))

    records = [rec("li", ("li1", "li2"), 1.0), rec("al1", ("al1", "al2"), 3.0), rec("al2", ("al1", "al2"), 2.0)]
    table = build_table("t", records)
    starred = [row.label for row in table.rows if any(cell.best for cell in row.cells)]
    assert starred == ["AL2"]  # best among the two that scored the same Al structures, not the Li one


def test_publish_rewrites_pages_only_when_their_inputs_change(tmp_path: Path) -> None:
    from mlip_bench.reports.publish import INPUTS_FILE, publish

    records = _rmse_records()
    publish(records, tmp_path)
    pages = ["index.html", "leaderboard.md", "leaderboard.json"]
    first = {name: (tmp_path / name).stat().st_mtime_ns for name in pages}
    publish(records, tmp_path)  # the same records: nothing rendered, nothing written
    assert {name: (tmp_path / name).stat().st_mtime_ns for name in pages} == first
    newer = [replace(records[0], created_utc="2099-01-01T00:00:00+00:00"), *records[1:]]
    publish(newer, tmp_path)  # a recomputed record has a new creation time
    assert all((tmp_path / name).stat().st_mtime_ns > first[name] for name in pages)
    (tmp_path / "index.html").unlink()  # a page removed by hand comes back
    publish(newer, tmp_path)
    assert (tmp_path / "index.html").is_file() and (tmp_path / INPUTS_FILE).is_file()


def _graded(record: ResultRecord, gammas: list[float]) -> ResultRecord:
    """`record` as if its potential reported γ: per structure and the group medians."""
    from mlip_bench.adapters.uncertainty import grade_info

    items = tuple(replace(i, values={**i.values, "uncertainty": g}) for i, g in zip(record.items, gammas, strict=True))
    groups = tuple(
        replace(g, metrics=(*g.metrics, MetricValue("gamma_median", gamma, "", "none")))
        for g, gamma in zip(record.groups, gammas, strict=True)
    )
    potential = replace(record.potential, uncertainty=grade_info("train"))
    return replace(record, items=items, groups=groups, potential=potential)


def test_uncertainty_figures_only_for_potentials_that_declare_one() -> None:
    from mlip_bench.reports.figures_uncertainty import uncertainty_figures

    good, bad = _rmse_records()[:2]
    assert uncertainty_figures([("good", good), ("bad", bad)]) == [None, None, None]
    graded = _graded(bad, [0.8, 7.0])
    groups, structures, parity = uncertainty_figures([("good", good), ("bad", graded)])
    assert [t.name for t in groups.data] == ["bad"]  # the potential without γ is not drawn
    assert sorted(groups.data[0].x) == [0.8, 7.0] and list(groups.data[0].y) == [5.0, 5.0]
    assert structures.layout.xaxis.type == "log" and list(structures.data[0].x) == [0.8, 7.0]
    assert {a.text for a in structures.layout.annotations} == {"γ_select", "γ_break"}
    assert [s.x0 for s in structures.layout.shapes] == pytest.approx([1.001, 5.0])
    np.testing.assert_allclose(parity.data[0].marker.color, np.log10([0.8, 7.0]))
    assert EVIL not in " ".join(str(t) for t in groups.data[0].text)  # group names are escaped


def test_an_uncertainty_curve_gets_a_log_axis_and_the_thresholds_only_for_a_grade() -> None:
    import plotly.graph_objects as go

    from mlip_bench.adapters.uncertainty import UncertaintyInfo
    from mlip_bench.reports.figures_uncertainty import uncertainty_axis

    good = _graded(_rmse_records()[0], [0.8, 7.0])
    fig = go.Figure()
    uncertainty_axis(fig, [("good", good)])
    assert fig.layout.yaxis.type == "log" and [s.y0 for s in fig.layout.shapes] == [1.001, 5.0]
    sigma = UncertaintyInfo("ensemble_std", "eV/atom", False)
    spread = replace(good, potential=replace(good.potential, uncertainty=sigma))
    plain = go.Figure()
    uncertainty_axis(plain, [("good", spread)])
    assert plain.layout.yaxis.type is None and not plain.layout.shapes
