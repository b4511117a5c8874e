"""The worker side of :class:`mlip_bench.engine.executors.ProcessExecutor`, and how to stop a worker.

Protocol over one duplex pipe per worker. Parent -> worker: ``(index, fn bytes, job bytes)``, or None to leave.
Worker -> parent, per job: an empty message once fn and job are unpickled (the job starts: its time limit
runs from here, so a fresh worker's imports are not counted), then the pickled reply
``(index, ok, result or exception, traceback text or None)``.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from mlip_bench.errors import ItemCrashed, WorkerError

#: seconds a worker gets to die after SIGTERM (then SIGKILL)
GRACE_S = 2.0


class RemoteTraceback(Exception):
    """Set as ``__cause__`` of an exception raised in a worker: its str is the worker's formatted traceback."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def as_exception(index: int, exc: BaseException) -> BaseException:
    """`exc` itself, or ItemCrashed when it is an exit request (SystemExit, KeyboardInterrupt, ...) so that a
    caller never holds an exception that would stop its own process if re-raised."""
    if isinstance(exc, Exception):
        return exc
    crashed = ItemCrashed(f"job {index} raised {exc!r} (caught: the worker was kept)")
    crashed.__cause__ = exc
    return crashed


def worker_main(conn: Connection) -> None:
    """Body of one worker process: run jobs from `conn` until None or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the parent stops us
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    fns: dict[bytes, Callable[[Any], Any]] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe or died
            return
        if message is None:
            return
        index, fn_bytes, job_bytes = message
        loaded = _load(index, fn_bytes, job_bytes, fns)
        conn.send_bytes(b"")
        conn.send_bytes(loaded if isinstance(loaded, bytes) else _run(index, *loaded))


def _exit_with_parent() -> None:
    # a worker stuck in a hung job would outlive a parent killed with SIGKILL: it never reads the closed pipe
    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        os._exit(1)


def _load(
    index: int, fn_bytes: bytes, job_bytes: bytes, fns: dict[bytes, Callable[[Any], Any]]
) -> tuple[Callable[[Any], Any], Any] | bytes:
    """(fn, job), or the pickled failure reply when either cannot be unpickled here."""
    try:
        if fn_bytes not in fns:
            fns.clear()  # keep one: the runner maps one function at a time
            fns[fn_bytes] = pickle.loads(fn_bytes)
        return fns[fn_bytes], pickle.loads(job_bytes)
    except BaseException as exc:
        message = f"job {index}: the worker cannot unpickle the function or the job: {exc!r}"
        return pickle.dumps((index, False, WorkerError(message), None))


def _run(index: int, fn: Callable[[Any], Any], job: Any) -> bytes:
    try:
        result = fn(job)
    except BaseException as exc:
        return _dump_raised(index, exc)
    try:
        return pickle.dumps((index, True, result, None))
    except Exception as exc:
        message = f"job {index}: its result ({type(result).__name__}) cannot be pickled: {exc!r}"
        return pickle.dumps((index, False, WorkerError(message), None))


def _dump_raised(index: int, exc: BaseException) -> bytes:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        data = pickle.dumps((index, False, as_exception(index, exc), text))
        pickle.loads(data)  # some exceptions pickle but cannot be rebuilt (required __init__ arguments)
        return data
    except Exception as pickling:
        message = f"job {index} raised {exc!r}, which cannot be sent back: {pickling!r}"
        return pickle.dumps((index, False, WorkerError(message), text))


def read_reply(index: int, data: bytes) -> Any:
    """The result or exception in a worker's reply; WorkerError naming job `index` if it cannot be unpickled."""
    try:
        _, ok, value, text = pickle.loads(data)
    except Exception as exc:
        return WorkerError(f"job {index}: its result cannot be unpickled here: {exc!r}")
    if not ok and text and value.__cause__ is None:
        value.__cause__ = RemoteTraceback(text)
    return value


def exit_reason(exitcode: int | None) -> str:
    """'died with signal SIGABRT', 'died with exit code 3', ... for a process's exit code."""
    if exitcode is None:
        return "died (exit status unknown)"
    if exitcode < 0:
        try:
            return f"died with signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"died with signal {-exitcode}"
    return f"died with exit code {exitcode}" + (" without sending a result" if exitcode == 0 else "")


def stop(process: BaseProcess, conn: Connection) -> int | None:
    """Close `conn`, kill `process` if it still runs (SIGTERM, then SIGKILL) and release it; its exit code
    (negative: the signal), None if it could not be reaped."""
    conn.close()
    process.join(0.05)  # after EOF on its pipe it is usually exiting already: give it the chance to report why
    for end in (process.terminate, process.kill):
        if process.exitcode is None:
            end()
            process.join(GRACE_S)
    code = process.exitcode
    if code is not None:
        process.close()
    return code
