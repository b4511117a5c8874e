"""The HTML leaderboard page: self-contained, escaped, with tables, plots and provenance."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

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
from mlip_bench.reports.leaderboard import build_tables

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
        metrics=metrics,
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
    assert "target 114 [GPa]" in page and "Simmons &amp; Wang (1971) &lt;exp&gt;" in page
    assert "missing data</b>: dataset cu-test not found: run `mlip-bench data fetch cu-test`" in page
    assert "<pre>traceback &lt;script&gt;" in page
    for text in ("abc123", "Zuo 2020", "cite good", "OMP_NUM_THREADS", "numpy 2.0", "Literature references"):
        assert text in page


def test_figures_per_kind() -> None:
    elastic, eos, rmse = build_tables(_rmse_records() + _crystal_records())  # sorted by task id
    energy, forces, groups = html_report._figures(rmse)
    assert [t.name for t in energy.data] == ["BAD", "BAD (raw)", "GOOD", "GOOD (raw)", "y = x"]
    assert energy.data[1].visible == "legendonly"
    assert all(len(t.x) == MAX_PARITY_POINTS for t in forces.data[:2])  # 6000 components subsampled
    assert forces.data[-1].name == "y = x"
    assert list(groups.data[0].x) == ["bulk", "&lt;script&gt;alert(1)&lt;/script&gt;"]
    (curves,) = html_report._figures(eos)
    assert len(curves.data) == 2 and min(curves.data[0].y) == pytest.approx(0.0, abs=1e-9)
    (bars,) = html_report._figures(elastic)
    assert [t.name for t in bars.data] == ["EAM", "EMT", "target"]
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
