"""Blocking pixel work off the event loop, in worker processes (dlib holds the GIL).

Each process loads the face engine once, when it starts (`warm`) or on its first job, and keeps it.

The web process hands work over as a `PixelJob` (a module and a function name), so it never imports the
pixel code: numpy, Pillow, dlib and PyAV load in the pool processes only (in the web process they cost
~20 MB of RSS). Results and errors come back as plain data (`processing.results`, `processing.errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, cast

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PixelJob[R]:
    """A pixel function by name, e.g. `PixelJob("processing.photo", "analyze_photo")`:
    pickled as two strings, and imported where it is called (in a pool process)."""

    module: str
    function: str

    def __call__(self, *args: object, **kwargs: object) -> R:
        function = getattr(importlib.import_module(self.module), self.function)
        return cast(R, function(*args, **kwargs))


PIXEL_NICENESS = 5


def _init_process(warm: PixelJob[object] | None) -> None:
    # Ctrl-C in a terminal interrupts the whole foreground process group; the parent stops this pool,
    # so the interrupt must not kill a process mid-job (or print its traceback) first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One process per core does the parallelism; BLAS threads inside each would only fight.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # Pixel work is batch work: the scheduler gives it longer slices (fewer cache-cold switches) and
    # lets the web process and the queue (acks within 3 s, database round trips) go first.
    if hasattr(os, "SCHED_BATCH"):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    os.nice(PIXEL_NICENESS)
    if warm is not None:
        warm()


class PixelPool:
    """A process pool, started lazily or by `start`; `processes=0` runs the work in a thread of this
    process. `warm` runs in every process as it starts (e.g. loading the face models)."""

    def __init__(self, *, processes: int, warm: PixelJob[object] | None = None) -> None:
        self.processes = processes
        self.warm = warm
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_process,
                initargs=(self.warm,),
            )
        return self._executor

    async def start(self, *, within: float = 300.0) -> None:
        """Start every process now and wait until each is warm, so that the first jobs do not pay for
        imports and model loading (about 1 s of CPU per process). A process takes jobs only once its
        `warm` is done, so this hands out short check-ins until every process has answered one."""
        if self.processes == 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        pool = self._pool()
        seen: set[int] = set()
        while len(seen) < self.processes:
            if loop.time() > deadline:
                raise TimeoutError(f"only {len(seen)} of {self.processes} pixel processes started")
            with _interrupts_held():
                calls = [loop.run_in_executor(pool, _check_in, 0.05) for _ in range(self.processes)]
            seen.update(await asyncio.gather(*calls))

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        if self.processes == 0:
            return await asyncio.to_thread(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        try:
            with _interrupts_held():
                result = loop.run_in_executor(self._pool(), _call, fn, args, kwargs)
            return await result
        except BrokenProcessPool:
            # A process died (out of memory, a crashing decoder): start a fresh pool for the next job.
            self.close()
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT blocked in this thread while the pool may spawn a process (it does so inside `submit`):
    a signal mask survives fork and exec, so a new process starts deaf to a terminal's Ctrl-C, before
    `_init_process` ignores it for good. A SIGINT sent meanwhile reaches this process once unblocked."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _check_in(hold: float) -> int:
    time.sleep(hold)  # long enough for another ready process to take the next check-in
    return os.getpid()


def _call[T](fn: Callable[..., T], args: tuple[object, ...], kwargs: dict[str, object]) -> T:
    return fn(*args, **kwargs)
