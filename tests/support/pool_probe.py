"""Jobs for pixel-pool tests: they run in the pool's processes, so they talk back through files."""

from __future__ import annotations

import os
from pathlib import Path


def mark_warm() -> None:
    """A pool's `warm` job: leave this process's pid in `$FACETAG_TEST_WARM_DIR`."""
    (Path(os.environ["FACETAG_TEST_WARM_DIR"]) / str(os.getpid())).touch()


def scheduling() -> tuple[int, int, int]:
    """This process's pid, scheduling policy and niceness."""
    return os.getpid(), os.sched_getscheduler(0), os.nice(0)
