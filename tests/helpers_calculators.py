"""Tiny, deterministic ASE calculators for tests, used through potential specs such as
``python:helpers_calculators:RaisingOnThird`` (``tests/`` is put on ``sys.path`` by conftest.py).

Every one wraps ASE's pure-Python EMT (Al, Cu, Ag, Au, Ni, Pd, Pt, H, C, N, O). Call counts are
per calculator instance unless stated otherwise; the suite's ``predict`` makes exactly one
``calculate`` call per structure, so "the n-th call" is "the n-th structure scored".
"""

from __future__ import annotations

from typing import Any

from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT

#: calculate() calls made by every Counting calculator of this process (reset it in a test)
COUNTING_CALLS = 0


class RaisingOnThird(EMT):
    """EMT that raises ``RuntimeError("RaisingOnThird: deliberate failure on call 3")`` on the
    third ``calculate`` call of each instance and works normally on every other call."""

    MESSAGE = "RaisingOnThird: deliberate failure on call 3"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls = 0

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError(self.MESSAGE)
        super().calculate(atoms, properties, system_changes)


class NaNEnergy(EMT):
    """EMT whose energy is replaced by NaN (forces and stress stay EMT's) when either

    * the call is the `every`-th, 2·`every`-th, ... ``calculate`` call of this instance
      (default ``every=3``: calls 3, 6, 9, ...), or
    * the structure has more than `max_atoms` atoms (default None: never by size).

    With the defaults, scoring four structures gives NaN for the third one only.
    """

    def __init__(self, *, every: int | None = 3, max_atoms: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.every = every
        self.max_atoms = max_atoms
        self.calls = 0

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        self.calls += 1
        super().calculate(atoms, properties, system_changes)
        by_call = self.every is not None and self.calls % self.every == 0
        by_size = self.max_atoms is not None and len(self.atoms) > self.max_atoms
        if by_call or by_size:
            self.results["energy"] = float("nan")
            self.results["free_energy"] = float("nan")


class Counting(EMT):
    """EMT that adds one to the module-level :data:`COUNTING_CALLS` on every ``calculate`` call."""

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        global COUNTING_CALLS
        COUNTING_CALLS += 1
        super().calculate(atoms, properties, system_changes)


def reset_counting() -> None:
    """Set :data:`COUNTING_CALLS` back to zero."""
    global COUNTING_CALLS
    COUNTING_CALLS = 0


class CallLogging(EMT):
    """EMT that appends one line per ``calculate`` call (the structure's ``info["id"]``, else its
    atom count) to the file named by ``$MLIP_BENCH_TEST_CALL_LOG`` and then sleeps
    ``$MLIP_BENCH_TEST_CALL_SLEEP`` seconds (default 0): calls counted across processes and runs,
    slow enough to be killed mid-run. The line is written and flushed before computing, so a call
    in flight when a run is killed is counted too."""

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        import os
        import time

        path = os.environ.get("MLIP_BENCH_TEST_CALL_LOG")
        if path:
            with open(path, "a") as handle:
                handle.write(f"{atoms.info.get('id', len(atoms))}\n")
        time.sleep(float(os.environ.get("MLIP_BENCH_TEST_CALL_SLEEP", "0")))
        super().calculate(atoms, properties, system_changes)


class Misbehaving(EMT):
    """EMT that misbehaves on every structure whose ``info["id"]`` starts with "bad" (on every
    structure when `always`): ``mode`` "abort" (os.abort: a native crash, SIGABRT), "exit"
    (os._exit(3)), "systemexit" (raise SystemExit(2)) or "hang" (sleep for an hour)."""

    def __init__(self, mode: str, *, always: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.always = always

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        import os
        import time

        if self.always or str(atoms.info.get("id", "")).startswith("bad"):
            if self.mode == "abort":
                os.abort()
            if self.mode == "exit":
                os._exit(3)
            if self.mode == "systemexit":
                raise SystemExit(2)
            if self.mode == "hang":
                time.sleep(3600)
        super().calculate(atoms, properties, system_changes)


def aborting() -> Misbehaving:
    return Misbehaving("abort")


def exiting() -> Misbehaving:
    return Misbehaving("exit")


def system_exiting() -> Misbehaving:
    return Misbehaving("systemexit")


def hanging() -> Misbehaving:
    return Misbehaving("hang")


def always_aborting() -> Misbehaving:
    return Misbehaving("abort", always=True)
