"""One exception hierarchy for the whole suite.

Every error a user can trigger with bad input derives from :class:`MlipBenchError`, so a
script can catch one class; each message names the file, field, structure or potential
at fault.
"""

from __future__ import annotations


class MlipBenchError(Exception):
    """Base class of every error raised on purpose by mlip-bench."""


class DataError(MlipBenchError):
    """A dataset file is missing, unreadable, malformed or lacks a required field."""


class ChecksumError(DataError):
    """A dataset file's sha256 differs from the one in the registry."""


class DatasetNotFoundError(DataError):
    """A registered dataset's file is not under the data root."""


class PotentialError(MlipBenchError):
    """A potential cannot be resolved, built or evaluated."""


class UnknownPotentialError(PotentialError):
    """No adapter matches the potential spec."""


class OptionalDependencyError(PotentialError):
    """An adapter needs a package that is not installed (the message says how to get it)."""


class TaskSpecError(MlipBenchError):
    """A task or leaderboard spec file does not validate."""


class UnknownKindError(TaskSpecError):
    """No registered task kind has this name (the message lists the known ones)."""


class UnknownChoiceError(MlipBenchError):
    """A command-line selection (``--potentials``) names nothing known; the message lists the choices."""


class KindError(MlipBenchError):
    """A task kind (built-in or plugin) is invalid: not a TaskKind, a bad parameter declaration, or
    a name another kind already has (both owners named)."""


class EvaluationError(MlipBenchError):
    """A potential failed, or returned a non-finite value, on one structure."""


class PropertyError(MlipBenchError):
    """A property simulation (EOS, elastic constants, ...) could not produce its result."""


class ResultStoreError(MlipBenchError):
    """A stored result record cannot be read or written."""


class CorruptFileError(ResultStoreError):
    """A stored file is truncated, not what it claims to be, of another schema, or fails its checksum.

    ``CorruptFileError(path, reason)``: the message is "<path>: <reason>"; both kept as attributes.
    """

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class StoreIntegrityWarning(UserWarning):
    """A bad file in a store was set aside (quarantined) instead of being used; names the path."""


class CheckpointWarning(UserWarning):
    """An MD checkpoint file is unreadable or belongs to another run: ignored (names the path, the reason)."""


class WorkerError(MlipBenchError):
    """An executor could not run a work item to completion (the message names the item's index)."""


class ItemCrashed(WorkerError):
    """A work item killed its worker (exit code, signal) or tried to exit it (SystemExit)."""


class ItemTimeout(WorkerError):
    """A work item ran past its time limit; its worker was killed (or, for dask, released)."""
