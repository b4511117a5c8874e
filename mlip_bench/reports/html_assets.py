"""Style sheet and the small inline script of the HTML report (no network: everything is inline).

The script sorts a table by any column header (click, or Enter / Space on the focused header):
numeric on each cell's ``data-v`` (so "14/66", "—" and "★ 1.2" sort by their numbers), text
otherwise; cells without a value (not scored, spanned by a status message) stay last in both
directions; literature rows (``tr.ref``) stay at the bottom. A column whose metric is better when
higher (``data-first=desc``) sorts descending on the first click."""

from __future__ import annotations

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1400px;
 padding:1rem 2rem;color:#1f2933;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:2.5rem;border-bottom:2px solid #d9e2ec;padding-bottom:.3rem}
code,.spec{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em;color:#52606d}
.spec{display:block;max-width:34ch;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-weight:400}
.meta{color:#52606d}.wrap{overflow-x:auto;max-width:100%}
nav ul{columns:2 420px;column-gap:2.5rem;padding-left:1.2rem;font-size:.92rem;margin:.6rem 0}nav li{break-inside:avoid}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #d9e2ec;padding:.3rem .55rem;vertical-align:top}
thead th{position:sticky;top:0;background:#f0f4f8;text-align:center;z-index:1}
table.sortable thead th{cursor:pointer;user-select:none}
table.sortable thead th:hover,table.sortable thead th:focus{background:#dde7f0;outline:none}
table.sortable thead th[aria-sort=ascending]::after{content:" ▲";font-size:.75em}
table.sortable thead th[aria-sort=descending]::after{content:" ▼";font-size:.75em}
tbody th{text-align:left;font-weight:600;position:sticky;left:0;background:#fff;min-width:11em}
tbody tr:nth-child(even) th{background:#fafbfc}tbody tr.ref th{background:#f4f6fa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.nw{white-space:nowrap}
td.best{font-weight:700;background:#e3f9e5}
small.partial{color:#7b8794;font-weight:400}th small{display:block;font-weight:400;color:#52606d}
tbody tr:nth-child(even){background:#fafbfc}
td.status{color:#8d2b0b;background:#fff8f1;font-size:.85rem;max-width:70ch}
td.absent{color:#7b8794;white-space:nowrap;font-size:.85rem}
td.clip{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:60ch}
tr.ref{font-style:italic;color:#555;background:#f4f6fa}
td.status b{text-transform:uppercase;font-size:.8em}td.missing{color:#52606d;background:#f5f7fa;font-size:.85rem}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.4em;vertical-align:baseline}
.legend{border:1px solid #d9e2ec;border-radius:6px;background:#f8fafc;padding:.4rem 1rem;margin:1rem 0;font-size:.9rem}
.legend ul{margin:.3rem 0;padding-left:1.2rem}.legend .key{display:inline-block;padding:0 .4em;border:1px solid #d9e2ec}
.missing-box{border-left:4px solid #f0b429;background:#fffbea;padding:.4rem 1rem;margin:1rem 0}
.missing-box code,ul.commands code{overflow-wrap:anywhere;color:#1f2933}
.summary-table thead th{font-size:.82rem}.summary-table th a{white-space:nowrap}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:1rem}.figs>div{min-width:0}.figs>div.wide{grid-column:1/-1}
.figs.one{grid-template-columns:minmax(0,900px)}
details.notes{margin:.5rem 0}details.notes summary{cursor:pointer;color:#52606d}
footer{margin-top:3rem;border-top:2px solid #d9e2ec;font-size:.9rem}footer td{max-width:60ch;overflow-wrap:break-word}
pre{white-space:pre-wrap;font-size:.8rem}
"""

SORT_JS = """
(function () {
  function value(cell) {
    if (!cell) return null;
    if (cell.dataset.v !== undefined) {
      var n = parseFloat(cell.dataset.v);
      return isNaN(n) ? null : n;
    }
    var text = cell.textContent.trim().toLowerCase();
    return text === "" ? null : text;
  }
  function cellAt(row, column) {
    var i = 0;
    for (var k = 0; k < row.cells.length; k++) {
      var cell = row.cells[k], span = cell.colSpan || 1;
      if (column < i + span) return span > 1 ? null : cell;
      i += span;
    }
    return null;
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var column = Array.prototype.indexOf.call(th.parentNode.cells, th);
    var now = th.getAttribute("aria-sort");
    var ascending = now ? now === "descending" : th.dataset.first !== "desc";
    var rows = Array.prototype.slice.call(body.rows);
    var fixed = rows.filter(function (r) { return r.classList.contains("ref"); });
    var moving = rows.filter(function (r) { return !r.classList.contains("ref"); });
    moving.sort(function (a, b) {
      var x = value(cellAt(a, column)), y = value(cellAt(b, column));
      if (x === null || y === null) return (x === null) - (y === null);
      var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return ascending ? c : -c;
    });
    moving.concat(fixed).forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable thead th").forEach(function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function (e) {
      if (e.target.closest("a")) return;
      sortBy(th);
    });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
    });
  });
})();
"""
