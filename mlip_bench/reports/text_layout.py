"""Terminal layout: tables and notes that fit a terminal's width (120 columns by default).

Long headers and labels are wrapped onto several lines; a table still too wide is cut into blocks
of columns, each repeating the first (the potential's label), as pandas prints wide frames.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from tabulate import tabulate

#: the width every terminal report fits
WIDTH = 120
#: wrap widths tried for the first column (potential labels), widest first; of headers; of other cells
_LABEL_WIDTHS, _HEADER, _CELL = (30, 28, 26, 24, 22), 10, 12


def fit_grid(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int = WIDTH) -> str:
    """`rows` under `headers` as a plain-text grid at most `width` characters wide: cells are
    wrapped at spaces (the first column, potential labels, as little as keeps the fewest blocks),
    and a grid still too wide is cut into as few blocks of columns as fit, of even widths, each
    repeating the first column (a single word longer than the width is the one thing that can
    exceed it)."""
    layouts = [_layout(headers, rows, label, width) for label in _LABEL_WIDTHS]
    fewest = min(len(blocks) for _, _, blocks in layouts)
    head, body, blocks = next(layout for layout in layouts if len(layout[2]) == fewest)
    return "\n\n".join(_grid(head, body, block) for block in blocks)


def _layout(
    headers: Sequence[str], rows: Sequence[Sequence[str]], label: int, width: int
) -> tuple[list[str], list[list[str]], list[list[int]]]:
    """Headers and rows wrapped (the first column at `label`) and their blocks of columns."""
    head = [_wrap(h, label if i == 0 else _HEADER) for i, h in enumerate(headers)]
    body = [[_wrap(c, label if i == 0 else _CELL) for i, c in enumerate(row)] for row in rows]
    # tabulate pads a header by two spaces
    widths = [max(_widest(h) + 2, *(_widest(row[i]) for row in body)) for i, h in enumerate(head)]
    fewest = len(_blocks(widths, width))
    # the narrowest limit that needs no more blocks than `width` does: blocks of even widths
    limit = next(w for w in range(widths[0], width + 1) if len(_blocks(widths, w)) <= fewest)
    return head, body, _blocks(widths, limit)


def _blocks(widths: Sequence[int], width: int) -> list[list[int]]:
    """Column indices (after the first) packed greedily into blocks whose grid, with the first
    column and two spaces between columns, is at most `width` wide (at least one column each)."""
    blocks: list[list[int]] = []
    used = width + 1
    for i in range(1, len(widths)):
        if used + 2 + widths[i] > width:
            blocks.append([])
            used = widths[0]
        blocks[-1].append(i)
        used += 2 + widths[i]
    return blocks or [[]]


def _grid(head: list[str], body: list[list[str]], block: Sequence[int]) -> str:
    columns = [0, *block]
    return tabulate(
        [[row[i] for i in columns] for row in body],
        headers=[head[i] for i in columns],
        tablefmt="simple",
        disable_numparse=True,
    )


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _wrap(text: str, width: int) -> str:
    """Each line of `text` wrapped at spaces to `width` (a longer word stays whole)."""
    lines = text.splitlines() or [text]
    return "\n".join(
        "\n".join(textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False)) or line for line in lines
    )


def wrap_line(text: str, width: int = WIDTH, prefix: str = "", indent: str = "  ") -> str:
    """`text` filled to `width`, the first line after `prefix`, the others indented; long words
    (paths, commands) are kept whole."""
    return textwrap.fill(
        text,
        width,
        initial_indent=prefix,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def fit_columns(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int = WIDTH) -> str:
    """A listing (`rows` of free text under `headers`) at most `width` wide: the widest columns are
    narrowed and wrapped at spaces first; no word is broken (a path longer than its share stays whole)."""
    cells = [list(headers), *([str(c) for c in row] for row in rows)]
    widths = [max(_widest(row[i]) for row in cells) for i in range(len(headers))]
    floor = [max(len(w) for row in cells for w in (row[i].split() or [""])) for i in range(len(headers))]
    while True:
        wrapped = [[_wrap(c, widths[i]) for i, c in enumerate(row)] for row in cells]
        text = tabulate(wrapped[1:], headers=wrapped[0], tablefmt="simple", disable_numparse=True)
        room = [w - f for w, f in zip(widths, floor, strict=True)]
        if _widest(text) <= width or max(room) <= 0:
            return text
        widest = max((i for i in range(len(widths)) if room[i] > 0), key=lambda i: widths[i])
        widths[widest] -= 1
