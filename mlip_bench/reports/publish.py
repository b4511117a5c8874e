"""Publishing leaderboards: terminal tables (tabulate), Markdown, JSON and the HTML page, all
written into one report folder (``reports/<leaderboard id>/``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tabulate import tabulate

from mlip_bench.engine.records import ResultRecord, to_jsonable
from mlip_bench.reports.leaderboard import LeaderboardSpec, Table, build_tables

_STATUS_TEXT = {
    "missing_data": "dataset missing",
    "not_applicable": "n/a",
    "unavailable": "not installed",
    "failed": "FAILED",
}


def _header(table: Table, markdown: bool) -> list[str]:
    out = ["potential"]
    for c in table.columns:
        unit = f" [{c.unit}]" if c.unit and c.unit != "bool" else ""
        target = f" (ref {c.target:g})" if c.target is not None else ""
        out.append(f"{c.label}{unit}{target}")
    out += ["scored", "failures", "s"]
    return [_cell(text, markdown) for text in out]


def _cell(text: str, markdown: bool) -> str:
    """A "|" inside a Markdown cell (e.g. |δF|) would split the column."""
    return text.replace("|", "\\|") if markdown else text


def _rows(table: Table, markdown: bool) -> list[list[str]]:
    rows = []
    for row in table.rows:
        if row.status == "reference":
            cells = [c.text for c in row.cells]
        elif row.status != "ok":
            reason = row.message.splitlines()[0] if row.message else ""
            status = f"{_STATUS_TEXT.get(row.status, row.status)}: {reason}"
            cells = [status if len(status) <= 90 else status[:89] + "…"] + [""] * (len(table.columns) - 1)
        else:
            cells = [
                f"**{c.text}**" if markdown and c.best else (f"{c.text} *" if c.best else c.text) for c in row.cells
            ]
        seconds = "" if row.status == "reference" else f"{row.seconds:.1f}"
        rows.append([_cell(t, markdown) for t in (row.label, *cells, row.coverage, row.failures, seconds)])
    return rows


def render_text(tables: Sequence[Table], *, markdown: bool = False) -> str:
    """All tables as terminal text (best marked with *) or GitHub Markdown (best in bold)."""
    parts = []
    for table in tables:
        title = f"## {table.title} (`{table.task_id}`)" if markdown else f"{table.title} [{table.task_id}]"
        grid = tabulate(
            _rows(table, markdown),
            headers=_header(table, markdown),
            tablefmt="github" if markdown else "simple",
            disable_numparse=True,
        )
        notes = "\n".join(f"- {n}" for n in table.notes)
        parts.append("\n".join(p for p in (title, "", grid, "", notes) if p is not None).rstrip())
    return "\n\n".join(parts) + "\n"


def leaderboard_json(tables: Sequence[Table], records: Sequence[ResultRecord], spec: LeaderboardSpec | None) -> str:
    """Tables plus the result records (as ``mlip-bench run --json`` prints them, less the per-item
    parity arrays, which stay in the result store)."""
    payload = {
        "leaderboard": to_jsonable(spec) if spec else None,
        "tables": [
            {
                "task": t.task_id,
                "title": t.title,
                "columns": to_jsonable(t.columns),
                "rows": to_jsonable(t.rows),
                "notes": list(t.notes),
            }
            for t in tables
        ],
        "records": [_without_arrays(to_jsonable(r)) for r in records],
    }
    return json.dumps(payload, indent=1)


def _without_arrays(record: dict[str, Any]) -> dict[str, Any]:
    """A record without per-item parity arrays (they stay in the result store and the HTML plots)."""
    items = [{k: v for k, v in item.items() if k != "arrays"} for item in record["items"]]
    return {**record, "items": items}


def publish(records: Sequence[ResultRecord], out_dir: str | Path, spec: LeaderboardSpec | None = None) -> list[Table]:
    """Write index.html, leaderboard.md and leaderboard.json into `out_dir`; returns the tables."""
    from mlip_bench.reports.html import write_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = build_tables(records, spec)
    title = spec.title if spec else "mlip-bench results"
    description = spec.description if spec else ""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_html(tables, out / "index.html", title=title, description=description, generated_utc=stamp)
    markdown = f"# {title}\n\n{description}\n\nGenerated {stamp} by mlip-bench.\n\n" + render_text(
        tables, markdown=True
    )
    (out / "leaderboard.md").write_text(markdown)
    (out / "leaderboard.json").write_text(leaderboard_json(tables, records, spec))
    return tables
