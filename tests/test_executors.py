"""Executors: results come back under the right index, and a job that raises, exits, aborts or hangs costs only
itself (process and dask executors), with workers reused across jobs and none left behind after close().

Job functions are module-level so that worker processes can unpickle them.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any, cast

import pytest

from mlip_bench.engine.executors import Executor, ProcessExecutor, SerialExecutor, make_executor
from mlip_bench.engine.worker_process import RemoteTraceback
from mlip_bench.errors import ItemCrashed, ItemTimeout, WorkerError

try:
    import distributed  # noqa: F401
except ImportError:
    HAVE_DASK = False
else:
    HAVE_DASK = True

needs_dask = pytest.mark.skipif(not HAVE_DASK, reason="dask.distributed not installed (pip install mlip-bench[dask])")


class NeedsArgs(Exception):
    """Pickles, but cannot be rebuilt from its args (its __init__ wants two)."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(a + b)


def job(value: Any) -> Any:
    """(value squared, pid) for an int; misbehaves as named for a string."""
    if value == "exit":
        os._exit(3)
    if value == "abort":
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file left in the working directory
        os.abort()
    if value == "sysexit":
        raise SystemExit(2)
    if value == "hang":
        time.sleep(60)
    if value == "value":
        raise ValueError("bad value 7")
    if value == "lock":
        return threading.Lock()
    if value == "needs-args":
        raise NeedsArgs(1, 2)
    assert isinstance(value, int)
    return value * value, os.getpid()


MIXED: list[Any] = [1, "exit", 2, "abort", 3, "sysexit", 4, "hang", 5, "value", 6]  # healthy jobs around bad ones
HEALTHY = [x for x in MIXED if isinstance(x, int)]


def _outcomes(executor: Executor, jobs: list, timeouts_s: list[float | None] | None = None) -> dict[int, Any]:
    started: list[int] = []
    out = dict(executor.map(job, jobs, timeouts_s=timeouts_s, on_start=started.append))
    assert sorted(out) == list(range(len(jobs)))
    assert {i for i, outcome in out.items() if not isinstance(outcome, BaseException)} <= set(started) <= set(out)
    return out


def _check_isolation(executor: Executor, crash_reasons: dict[str, str]) -> set[int]:
    """Run MIXED (the hanging job with a 2 s limit, the others 30 s: a loaded machine must not fail them): each
    bad job yields its own failure, each healthy job its value; returns the healthy jobs' pids."""
    out = _outcomes(executor, MIXED, [2.0 if x == "hang" else 30.0 for x in MIXED])
    failures = {MIXED[i]: out[i] for i in out if isinstance(MIXED[i], str)}
    for kind, reason in crash_reasons.items():
        error = failures[kind]
        assert isinstance(error, ItemCrashed), (kind, error)
        assert f"job {MIXED.index(kind)}" in str(error) and reason in str(error), error
    assert isinstance(failures["sysexit"], ItemCrashed) and "SystemExit(2)" in str(failures["sysexit"])
    assert isinstance(failures["hang"], ItemTimeout) and "no result after 2 s" in str(failures["hang"])
    assert isinstance(failures["value"], ValueError) and str(failures["value"]) == "bad value 7"
    healthy = [out[i] for i in out if isinstance(MIXED[i], int)]
    assert sorted(value for value, _ in healthy) == [x * x for x in HEALTHY]
    return {pid for _, pid in healthy}


def _gone(pid: int, wait_s: float = 5.0) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------------------------------- serial


def test_serial_yields_results_in_order_and_failures_in_place() -> None:
    started: list[int] = []
    out = list(SerialExecutor().map(job, [3, "value", "sysexit", 2], on_start=started.append))
    assert [i for i, _ in out] == [0, 1, 2, 3] == started
    assert out[0][1] == (9, os.getpid()) and out[3][1] == (4, os.getpid())
    assert isinstance(out[1][1], ValueError)
    assert isinstance(out[2][1], ItemCrashed) and "job 2 raised SystemExit(2)" in str(out[2][1])


def test_serial_lets_keyboard_interrupt_through() -> None:
    with pytest.raises(KeyboardInterrupt):
        list(SerialExecutor().map(_interrupt, [1]))


def _interrupt(_: int) -> None:
    raise KeyboardInterrupt


# ---------------------------------------------------------------------------------------------------- process


@pytest.fixture
def pool() -> Iterator[ProcessExecutor]:
    with ProcessExecutor(2) as executor:
        yield executor
    assert multiprocessing.active_children() == []


