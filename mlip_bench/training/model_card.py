"""Model cards: what a fitted potential is, what it was fitted to and how well, as YAML.

A card sits next to the ``.mtp`` it describes (``model_card.yaml``): the training set's checksum
(:func:`mlip_bench.training.fit_mtp.training_sha256`), the basis (level, cutoff, min_dist, radial
basis size, species in type order), the loss weights, the training errors, the oracle's
provenance (a free-form mapping from the caller: code, version, functional, cutoffs, ...), the
motep version and the date. :func:`read_card` checks every field and names the file and field
at fault.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from mlip_bench.data.extxyz import sha256_of
from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.errors import DataError
from mlip_bench.training.fit_mtp import MtpFit

SCHEMA = "mlip-bench/model-card/1"


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """One fitted MTP. Distances in Å, errors in meV/atom and eV/Å, time in seconds; `date` ISO
    8601 (UTC); `oracle` and `validation_errors` free-form (the caller's); `notes`: how it was made
    beyond the settings (e.g. continued from another file)."""

    mtp_file: str
    mtp_sha256: str
    species: tuple[str, ...]
    level: int
    cutoff_A: float
    min_dist_A: float
    radial_basis_size: int
    energy_weight: float
    force_weight: float
    stress_weight: float
    seed: int
    max_iterations: int
    nonlinear_structures: int
    n_structures: int
    training_sha256: str
    train_energy_rmse_meV_per_atom: float
    train_force_rmse_eV_per_A: float
    fit_seconds: float
    motep_version: str
    date: str
    oracle: Mapping[str, Any] = field(default_factory=dict)
    validation_errors: Mapping[str, float] = field(default_factory=dict)
    notes: str = ""
    schema: str = SCHEMA


def card_from_fit(
    fit: MtpFit,
    *,
    oracle: Mapping[str, Any],
    validation_errors: Mapping[str, float] | None = None,
    notes: str = "",
    date: str | None = None,
) -> ModelCard:
    """The card of `fit` (the ``.mtp`` must exist: its sha256 is recorded); `date` defaults to now
    (UTC). Raises DataError when the file is missing."""
    path = Path(fit.mtp_path)
    if not path.is_file():
        raise DataError(f"model card: fitted MTP file {path} not found")
    s = fit.settings
    return ModelCard(
        mtp_file=path.name,
        mtp_sha256=sha256_of(path),
        species=tuple(s.species),
        level=s.level,
        cutoff_A=s.cutoff_A,
        min_dist_A=s.min_dist_A,
        radial_basis_size=s.radial_basis_size,
        energy_weight=s.energy_weight,
        force_weight=s.force_weight,
        stress_weight=s.stress_weight,
        seed=s.seed,
        max_iterations=s.max_iterations,
        nonlinear_structures=s.nonlinear_structures,
        n_structures=fit.n_structures,
        training_sha256=fit.training_sha256,
        train_energy_rmse_meV_per_atom=fit.energy_rmse_meV_per_atom,
        train_force_rmse_eV_per_A=fit.force_rmse_eV_per_A,
        fit_seconds=fit.seconds,
        motep_version=fit.motep_version,
        date=date or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        oracle=dict(oracle),
        validation_errors=dict(validation_errors or {}),
        notes=notes,
    )


def card_text(card: ModelCard) -> str:
    """The card as YAML (plain types only: readable by any YAML reader)."""
    data = asdict(card)
    data["species"] = list(card.species)
    data["oracle"] = _plain(card.oracle)
    data["validation_errors"] = {str(k): float(v) for k, v in card.validation_errors.items()}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def write_card(card: ModelCard, path: Path) -> Path:
    """Write `card` to `path` as YAML; returns `path`."""
    path = Path(path)
    path.write_text(card_text(card), encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    """Mappings, sequences, numbers and strings as plain YAML types (anything else as its str)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


_INTS = ("level", "radial_basis_size", "seed", "max_iterations", "nonlinear_structures", "n_structures")
_FLOATS = (
    "cutoff_A",
    "min_dist_A",
    "energy_weight",
    "force_weight",
    "stress_weight",
    "train_energy_rmse_meV_per_atom",
    "train_force_rmse_eV_per_A",
    "fit_seconds",
)
_STRINGS = ("mtp_file", "mtp_sha256", "training_sha256", "motep_version", "date", "notes", "schema")


def read_card(path: Path) -> ModelCard:
    """The card in `path`; raises DataError naming the file and field when it is missing,
    not YAML, of another schema, or a field is absent or of the wrong type."""
    path = Path(path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read model card: {type(exc).__name__}: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{path}: a model card is a YAML mapping, got {type(raw).__name__}")
    names = {f.name for f in fields(ModelCard)}
    unknown = sorted(set(raw) - names)
    missing = sorted(names - set(raw))
    if unknown or missing:
        raise DataError(f"{path}: model card fields: unknown {unknown}, missing {missing}")
    if raw["schema"] != SCHEMA:
        raise DataError(f"{path}: field 'schema': {raw['schema']!r}, expected {SCHEMA!r}")
    return ModelCard(**_checked(path, raw))


def _checked(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    for name in _INTS:
        if not isinstance(raw[name], int) or isinstance(raw[name], bool):
            raise DataError(f"{path}: field {name!r}: {raw[name]!r} is not an integer")
    for name in _FLOATS:
        value = raw[name]
        # a training RMSE is NaN when the set has no forces; every other number is finite
        nan_ok = name.startswith("train_") and isinstance(value, float) and math.isnan(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not (nan_ok or math.isfinite(value)):
            raise DataError(f"{path}: field {name!r}: {value!r} is not a finite number")
        out[name] = float(value)
    for name in _STRINGS:
        if not isinstance(raw[name], str):
            raise DataError(f"{path}: field {name!r}: {raw[name]!r} is not a string")
    species = raw["species"]
    if not isinstance(species, list) or not species or not all(isinstance(s, str) for s in species):
        raise DataError(f"{path}: field 'species': {species!r} is not a list of element symbols")
    out["species"] = tuple(species)
    for name in ("oracle", "validation_errors"):
        if not isinstance(raw[name], dict):
            raise DataError(f"{path}: field {name!r}: {raw[name]!r} is not a mapping")
    try:
        out["validation_errors"] = {str(k): float(v) for k, v in raw["validation_errors"].items()}
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: field 'validation_errors': {exc}") from exc
    return out
