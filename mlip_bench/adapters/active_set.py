"""MaxVol active set of a linear model's training set and the extrapolation grade γ against it.

Neighbourhood mode (Podryabinkin & Shapeev, Comput. Mater. Sci. 140 (2017) 171; paper 002 App. E):
every training atom contributes one row B_i (its n_basis moment-basis values) to a matrix of shape
(n_training_atoms, n_basis); MaxVol selects the n_basis rows whose square submatrix A has (locally)
maximal |det|. An atom of any structure then grades γ_i = max_j |(B A⁻¹)_ij| (Eq. E1-E2): <= 1 inside
the active set's span (interpolation), > 1 outside. Selection is motep's Grader's (QR-pivoted
initial rows, then single-row swaps while some |c| exceeds 1 + 1e-9), so grades equal
``motep.grade.Grader(..., mode=NEIGHBORHOOD).grade`` with ``optimized=["moment_coeffs"]``.

A⁻¹ is a pseudo-inverse: MTP moment bases are linearly dependent on every neighbourhood (the
paper-001 Li-Al MTPs: rank 1394 of 1464 basis functions on D_train, singular values falling from
4e-9 to 3e-17 of the largest; the 500-function MTP_retrain-extra-2: rank 486), so A is singular and
motep solves c A = B by least squares (minimum norm, singular values below eps * n_basis of the
largest dropped). The same cutoff here gives the same c, and the wide gap makes it well defined.

The whole matrix is held in memory: for the paper-001 Li-Al MTPs (1464 basis functions) it is
39198 x 1464 x 8 B = 0.46 GB for D_train and 0.52 GB for D_re-train, and the selection peaks at
about twice that (the matrix with either its QR copy or c = B A⁻¹; motep's own needs four times).
Streaming blocks through MaxVol would not give motep's active set, and configuration mode (one row
per structure) would not give per-atom grades, so neither is used.

An active set is built once per :class:`ActiveSetKey` (MTP file sha256, species, training-set
fingerprint, seed): memoized per process and, inside a run (:func:`mlip_bench.paths.artifact_root`),
kept as ``<artifact_root>/active_sets/<digest>.npz`` with an embedded sha256 of its contents. A file
that is corrupt, or holds another key's set, raises an :class:`ActiveSetWarning` naming it, is set
aside as ``<name>.bad-<n>`` and recomputed; it is never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.linalg.lapack import dgeqp3

from mlip_bench.errors import PotentialError
from mlip_bench.paths import artifact_root

FORMAT = "mlip-bench active set v1"
#: motep's MaxVolSetting defaults (the Grader's): stop once no |c| exceeds 1 + THRESHOLD
THRESHOLD = 1e-9
MAXITER = 100_000

_MEMO: dict[ActiveSetKey, ActiveSet] = {}
_LOCK = threading.Lock()


class ActiveSetWarning(UserWarning):
    """A stored active set was unusable (corrupt or foreign) and has been set aside."""


@dataclass(frozen=True)
class ActiveSetKey:
    """What an active set depends on; `digest` names its file."""

    mtp_sha256: str
    species: tuple[str, ...]
    training_fingerprint: str
    seed: int = 0

    def text(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()[:32]


@dataclass(frozen=True, eq=False)
class ActiveSet:
    """`inverse`: A⁺, shape (n_basis, n_basis), the pseudo-inverse of the active-set submatrix A
    (rows `rows` of the training matrix, sorted) and `rank` its rank; `n_training_rows`: that
    matrix's row count (training atoms)."""

    key: ActiveSetKey
    inverse: np.ndarray
    rows: np.ndarray
    n_training_rows: int
    rank: int

    @property
    def n_basis(self) -> int:
        return int(self.inverse.shape[0])

    def grades(self, basis: np.ndarray) -> np.ndarray:
        """Per-atom γ (dimensionless), shape (n_atoms,), of per-atom basis values (n_atoms, n_basis).
        Raises PotentialError on a basis of the wrong width."""
        basis = np.asarray(basis, dtype=float)
        if basis.ndim != 2 or basis.shape[1] != self.n_basis:
            raise PotentialError(f"basis of shape {basis.shape} does not match an active set of {self.n_basis}")
        return np.asarray(np.abs(basis @ self.inverse).max(axis=1, initial=0.0))


