"""The result store: one JSON file per (task, potential) cell, written atomically, found again
by the content hash (key) of the cell's inputs, so an unchanged cell is never recomputed and a
killed run resumes where it stopped."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from mlip_bench.engine.records import ResultRecord, from_jsonable, to_jsonable
from mlip_bench.errors import ResultStoreError

DEFAULT_RESULTS_DIR = "results"


def slug(text: str) -> str:
    """A file-name-safe form of a potential spec."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60] or "potential"


def record_to_json(record: ResultRecord) -> str:
    return json.dumps(to_jsonable(record), indent=1, sort_keys=False)


def record_from_json(text: str, *, source: str) -> ResultRecord:
    try:
        return from_jsonable(ResultRecord, json.loads(text))
    except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as exc:
        raise ResultStoreError(f"{source}: not a valid result record: {exc}") from exc


class ResultStore:
    """Results under `root`/<task id>/<potential slug>-<key prefix>.json."""

    def __init__(self, root: str | Path = DEFAULT_RESULTS_DIR) -> None:
        self.root = Path(root)

    def path_for(self, task_id: str, potential_spec: str, key: str) -> Path:
        return self.root / task_id / f"{slug(potential_spec)}-{key[:16]}.json"

    def get(self, task_id: str, key: str) -> ResultRecord | None:
        """The stored record with this key, or None (found by key: the spec may be spelled differently)."""
        for path in sorted((self.root / task_id).glob(f"*-{key[:16]}.json")):
            record = record_from_json(path.read_text(), source=str(path))
            if record.key == key:
                return record
        return None

    def put(self, record: ResultRecord) -> Path:
        """Write atomically (temporary file, fsync, rename): a killed run leaves no half file."""
        path = self.path_for(record.task.id, record.potential.spec, record.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(record_to_json(record))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def records(self) -> list[ResultRecord]:
        """The newest record of each (task, potential) pair in the store."""
        latest: dict[tuple[str, str], ResultRecord] = {}
        for path in sorted(self.root.glob("*/*.json")):
            record = record_from_json(path.read_text(), source=str(path))
            pair = (record.task.id, record.potential.spec)
            if pair not in latest or record.created_utc > latest[pair].created_utc:
                latest[pair] = record
        return list(latest.values())
