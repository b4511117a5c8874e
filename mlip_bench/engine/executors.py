"""Executors run cells and yield results as they complete. The interface is one method,
:meth:`Executor.map`, so a Dask (or any cluster) executor drops in: submit each cell, yield
(index, record) as futures finish. Cells and records are picklable by design."""

from __future__ import annotations

import concurrent.futures as cf
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

C = TypeVar("C")
R = TypeVar("R")


class Executor(ABC):
    name: str

    @abstractmethod
    def map(self, fn: Callable[[C], R], cells: Sequence[C]) -> Iterator[tuple[int, R | BaseException]]:
        """Yield (index into `cells`, fn(cell)) in completion order; an error that kills the
        worker (not one `fn` handles) is yielded in place of the result, never raised."""


class SerialExecutor(Executor):
    name = "serial"

    def map(self, fn: Callable[[C], R], cells: Sequence[C]) -> Iterator[tuple[int, R | BaseException]]:
        for index, cell in enumerate(cells):
            yield index, fn(cell)


class ProcessExecutor(Executor):
    """A local process pool; each worker builds its own calculators from the potential spec."""

    name = "process"

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers

    def map(self, fn: Callable[[C], R], cells: Sequence[C]) -> Iterator[tuple[int, R | BaseException]]:
        with cf.ProcessPoolExecutor(max_workers=self.workers) as pool:
            futures = {pool.submit(fn, cell): i for i, cell in enumerate(cells)}
            for future in cf.as_completed(futures):
                error = future.exception()
                yield futures[future], error if error is not None else future.result()


EXECUTORS: dict[str, type[Executor]] = {cls.name: cls for cls in (SerialExecutor, ProcessExecutor)}


def make_executor(name: str, workers: int = 2) -> Executor:
    """An executor by name ("serial", "process"); raises ValueError for an unknown name."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})")
    return ProcessExecutor(workers) if name == "process" else EXECUTORS[name]()