def select(matrix: np.ndarray, *, maxiter: int = MAXITER) -> np.ndarray:
    """MaxVol rows of `matrix` (n_rows, n_basis), sorted, shape (n_basis,): motep's algorithm
    (``motep.grade.maxvol._maxvol`` with QR initialisation) with in-place updates, so its peak
    memory is about twice the matrix instead of four times. Raises PotentialError when there are
    fewer rows than columns."""
    n_rows, n_basis = matrix.shape
    if n_rows < n_basis:
        raise PotentialError(
            f"active set: {n_rows} training atoms for {n_basis} basis functions; the training set must "
            "have at least as many atoms as the potential has moment coefficients"
        )
    selected = _qr_rows(matrix)
    c = _coefficients(matrix, selected)
    in_selected = np.zeros(n_rows, dtype=bool)
    in_selected[selected] = True
    for _ in range(maxiter):
        i, j = _argmax_abs(c)
        pivot = c[i, j]
        if abs(pivot) - 1.0 < THRESHOLD or in_selected[i]:
            break
        in_selected[selected[j]] = False
        in_selected[i] = True
        selected[j] = i
        row = c[i].copy()
        row[j] -= 1.0
        col = c[:, j].copy()
        _rank_one_update(c, col, row, -1.0 / pivot)
    return np.sort(selected)


def _qr_rows(matrix: np.ndarray) -> np.ndarray:
    """The first n_basis pivots of a column-pivoted QR of matrix.T (motep's "qr" start), computed
    in place on one copy (scipy.linalg.qr would hold two more matrix-sized arrays)."""
    work = np.array(matrix.T, order="F")
    lwork = int(dgeqp3(work, lwork=-1, overwrite_a=1)[3][0])  # workspace query: the blocked algorithm
    _, pivots, _, _, info = dgeqp3(work, lwork=lwork, overwrite_a=1)
    if info != 0:
        raise PotentialError(f"active set: LAPACK dgeqp3 failed (info={info})")
    return np.asarray(pivots[: matrix.shape[1]], dtype=np.int64) - 1  # LAPACK pivots count from 1


def pseudo_inverse(a: np.ndarray) -> tuple[np.ndarray, int]:
    """(A⁺, rank) of a square `a`, dropping singular values <= eps * n of the largest: the cutoff of
    ``np.linalg.lstsq(rcond=None)`` that motep's grader solves with. Raises PotentialError when
    the SVD fails or `a` is zero."""
    try:
        u, s, vt = np.linalg.svd(a)
    except np.linalg.LinAlgError as exc:
        raise PotentialError(f"active set: SVD of the {a.shape} active-set matrix failed: {exc}") from exc
    keep = s > s[0] * np.finfo(float).eps * max(a.shape) if s.size else s > 0
    if not keep.any():
        raise PotentialError("active set: the training basis values are all zero")
    return (vt[keep].T / s[keep]) @ u[:, keep].T, int(keep.sum())


