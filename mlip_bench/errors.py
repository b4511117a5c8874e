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


class EvaluationError(MlipBenchError):
    """A potential failed, or returned a non-finite value, on one structure."""


class PropertyError(MlipBenchError):
    """A property simulation (EOS, elastic constants, ...) could not produce its result."""


class ResultStoreError(MlipBenchError):
    """A stored result record cannot be read or written."""