def test_process_results_carry_their_index_and_workers_are_reused(pool: ProcessExecutor) -> None:
    out = _outcomes(pool, list(range(10)))
    assert {i: value for i, (value, _) in out.items()} == {i: i * i for i in range(10)}
    pids = {pid for _, pid in out.values()}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    again = _outcomes(pool, [7, 8])  # a second map keeps the same workers (their caches survive)
    assert {pid for _, pid in again.values()} <= pids


def test_process_bad_jobs_cost_only_themselves(pool: ProcessExecutor) -> None:
    pids = _check_isolation(pool, {"exit": "died with exit code 3", "abort": "died with signal SIGABRT"})
    assert len(pids) < len(HEALTHY)  # reused, even with workers replaced after each death
    failed = _outcomes(pool, ["value"])[0]
    assert isinstance(failed.__cause__, RemoteTraceback) and 'raise ValueError("bad value 7")' in str(failed.__cause__)
    assert _outcomes(pool, [9])[0][0] == 81
    worker_pids = [w.process.pid for w in pool._pool]
    pool.close()
    assert multiprocessing.active_children() == []
    assert all(_gone(pid) for pid in [*pids, *worker_pids] if pid is not None)


def test_process_unsendable_things_fail_their_job_only(pool: ProcessExecutor) -> None:
    out = _outcomes(pool, [2, "lock", "needs-args", 3])
    assert out[0][0] == 4 and out[3][0] == 9
    assert isinstance(out[1], WorkerError) and "job 1: its result (lock) cannot be pickled" in str(out[1])
    assert isinstance(out[2], WorkerError) and "job 2 raised NeedsArgs(3)" in str(out[2])
    unpicklable_job = _outcomes_of(pool, [threading.Lock(), 5])
    assert isinstance(unpicklable_job[0], WorkerError) and "job 0 (lock) cannot be pickled" in str(unpicklable_job[0])
    assert unpicklable_job[1][0] == 25


def _outcomes_of(executor: Executor, jobs: list) -> dict[int, Any]:
    return dict(executor.map(job, jobs))


def test_process_rejects_a_function_it_cannot_send_and_bad_timeouts(pool: ProcessExecutor) -> None:
    with pytest.raises(WorkerError, match="module-level function"):
        pool.map(lambda x: x, [1])
    with pytest.raises(ValueError, match="timeouts_s has 1 entries for 2 jobs"):
        pool.map(job, [1, 2], timeouts_s=[1.0])
    assert pool._pool == []  # nothing was started for them


def test_process_abandoned_map_stops_the_worker_still_running() -> None:
    with ProcessExecutor(2) as executor:
        stream = cast(Generator, executor.map(job, ["hang", 4]))
        assert next(stream)[0] == 1
        stream.close()
        assert len(multiprocessing.active_children()) == 1  # the idle worker; the hung one was killed
        assert _outcomes(executor, [5])[0][0] == 25
    assert multiprocessing.active_children() == []


def test_process_spawn_start_method_also_isolates_a_crash() -> None:
    with ProcessExecutor(1, start_method="spawn") as executor:
        out = _outcomes(executor, [2, "exit", 3])
    assert out[0][0] == 4 and out[2][0] == 9 and out[0][1] != out[2][1]  # a fresh worker after the crash
    assert isinstance(out[1], ItemCrashed) and "exit code 3" in str(out[1])
    assert multiprocessing.active_children() == []


# ---------------------------------------------------------------------------------------------------- dask


@needs_dask
def test_dask_bad_jobs_cost_only_themselves() -> None:
    from mlip_bench.engine.dask_executor import DaskExecutor

    executor = make_executor("dask", workers=2)
    assert isinstance(executor, DaskExecutor)
    with executor:
        pids = _check_isolation(executor, {"exit": "worker died", "abort": "worker died"})
        assert len(pids) < len(HEALTHY)
        assert _outcomes(executor, [9])[0][0] == 81
    assert multiprocessing.active_children() == []


# ---------------------------------------------------------------------------------------------------- factory


@pytest.mark.parametrize(("name", "cls"), [("serial", SerialExecutor), ("process", ProcessExecutor)])
def test_make_executor_by_name(name: str, cls: type[Executor]) -> None:
    with make_executor(name, workers=3) as executor:
        assert isinstance(executor, cls) and executor.name == name


def test_make_executor_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown executor 'mpi' \(known: serial, process, dask\)"):
        make_executor("mpi")


def test_importing_the_package_does_not_import_dask() -> None:
    code = "import mlip_bench.engine.executors, sys; print('dask' in sys.modules, 'distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
