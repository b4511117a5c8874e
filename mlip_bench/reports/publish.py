"""Publishing leaderboards: terminal tables (at most 120 columns wide), Markdown, JSON and the HTML
page, all written into one report folder (``reports/<leaderboard id>/``). Every format says which
cells of the leaderboard the result store lacks and the command that computes them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tabulate import tabulate

from mlip_bench.engine.records import ResultRecord, to_jsonable
from mlip_bench.paths import reference_dir, tasks_dir
from mlip_bench.reports.leaderboard import LeaderboardSpec, MissingCell, Table, build_tables
from mlip_bench.reports.leaderboard_spec import leaderboard_command
from mlip_bench.reports.provenance import dataset_sources, potential_sources
from mlip_bench.reports.text_layout import fit_grid, wrap_line

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
    # the terminal shows what was not scored under the count, to stay within 120 columns
    out += ["scored", "not scored", "s"] if markdown else ["scored", "s"]
    return [_cell(text, markdown) for text in out]


def _cell(text: str, markdown: bool) -> str:
    """`text` as literal Markdown inline text (terminal text is unchanged): a label, note or message
    cannot split a table column (``|``), end a row or list item (newline), open a code span, a link,
    an image or raw HTML (``<script>``). Paragraphs (blank lines) are kept."""
    if not markdown:
        return text
    paragraphs = (" ".join(part.split()) for part in re.split(r"\n\s*\n", text))
    return "\n\n".join(_MARKDOWN_SPECIAL.sub(r"\\\1", p) for p in paragraphs if p)


#: characters that would make a user string Markdown syntax (``*``/``_`` only emphasise: left as they are)
_MARKDOWN_SPECIAL = re.compile(r"([\\`|<>\[\]])")


def _code(text: str) -> str:
    """`text` as one Markdown code span, fenced by more backticks than it contains in a row."""
    flat = " ".join(text.split())
    fence = "`" * (max((len(run) for run in re.findall("`+", flat)), default=0) + 1)
    return f"{fence} {flat} {fence}" if "`" in flat else f"{fence}{flat}{fence}"


def _rows(table: Table, markdown: bool) -> list[list[str]]:
    """One list of cell texts per row; a row that was not scored shows its status word only (the
    reason is printed under the table, once for all potentials that share it)."""
    rows = []
    for row in table.rows:
        if row.status == "reference":
            cells = [c.text for c in row.cells]
        elif row.status != "ok":
            cells = [_STATUS_TEXT.get(row.status, row.status)] + [""] * (len(table.columns) - 1)
        else:
            cells = [
                f"**{c.text}**" if markdown and c.best else (f"{c.text} *" if c.best else c.text) for c in row.cells
            ]
        seconds = "" if row.status == "reference" else f"{row.seconds:.1f}"
        counts = (row.coverage, row.failures) if markdown else (f"{row.coverage}\n{row.failures}".strip(),)
        rows.append([_cell(t, markdown) for t in (row.label, *cells, *counts, seconds)])
    return rows


def _reasons(table: Table) -> list[str]:
    """Why rows were not scored, each reason once after the potentials it concerns."""
    by_reason: dict[str, list[str]] = {}
    for row in table.rows:
        if row.status not in ("ok", "reference"):
            first = row.message.splitlines()[0] if row.message else "no reason recorded"
            by_reason.setdefault(f"{_STATUS_TEXT.get(row.status, row.status)}: {first}", []).append(row.label)
    return [f"{_and(labels)}: {reason}" for reason, labels in by_reason.items()]


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _missing_lines(table: Table, markdown: bool) -> list[str]:
    return [
        f"not computed yet: {_cell(m.label, markdown)}: {_code(m.command) if markdown else m.command}"
        for m in table.missing
    ]


def _table_text(table: Table, markdown: bool) -> str:
    title = (
        f"## {_cell(table.title, True)} ({_code(table.task_id)})"
        if markdown
        else wrap_line(f"{table.title} [{table.task_id}]")
    )
    if not table.rows:
        grid = "No stored result for this task."
    elif markdown:
        grid = tabulate(_rows(table, True), headers=_header(table, True), tablefmt="github", disable_numparse=True)
    else:
        grid = fit_grid(_header(table, False), _rows(table, False))
    lines = [*(_cell(n, markdown) for n in (*table.notes, *_reasons(table))), *_missing_lines(table, markdown)]
    bullets = "\n".join(f"- {n}" if markdown else wrap_line(n, prefix="- ", indent="  ") for n in lines)
    return "\n".join(p for p in (title, "", grid, "", bullets)).rstrip()


def missing_summary(tables: Sequence[Table], rerun: str, *, markdown: bool = False) -> str:
    """The leaderboard's cells without a stored record, by potential, and the one command that
    computes them ("" when nothing is missing)."""
    missing = [m for t in tables for m in t.missing]
    if not missing:
        return ""
    by_label: dict[str, list[str]] = {}
    for m in missing:
        by_label.setdefault(m.label + (" (optional)" if m.optional else ""), []).append(m.task)
    head = f"Missing results: {len(missing)} cells (potential x task) of this leaderboard have no stored record."
    lines = [_cell(f"{label}: {', '.join(tasks)}", markdown) for label, tasks in by_label.items()]
    command = (
        f"Compute them (stored cells are reused): {_code(rerun) if markdown else rerun}"
        if rerun
        else "Compute each with the mlip-bench run line listed under its table."
    )
    if markdown:
        return "\n".join([f"**{head}**", "", *(f"- {line}" for line in lines), "", command])
    return "\n".join([wrap_line(head), *(wrap_line(line, prefix="- ") for line in lines), wrap_line(command)])


def render_text(tables: Sequence[Table], *, markdown: bool = False, rerun: str = "") -> str:
    """All tables as terminal text (best marked with *, at most 120 columns wide) or GitHub
    Markdown (best in bold), with the summary of missing cells and `rerun`, the command that
    computes them (Markdown: first; terminal: last, where it is seen)."""
    from mlip_bench.reports.summary import summary_blocks  # headline per task and cost, before the tables

    parts = [*summary_blocks(tables, markdown=markdown), *(_table_text(t, markdown) for t in tables)]
    summary = missing_summary(tables, rerun, markdown=markdown)
    if summary:
        parts.insert(0 if markdown else len(parts), summary)
    return "\n\n".join(parts) + "\n"


def provenance_markdown(tables: Sequence[Table]) -> str:
    """Datasets (paths relative to the data root) and potentials (version, citation) behind `tables`."""
    parts = ["## Provenance"]
    datasets = [
        [_cell(t, True) for t in (d.id, d.path, d.sha256[:16], str(d.n_structures), d.citation)]
        for d in dataset_sources(tables)
    ]
    if datasets:
        head = ["dataset", "path (under the data root)", "sha256", "structures", "citation"]
        parts.append(tabulate(datasets, headers=head, tablefmt="github", disable_numparse=True))
    potentials = [[p.label, p.version, p.citation] for p in potential_sources(tables)]
    if potentials:
        head = ["potential", "version", "citation"]
        parts.append(tabulate([[_cell(t, True) for t in r] for r in potentials], headers=head, tablefmt="github"))
    return "\n\n".join(parts) + "\n" if len(parts) > 1 else ""


def leaderboard_json(
    tables: Sequence[Table], records: Sequence[ResultRecord], spec: LeaderboardSpec | None, rerun: str = ""
) -> str:
    """Tables (each with its missing cells), every missing cell and `rerun`, and the result records
    (as ``mlip-bench run --json`` prints them, less the per-item parity arrays, which stay in the
    result store)."""
    missing: list[MissingCell] = [m for t in tables for m in t.missing]
    payload = {
        "leaderboard": to_jsonable(spec) if spec else None,
        "tables": [
            {
                "task": t.task_id,
                "title": t.title,
                "columns": to_jsonable(t.columns),
                "rows": to_jsonable(t.rows),
                "notes": list(t.notes),
                "missing": to_jsonable(t.missing),
            }
            for t in tables
        ],
        "missing": to_jsonable(missing),
        "rerun": rerun if missing else "",
        "records": [_without_arrays(r) for r in records],
    }
    return json.dumps(payload, indent=1)


def _without_arrays(record: ResultRecord) -> dict[str, Any]:
    """A record as JSON data without per-item parity arrays (they stay in the result store and the
    HTML plots); dropped before conversion, which would otherwise walk every per-atom number."""
    items = [{k: v for k, v in to_jsonable(replace(item, arrays={})).items() if k != "arrays"} for item in record.items]
    return {**to_jsonable(replace(record, items=())), "items": items}


def records_of(tables: Sequence[Table]) -> list[ResultRecord]:
    """The records shown in `tables`, each once: what a leaderboard's JSON holds."""
    return list({id(r): r for t in tables for r in t.records}.values())


