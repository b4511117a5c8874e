"""Work items on a dask.distributed cluster: a LocalCluster this executor starts, or a running scheduler.

Imported only when the "dask" executor is asked for: dask is an optional extra (``pip install
'mlip-bench[dask]'``), and ``import mlip_bench`` must not import it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mlip_bench.engine.executors import Executor, check_timeouts
from mlip_bench.engine.worker_process import as_exception
from mlip_bench.errors import ItemCrashed, ItemTimeout, OptionalDependencyError

try:
    import dask
    import distributed
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise OptionalDependencyError(
        f"the dask executor needs dask.distributed ({_missing}): pip install 'mlip-bench[dask]'"
    ) from _missing

J = TypeVar("J")
R = TypeVar("R")

#: scheduler settings of the LocalCluster: a job that kills its worker fails at once (KilledWorker) instead of
#: being retried on, and killing, other workers; a worker holds only the task it runs (no queue of innocent tasks
#: that would fail with it)
_LOCAL_CONFIG = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-saturation": 1.0,
    # dask's default MALLOC_TRIM_THRESHOLD_=65536 made MTP evaluation 30-45 % slower in its workers
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}

#: seconds between looks at the scheduler for jobs with a time limit that are not yet seen running
_POLL_S = 0.5


@dataclass(frozen=True)
class _Task:
    """fn as run on a dask worker: an exit request (SystemExit, ...) from fn would end the worker, so it is
    raised as ItemCrashed instead."""

    fn: Callable[[Any], Any]

    def __call__(self, index: int, job: Any) -> Any:
        try:
            return self.fn(job)
        except Exception:
            raise
        except BaseException as exc:
            raise as_exception(index, exc) from None


@dataclass
class _Submitted:
    """A submitted job (mutable: when it is first seen running is filled in later)."""

    index: int
    limit_s: float | None
    started_s: float | None = None  # time.monotonic() when first seen running on a worker

    def next_check_s(self, now: float) -> float | None:
        """When to look at this job again: its deadline, or soon if it is not known to run yet."""
        if self.limit_s is None:
            return None
        return now + min(self.limit_s, _POLL_S) if self.started_s is None else self.started_s + self.limit_s


class DaskExecutor(Executor):
    """Jobs as dask tasks, at most one per worker thread at a time; ``on_start(i)`` is called when job i is
    submitted, which is then about when it starts. A job's time limit counts from when the scheduler is first
    seen (polled every 0.5 s) to have it on a worker, so a job waiting for a restarting worker is not timed.

    With no `scheduler` address this starts ``LocalCluster(n_workers=workers, threads_per_worker=1)`` of
    nanny-supervised processes, with allowed-failures 0: a job that kills its worker is yielded as ItemCrashed
    and the nanny starts a new worker. With an address it connects to that scheduler, whose own configuration
    applies (set ``distributed.scheduler.allowed-failures: 0`` there, or a crashing job is retried and kills
    that many more workers). A job past its limit is cancelled and, as a running Python task cannot be
    interrupted, its worker process is ended (``os._exit`` via ``Client.run``) and restarted by its nanny;
    a worker without a nanny is lost to the cluster."""

    name = "dask"

    def __init__(self, workers: int = 2, scheduler: str | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.scheduler = scheduler
        self._cluster: Any = None
        self._client: Any = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def map(
        self,
        fn: Callable[[J], R],
        jobs: Sequence[J],
        *,
        timeouts_s: Sequence[float | None] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> Iterator[tuple[int, R | BaseException]]:
        limits = check_timeouts(jobs, timeouts_s)
        return self._gather(self._connect(), _Task(fn), jobs, limits, on_start)

    def _connect(self) -> Any:
        if self._client is None:
            if self.scheduler:
                self._client = distributed.Client(self.scheduler)
            else:
                with dask.config.set(_LOCAL_CONFIG):
                    self._cluster = distributed.LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.WARNING,
                    )
                self._client = distributed.Client(self._cluster)
        return self._client

    def _gather(
        self, client: Any, task: _Task, jobs: Sequence[Any], limits: list[float | None], on_start: Any
    ) -> Iterator[tuple[int, Any]]:
        pending = deque(range(len(jobs)))
        running: dict[Any, _Submitted] = {}
        try:
            while pending or running:
                slots = max(1, sum(client.nthreads().values()))  # fewer while a worker restarts
                while pending and len(running) < slots:
                    index = pending.popleft()
                    key = f"mlip-bench-job-{index}-{uuid.uuid4().hex}"
                    future = client.submit(task, index, jobs[index], key=key, pure=False)
                    running[future] = _Submitted(index, limits[index])
                    if on_start is not None:
                        on_start(index)
                yield from _next_done(client, running)
        finally:
            if running and client.status == "running":
                client.cancel(list(running))


def _next_done(client: Any, running: dict[Any, _Submitted]) -> Iterator[tuple[int, Any]]:
    """Wait until a future finishes or passes its deadline; yield what happened to its job."""
    _see_starts(client, running)
    now = time.monotonic()
    checks = [c for c in (s.next_check_s(now) for s in running.values()) if c is not None]
    timeout = max(0.0, min(checks) - now) if checks else None
    try:
        done = distributed.wait(list(running), timeout=timeout, return_when="FIRST_COMPLETED").done
    except (TimeoutError, asyncio.TimeoutError):
        done = set()
    now = time.monotonic()
    for future, submitted in list(running.items()):
        if future in done:
            del running[future]
            yield submitted.index, _outcome(submitted.index, future)
        elif submitted.started_s is not None and now >= submitted.started_s + (submitted.limit_s or 0.0):
            del running[future]
            yield submitted.index, _time_out(client, future, submitted)


def _see_starts(client: Any, running: dict[Any, _Submitted]) -> None:
    """Stamp the jobs with a time limit that the scheduler now has on a worker (with one task per worker
    thread, that is the one it runs)."""
    waiting = [(f, s) for f, s in running.items() if s.limit_s is not None and s.started_s is None]
    if waiting:
        on_workers = {key for keys in client.processing().values() for key in keys}
        now = time.monotonic()
        for future, submitted in waiting:
            if future.key in on_workers:
                submitted.started_s = now


def _outcome(index: int, future: Any) -> Any:
    try:
        return future.result()
    except concurrent.futures.CancelledError:
        return ItemCrashed(f"job {index}: the dask cluster cancelled it")
    except distributed.KilledWorker:
        return ItemCrashed(f"job {index}: its dask worker died running it (KilledWorker; see the worker's log)")
    except Exception as exc:
        return exc


def _time_out(client: Any, future: Any, submitted: _Submitted) -> ItemTimeout:
    where = [address for address, keys in client.processing().items() if future.key in keys]
    future.cancel()
    message = f"job {submitted.index}: no result after {submitted.limit_s:g} s: task cancelled"
    if not where:
        return ItemTimeout(message)
    client.run(os._exit, 1, workers=where, on_error="return")  # the connection drops: that is the success
    return ItemTimeout(f"{message}, worker {where[0]} ended")
