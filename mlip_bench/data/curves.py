"""Reference curves (cold curves, deformation paths, GSFE, ...): tabulated x-y data with units
and a citation, kept in ``reference_data/curves/*.yaml``. A curve's ``kind`` says whether it is
DFT, experiment, or another potential (a "reference" role the suite may fill itself later).

File format (one or more curves per file)::

    curves:
      - key: al/bain/dft-pbe          # unique across all files
        kind: DFT (PBE)               # or "experiment", "potential: <spec>"
        x_label: c/a                  # with unit where it has one
        y_label: energy (meV/atom)
        x: [0.8, 0.9, ...]
        y: [12.0, 5.1, ...]
        citation: ...
        note: how the numbers were obtained (digitised, tabulated, computed by the suite with ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import yaml

from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.errors import DataError
from mlip_bench.paths import reference_dir

_REQUIRED = ("key", "kind", "x_label", "y_label", "x", "y", "citation")


@dataclass(frozen=True)
class ReferenceCurve:
    key: str
    kind: str
    x_label: str
    y_label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    citation: str
    note: str = ""
    source: str = ""

    def interpolate(self, x: np.ndarray) -> np.ndarray:
        """Reference y at `x` (linear; NaN outside the tabulated range)."""
        return np.interp(np.asarray(x, float), self.x, self.y, left=np.nan, right=np.nan)


@cache
def reference_curves() -> dict[str, ReferenceCurve]:
    """All curves by key; raises DataError naming the file and field of a bad entry."""
    out: dict[str, ReferenceCurve] = {}
    folder = reference_dir() / "curves"
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            raw = load_yaml(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise DataError(f"{path}: not valid YAML: {exc}") from exc
        for i, entry in enumerate(raw.get("curves", [])):
            where = f"{path}: curves[{i}]"
            missing = [f for f in _REQUIRED if f not in entry]
            if missing:
                raise DataError(f"{where}: missing field(s) {missing}")
            x, y = entry["x"], entry["y"]
            if len(x) != len(y) or len(x) < 2:
                raise DataError(f"{where} ({entry['key']}): x and y need the same length >= 2, got {len(x)}, {len(y)}")
            if list(x) != sorted(x):
                raise DataError(f"{where} ({entry['key']}): field x must be increasing")
            if entry["key"] in out:
                raise DataError(f"{where}: key {entry['key']!r} already defined in {out[entry['key']].source}")
            out[entry["key"]] = ReferenceCurve(
                key=entry["key"],
                kind=entry["kind"],
                x_label=entry["x_label"],
                y_label=entry["y_label"],
                x=tuple(float(v) for v in x),
                y=tuple(float(v) for v in y),
                citation=entry["citation"],
                note=entry.get("note", ""),
                source=str(path),
            )
    return out


def reference_curve(key: str) -> ReferenceCurve:
    curves = reference_curves()
    if key not in curves:
        raise DataError(f"unknown reference curve {key!r} (known: {', '.join(sorted(curves)) or 'none'})")
    return curves[key]