def rerun_command(tables: Sequence[Table], spec: LeaderboardSpec | None, *, results: str, data_root: str | None) -> str:
    """The ``mlip-bench leaderboard`` line computing every missing cell of `tables` ("" if none)."""
    missing = [m for t in tables for m in t.missing]
    return leaderboard_command(spec, missing, results=results, data_root=data_root) if spec and missing else ""


def publish(
    records: Sequence[ResultRecord],
    out_dir: str | Path,
    spec: LeaderboardSpec | None = None,
    *,
    results: str = "results",
    data_root: str | None = None,
) -> list[Table]:
    """Write index.html, leaderboard.md and leaderboard.json into `out_dir` (the JSON holds the
    records of the tables only); returns the tables. `results` and `data_root` go into the
    commands that compute missing cells."""
    from mlip_bench.reports.html import write_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = build_tables(records, spec, results=results, data_root=data_root)
    stamp_file = out / INPUTS_FILE
    inputs = report_inputs(records, spec, results=results, data_root=data_root)
    if _unchanged(out, stamp_file, inputs):
        return tables  # the same records, spec and report code: the pages on disk are these pages
    rerun = rerun_command(tables, spec, results=results, data_root=data_root)
    title = spec.title if spec else "mlip-bench results"
    description = spec.description if spec else ""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_html(tables, out / "index.html", title=title, description=description, generated_utc=stamp, rerun=rerun)
    markdown = (
        f"# {_cell(title, True)}\n\n{_cell(description, True)}\n\nGenerated {stamp} by mlip-bench.\n\n"
        + render_text(tables, markdown=True, rerun=rerun)
        + "\n"
        + provenance_markdown(tables)
    )
    (out / "leaderboard.md").write_text(markdown)
    (out / "leaderboard.json").write_text(leaderboard_json(tables, records_of(tables), spec, rerun))
    stamp_file.write_text(inputs + "\n")
    return tables


