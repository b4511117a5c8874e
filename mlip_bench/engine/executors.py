"""Executors run work items (small picklable jobs) and yield each result as it completes.

Potentials are arbitrary user code: an item may raise, hang, call ``os._exit``/``os.abort`` or segfault. The
contract of :meth:`Executor.map` is that one bad item costs only itself: its failure is yielded in place of its
result and every other item completes. :class:`ProcessExecutor` (the CLI default) isolates items in supervised,
long-lived worker processes; :class:`SerialExecutor` runs in-process for debugging; :class:`DaskExecutor`
(module :mod:`mlip_bench.engine.dask_executor`, imported only when used) runs on a local or remote dask cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.util  # registers its exit hook now, so the hook below runs before it (atexit is LIFO)
import pickle
import time
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, TypeVar

from mlip_bench.engine.worker_process import (
    GRACE_S,
    as_exception,
    exit_reason,
    read_reply,
    stop,
    worker_main,
)
from mlip_bench.errors import ItemCrashed, ItemTimeout, WorkerError

J = TypeVar("J")
R = TypeVar("R")
E = TypeVar("E", bound="Executor")

#: seconds a fresh worker may take to import what a job needs before that job's time limit starts
_BOOT_S = 120.0
#: stands for "job i started" among the outcomes of ProcessExecutor._collect
_STARTED = object()


class Executor(ABC):
    """Runs ``fn`` on work items; also a context manager that calls :meth:`close`."""

    name: str

    @abstractmethod
    def map(
        self,
        fn: Callable[[J], R],
        jobs: Sequence[J],
        *,
        timeouts_s: Sequence[float | None] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> Iterator[tuple[int, R | BaseException]]:
        """Yield (index into `jobs`, fn(job)) in completion order. Never raises for a job's failure: an
        exception raised by fn, a worker that died, or a job that ran past ``timeouts_s[i]`` seconds (None: no
        limit) is yielded in place of the result. An exception that would end a process (SystemExit, or
        KeyboardInterrupt raised inside a worker) comes back as :class:`ItemCrashed`; a dead worker as
        ItemCrashed, a timeout as :class:`ItemTimeout`, each naming the job index and the reason.
        ``on_start(i)`` is called in the caller's process when job i starts. Raises ValueError if
        `timeouts_s` and `jobs` differ in length, WorkerError if `fn` cannot be sent to the workers."""

    @abstractmethod
    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self: E) -> E:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def check_timeouts(jobs: Sequence[Any], timeouts_s: Sequence[float | None] | None) -> list[float | None]:
    """One time limit (s, or None) per job; ValueError when the lengths differ."""
    if timeouts_s is None:
        return [None] * len(jobs)
    if len(timeouts_s) != len(jobs):
        raise ValueError(f"timeouts_s has {len(timeouts_s)} entries for {len(jobs)} jobs")
    return list(timeouts_s)


class SerialExecutor(Executor):
    """In-process, no isolation (debugging, library use): a job that hangs or kills the interpreter takes the
    caller with it, and `timeouts_s` is accepted but not enforced. Exceptions and SystemExit from fn are
    yielded (SystemExit as ItemCrashed); KeyboardInterrupt propagates."""

    name = "serial"

    def map(
        self,
        fn: Callable[[J], R],
        jobs: Sequence[J],
        *,
        timeouts_s: Sequence[float | None] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> Iterator[tuple[int, R | BaseException]]:
        check_timeouts(jobs, timeouts_s)
        return self._run(fn, jobs, on_start)

    def close(self) -> None:
        """Nothing to release."""

    @staticmethod
    def _run(
        fn: Callable[[J], R], jobs: Sequence[J], on_start: Callable[[int], None] | None
    ) -> Iterator[tuple[int, R | BaseException]]:
        for index, job in enumerate(jobs):
            if on_start is not None:
                on_start(index)
            try:
                outcome: R | BaseException = fn(job)
            except (Exception, SystemExit) as exc:
                outcome = as_exception(index, exc)
            yield index, outcome


@dataclass
class _Worker:
    """A worker process and the job it runs (mutable: this is the supervisor's bookkeeping)."""

    process: BaseProcess
    conn: Connection
    index: int | None = None  # the job it runs; None when idle
    limit_s: float | None = None  # that job's time limit
    started: bool = False  # the worker said it started the job (fn and job unpickled)
    since_s: float = 0.0  # time.monotonic() when the job was sent, then when it started
    jobs_done: int = 0

    def deadline_s(self) -> float | None:
        if self.limit_s is None:
            return None
        return self.since_s + self.limit_s + (0.0 if self.started else _BOOT_S)


def _default_start_method() -> str:
    # fork is unsafe once the parent holds torch/LAMMPS/OpenMP threads. forkserver forks each worker from a
    # single-threaded server that imported mlip_bench once. Measured (2 cores, load 4.8): first map with 2 new
    # workers 1.5-1.9 s against 2.5-2.9 s under spawn, and replacing 2 crashed workers 0.06 s against 2-3 s,
    # so a crash or timeout does not stall the pool. Caveat: workers see the environment of when the server
    # started (the first worker), not later os.environ changes. spawn where forkserver is missing (Windows).
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _stop_all(pool: list[_Worker]) -> None:
    for worker in pool:
        if worker.index is None:
            with contextlib.suppress(OSError):
                worker.conn.send(None)  # idle: ask it to leave
    for worker in pool:
        if worker.index is None:
            worker.process.join(GRACE_S)
        stop(worker.process, worker.conn)
    pool.clear()


_OPEN: weakref.WeakSet[ProcessExecutor] = weakref.WeakSet()


@atexit.register
def _close_open_executors() -> None:
    # workers are not daemonic (so that a potential may start processes itself); multiprocessing's exit hook
    # would join them forever while they wait for work, so stop them first
    for executor in list(_OPEN):
        executor.close()


class ProcessExecutor(Executor):
    """A supervised pool of `workers` long-lived processes (they keep per-process caches across jobs and map
    calls). A job's time limit runs from when its worker has unpickled it. A worker that dies or passes its
    job's limit is killed (SIGTERM, then SIGKILL) and replaced; only its job fails. Workers start on the first
    map; ``start_method`` is "forkserver" (default where available) or "spawn"."""

    name = "process"

    def __init__(self, workers: int = 2, start_method: str | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.start_method = start_method or _default_start_method()
        self._context: Any = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            self._context.set_forkserver_preload(["mlip_bench"])  # process-wide; no effect once the server runs
        self._pool: list[_Worker] = []
        self._mapping = False
        self._finalizer = weakref.finalize(self, _stop_all, self._pool)
        _OPEN.add(self)

    def close(self) -> None:
        self._finalizer()
        _OPEN.discard(self)

    def map(
        self,
        fn: Callable[[J], R],
        jobs: Sequence[J],
        *,
        timeouts_s: Sequence[float | None] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> Iterator[tuple[int, R | BaseException]]:
        limits = check_timeouts(jobs, timeouts_s)
        try:
            fn_bytes = pickle.dumps(fn)
        except Exception as exc:
            message = f"cannot send {fn!r} to worker processes ({exc!r}): pass a module-level function"
            raise WorkerError(message) from exc
        if self._mapping:
            raise WorkerError("ProcessExecutor.map is already running: exhaust or close the previous iterator")
        if not self._finalizer.alive:
            raise WorkerError("ProcessExecutor is closed")
        return self._supervise(fn_bytes, jobs, limits, on_start)

    def _supervise(
        self, fn_bytes: bytes, jobs: Sequence[Any], limits: list[float | None], on_start: Callable[[int], None] | None
    ) -> Iterator[tuple[int, Any]]:
        self._mapping = True
        pending = deque(range(len(jobs)))
        busy: list[_Worker] = []
        try:
            while pending or busy:
                if not self._finalizer.alive:
                    raise WorkerError(f"ProcessExecutor closed with {len(pending) + len(busy)} jobs not done")
                while pending and len(busy) < self.workers:
                    index = pending.popleft()
                    sent = self._dispatch(index, fn_bytes, jobs[index], limits[index], pending)
                    if isinstance(sent, _Worker):
                        busy.append(sent)
                    elif sent is not None:
                        yield index, sent
                for index, outcome in self._collect(busy) if busy else ():
                    if outcome is not _STARTED:
                        yield index, outcome
                    elif on_start is not None:
                        on_start(index)
        finally:  # abandoned mid-way: nobody will read the running jobs' results, so stop those workers
            for worker in busy:
                self._discard(worker)
            self._mapping = False

    def _dispatch(
        self, index: int, fn_bytes: bytes, job: Any, limit_s: float | None, pending: deque[int]
    ) -> _Worker | BaseException | None:
        """Send job `index` to an idle worker: that worker, the job's failure if it cannot be sent, or None
        when the job went back to the front of `pending`."""
        try:
            job_bytes = pickle.dumps(job)
        except Exception as exc:
            return WorkerError(f"job {index} ({type(job).__name__}) cannot be pickled: {exc!r}")
        worker = self._idle_worker()
        try:
            worker.conn.send((index, fn_bytes, job_bytes))
        except OSError:
            code = self._discard(worker)
            if worker.jobs_done:  # it died while idle, not this job's fault: retry on a fresh worker
                pending.appendleft(index)
                return None
            return ItemCrashed(f"job {index}: a new worker {exit_reason(code)} before it could take the job")
        worker.index, worker.limit_s, worker.started, worker.since_s = index, limit_s, False, time.monotonic()
        return worker

    def _idle_worker(self) -> _Worker:
        for worker in list(self._pool):
            if worker.index is None:
                if worker.process.exitcode is None:
                    return worker
                self._discard(worker)  # died while idle (OOM killer, ...): replace it
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(target=worker_main, args=(child_end,), name="mlip-bench-worker")
        process.start()
        child_end.close()  # only the worker holds it now: its death shows as EOF on parent_end
        self._pool.append(_Worker(process, parent_end))
        return self._pool[-1]

    def _discard(self, worker: _Worker) -> int | None:
        if worker not in self._pool:  # close() stopped it already
            return None
        self._pool.remove(worker)
        return stop(worker.process, worker.conn)

    def _collect(self, busy: list[_Worker]) -> Iterator[tuple[int, Any]]:
        """Wait until a busy worker speaks, dies or passes its deadline; yield (its job, _STARTED or outcome)."""
        deadlines = [d for d in (w.deadline_s() for w in busy) if d is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout))
        now = time.monotonic()
        for worker in list(busy):
            index, deadline = worker.index, worker.deadline_s()
            assert index is not None
            if worker.conn in ready or worker.process.sentinel in ready:
                outcome = self._receive(worker, now)
            elif deadline is not None and now >= deadline:
                outcome = self._time_out(worker)
            else:
                continue
            if outcome is not _STARTED:
                busy.remove(worker)
            yield index, outcome

    def _receive(self, worker: _Worker, now: float) -> Any:
        index = worker.index
        try:
            data = worker.conn.recv_bytes() if worker.conn.poll() else None
        except (EOFError, OSError):
            data = None
        if data is None:
            pid, elapsed_s = worker.process.pid, now - worker.since_s
            code = self._discard(worker)
            when = f"{elapsed_s:.1f} s into the job" if worker.started else "before it started the job"
            return ItemCrashed(f"job {index}: worker (pid {pid}) {exit_reason(code)}, {when}")
        if not data:
            worker.started, worker.since_s = True, now
            return _STARTED
        worker.index, worker.jobs_done = None, worker.jobs_done + 1
        return read_reply(index or 0, data)

    def _time_out(self, worker: _Worker) -> ItemTimeout:
        index, limit_s = worker.index, worker.limit_s or 0.0
        self._discard(worker)
        if worker.started:
            return ItemTimeout(f"job {index}: no result after {limit_s:g} s: worker killed")
        return ItemTimeout(f"job {index}: a new worker did not start it within {_BOOT_S + limit_s:g} s: worker killed")


EXECUTOR_NAMES = ("serial", "process", "dask")


def make_executor(name: str, workers: int = 2, scheduler: str | None = None) -> Executor:
    """An executor by name: "serial", "process" (`workers` processes) or "dask" (`workers` local workers, or
    the cluster at `scheduler`); raises ValueError for an unknown name."""
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "dask":
        from mlip_bench.engine.dask_executor import DaskExecutor  # dask is an optional extra: import on use

        return DaskExecutor(workers, scheduler)
    raise ValueError(f"unknown executor {name!r} (known: {', '.join(EXECUTOR_NAMES)})")