def _coefficients(matrix: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """c = matrix @ A⁺ with A = matrix[selected], shape (n_rows, n_basis)."""
    return np.asarray(matrix @ pseudo_inverse(matrix[selected])[0])


def _blocks(n_rows: int, n_cols: int) -> range:
    return range(0, n_rows, max(1, (1 << 20) // max(n_cols, 1)))


def _argmax_abs(c: np.ndarray) -> tuple[int, int]:
    """(row, column) of the first largest |c| in row-major order (np.argmax(np.abs(c))), by blocks."""
    best, where = -1.0, (0, 0)
    step = _blocks(*c.shape).step
    for start in _blocks(*c.shape):
        block = np.abs(c[start : start + step])
        k = int(np.argmax(block))
        i, j = divmod(k, c.shape[1])
        if block[i, j] > best:
            best, where = float(block[i, j]), (start + i, j)
    return where


def _rank_one_update(c: np.ndarray, col: np.ndarray, row: np.ndarray, alpha: float) -> None:
    """c += alpha * outer(col, row) in place, in row blocks so no full-size temporary is made."""
    step = _blocks(*c.shape).step
    for start in _blocks(*c.shape):
        block = c[start : start + step]
        block += alpha * np.outer(col[start : start + step], row)


def build(key: ActiveSetKey, matrix: np.ndarray) -> ActiveSet:
    """The active set of training `matrix` (n_training_atoms, n_basis). Raises PotentialError."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or not np.isfinite(matrix).all():
        raise PotentialError(f"active set: the training basis matrix must be finite and 2-D, got {matrix.shape}")
    rows = select(matrix)
    inverse, rank = pseudo_inverse(matrix[rows])
    return ActiveSet(key=key, inverse=inverse, rows=rows, n_training_rows=matrix.shape[0], rank=rank)


def active_set(key: ActiveSetKey, training_matrix: Callable[[], np.ndarray]) -> ActiveSet:
    """The active set for `key`: from this process's memo, else from the run's artifact folder,
    else built from `training_matrix()` (called only then) and stored. Raises PotentialError."""
    with _LOCK:
        cached = _MEMO.get(key)
        if cached is not None:
            return cached
        root = artifact_root()
        path = None if root is None else root / "active_sets" / f"{key.digest}.npz"
        with _build_lock(path):  # workers of one run wait for the first build instead of repeating it
            found = None if path is None else _load(path, key)
            if found is None:
                found = build(key, training_matrix())
                if path is not None:
                    _store(path, found)
        _MEMO[key] = found
        return found


@contextlib.contextmanager
def _build_lock(path: Path | None) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` across processes (POSIX flock; released if the holder
    dies, so a killed worker never blocks the next); no lock without a path or without fcntl."""
    if path is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: concurrent workers may build the same set twice, harmlessly
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clear_memo() -> None:
    """Forget the active sets built in this process (stored files stay)."""
    with _LOCK:
        _MEMO.clear()


def _checksum(inverse: np.ndarray, rows: np.ndarray, meta: str) -> str:
    digest = hashlib.sha256(meta.encode())
    digest.update(np.ascontiguousarray(inverse, dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(rows, dtype="<i8").tobytes())
    return digest.hexdigest()


def _store(path: Path, found: ActiveSet) -> None:
    """Write atomically (temp file + rename): concurrent workers never see a half-written file."""
    meta = json.dumps({"key": found.key.text(), "n_training_rows": found.n_training_rows, "rank": found.rank})
    inverse = np.ascontiguousarray(found.inverse, dtype="<f8")
    rows = np.ascontiguousarray(found.rows, dtype="<i8")
    buffer = io.BytesIO()
    np.savez(buffer, inverse=inverse, rows=rows, meta=np.array(meta), sha256=np.array(_checksum(inverse, rows, meta)))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(buffer.getvalue())
    os.replace(temp, path)


def _load(path: Path, key: ActiveSetKey) -> ActiveSet | None:
    """The stored set for `key`, or None when there is none or it is unusable (then set aside)."""
    if not path.exists():
        return None
    try:
        found, why = _read(path, key)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, zipfile.BadZipFile) as exc:
        found, why = None, f"unreadable ({type(exc).__name__}: {exc})"
    if found is None:
        _set_aside(path, why)
    return found


def _read(path: Path, key: ActiveSetKey) -> tuple[ActiveSet | None, str]:
    with np.load(path, allow_pickle=False) as data:
        inverse, rows = np.array(data["inverse"]), np.array(data["rows"])
        meta, stored = str(data["meta"]), str(data["sha256"])
    info = json.loads(meta)
    why = _problem(inverse, rows, meta, stored, info, key)
    if why:
        return None, why
    counts = int(info["n_training_rows"]), int(info["rank"])
    return ActiveSet(key=key, inverse=inverse, rows=rows, n_training_rows=counts[0], rank=counts[1]), ""


def _problem(
    inverse: np.ndarray, rows: np.ndarray, meta: str, stored: str, info: dict[str, object], key: ActiveSetKey
) -> str:
    """Why a stored set cannot be used ("" when it can)."""
    if _checksum(inverse, rows, meta) != stored:
        return "its sha256 does not match its contents (corrupt)"
    if info.get("key") != key.text():
        return f"it holds the active set of another potential or training set ({info.get('key')})"
    if inverse.ndim != 2 or inverse.shape[0] != inverse.shape[1] or rows.shape != (inverse.shape[0],):
        return f"inconsistent shapes {inverse.shape} and {rows.shape}"
    return ""


def _set_aside(path: Path, why: str) -> None:
    n = 0
    while (aside := path.with_name(f"{path.name}.bad-{n}")).exists():
        n += 1
    try:
        os.replace(path, aside)
        note = f"moved to {aside.name}; recomputing"
    except OSError as exc:
        note = f"could not be moved aside ({exc}); recomputing"
    warnings.warn(f"{path}: stored MTP active set not used: {why}; {note}", ActiveSetWarning, stacklevel=4)