#: the digest of what the report folder's pages were made from (see :func:`report_inputs`)
INPUTS_FILE = ".inputs.sha256"
_PAGES = ("index.html", "leaderboard.md", "leaderboard.json")


def report_inputs(
    records: Sequence[ResultRecord], spec: LeaderboardSpec | None, *, results: str, data_root: str | None
) -> str:
    """sha256 of everything the pages show: each record's key, creation time and status (a stored
    record is immutable: a recomputed one has a new creation time), the leaderboard spec, the
    commands' arguments, and the report code and plotly version that render them."""
    import plotly

    digest = hashlib.sha256()
    for record in records:
        digest.update(f"{record.key}|{record.created_utc}|{record.status}|{record.task.id}\n".encode())
    digest.update(json.dumps([to_jsonable(spec), results, data_root, plotly.__version__]).encode())
    # the report code, and the files it reads besides the records (cited values, reference
    # curves and citations, task files' current metric directions)
    sources = [*Path(__file__).parent.glob("*.py"), *reference_dir().rglob("*.yaml"), *reference_dir().rglob("*.json")]
    for path in sorted(sources) + sorted(tasks_dir().rglob("*.yaml")):
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _unchanged(out: Path, stamp_file: Path, inputs: str) -> bool:
    try:
        same = stamp_file.read_text().strip() == inputs
    except OSError:
        return False
    return same and all((out / name).is_file() for name in _PAGES)
