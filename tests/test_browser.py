"""Every leaderboard page in a real browser (headless Chromium through selenium; ``nox -s browser``).

A small real result store (EMT and the Mendelev EAM on the Al equation of state, elastic constants
and the mlearn Cu test set; paper 001's MTP_Train on the Li-Al validation set) is published with
``mlip-bench report --leaderboard ID`` for each leaderboard, most of whose cells are then missing.
Each page must load without a console error and without any request other than file: and data:,
sort its tables by a clicked header, draw every plot, and fit a 1280x800 window (only table
containers may scroll sideways). A screenshot of each page is saved under ``browser-screenshots/``
(the CI artifact). Skipped without Chromium, unless ``MLIP_BENCH_REQUIRE_BROWSER`` is set (the nox
session), where that is a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "browser-screenshots"
#: (task, potential) cells of the store: cheap ones, a few of each leaderboard (seconds each)
CELLS = (
    *(
        (task, potential)
        for task in ("al-eos", "al-elastic", "rmse-mlearn-cu-test")
        for potential in ("emt", "eam:Al_mm.eam.fs")
    ),
    # a li-al row without a training set: a graded MTP would build its active set first (minutes)
    ("rmse-li-al-validation", "mtp:li_al/mtp/MTP_train-extra-1.mtp"),
    # the melt leaderboard's cheapest MD cell (about 20 s with LAMMPS): its curves and reference line
    ("al-liquid", "eam:Al_mm.eam.fs"),
)
LEADERBOARDS = ("default", "li-al", "al-mechanics", "al-melt")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
)
#: every numeric column of a sortable table, with its values in row order ("" for no value)
_COLUMNS_JS = """
var out = [];
document.querySelectorAll("table.sortable").forEach(function (table, t) {
  var heads = table.tHead.rows[0].cells;
  for (var c = 1; c < heads.length; c++) {
    out.push({table: t, column: c, first: heads[c].dataset.first || "asc", values: column(table, c)});
  }
});
return out;
"""
_COLUMN_JS = """
function column(table, c) {
  return Array.prototype.filter.call(table.tBodies[0].rows, function (r) { return !r.classList.contains("ref"); })
    .map(function (r) {
      var i = 0;
      for (var k = 0; k < r.cells.length; k++) {
        var cell = r.cells[k], span = cell.colSpan || 1;
        if (c < i + span) return span > 1 || cell.dataset.v === undefined ? "" : cell.dataset.v;
        i += span;
      }
      return "";
    });
}
"""


def _require_chromium() -> None:
    missing = [str(p) for p in (CHROMIUM, DRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[browser]')")
    if missing:
        message = f"browser check needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("MLIP_BENCH_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """index.html of every leaderboard, published from a store of real cells."""
    _require_chromium()
    pytest.importorskip("asap3")
    root = tmp_path_factory.mktemp("browser")
    store = root / "store"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "mlip_bench.cli"]
    for task, potential in CELLS:
        run = [*cli, "run", "--task", task, "--potential", potential, "--results", str(store), "--no-progress"]
        done = subprocess.run(run, cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    out = {}
    for board in LEADERBOARDS:
        folder = root / "reports" / board
        report = [*cli, "report", "--leaderboard", board, "--results", str(store), "--out", str(folder)]
        done = subprocess.run(report, cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        out[board] = folder / "index.html"
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.set_window_size(1280, 800)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver: Any, page: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser"), driver.get_log("performance")  # drop what an earlier page left
    driver.set_window_size(1280, 800)
    driver.get(page.as_uri())
    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")
    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script(
            "return Array.prototype.every.call(document.querySelectorAll('.js-plotly-plot'),"
            " function (p) { return p.querySelector('svg.main-svg') !== null; })"
        )
    )


def _requests(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _numbers(values: list[str]) -> list[float]:
    return [float(v) for v in values if v != ""]


def _sorted_column(driver: Any) -> dict[str, Any]:
    """A column worth sorting: two different numbers, else a number and a row without a value."""
    columns = driver.execute_script(_COLUMN_JS + _COLUMNS_JS)
    for wanted in (lambda v: len(set(_numbers(v))) > 1, lambda v: _numbers(v) and "" in v):
        for column in columns:
            if wanted(column["values"]):
                return dict(column)
    raise AssertionError("no sortable table column with a number to sort on the page")


def _click_header(driver: Any, table: int, column: int) -> list[str]:
    from selenium.webdriver.common.by import By

    th = driver.find_elements(By.CSS_SELECTOR, "table.sortable")[table].find_elements(By.CSS_SELECTOR, "thead th")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", th[column])
    th[column].click()
    values = driver.execute_script(
        _COLUMN_JS + "return column(document.querySelectorAll('table.sortable')[arguments[0]], arguments[1]);",
        table,
        column,
    )
    return list(values)


def _check_order(values: list[str], ascending: bool) -> None:
    numbers = _numbers(values)
    assert numbers == sorted(numbers, reverse=not ascending), values
    present = [v != "" for v in values]
    assert present == sorted(present, reverse=True), f"rows without a value must come last: {values}"


@pytest.mark.parametrize("board", LEADERBOARDS)
def test_leaderboard_page_in_chromium(board: str, pages: dict[str, Path], browser: Any) -> None:
    page = pages[board]
    _open(browser, page)
    SCREENSHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{board}.png"))

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    foreign = [u for u in _requests(browser) if not u.startswith(("file:", "data:"))]
    assert not foreign, f"{board}: requests beyond the page: {foreign}"

    plots = browser.execute_script("return document.querySelectorAll('.js-plotly-plot').length")
    assert plots == page.read_text(encoding="utf-8").count("Plotly.newPlot(") >= 1  # every page has a record
    empty = browser.execute_script(
        "return Array.prototype.filter.call(document.querySelectorAll('.js-plotly-plot'), function (p) {"
        " return p.querySelectorAll('.trace, .hm').length === 0 || p.querySelectorAll('.xtick').length === 0;"
        "}).map(function (p) { return p.id; })"
    )
    assert not empty, f"{board}: plots without traces or axes: {empty}"

    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{board}: the page is {width[0]} px wide in a {width[1]} px window"

    column = _sorted_column(browser)
    ascending = column["first"] != "desc"
    first = _click_header(browser, column["table"], column["column"])
    _check_order(first, ascending)
    assert sorted(_numbers(first)) == sorted(_numbers(column["values"]))  # same rows, reordered
    _check_order(_click_header(browser, column["table"], column["column"]), not ascending)

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height), 16000))
    browser.save_screenshot(str(SCREENSHOTS / f"{board}-full.png"))
    browser.set_window_size(1280, 800)
