"""The pixel pool: processes started and warmed up front, batch scheduling."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from processing.pool import PIXEL_NICENESS, PixelJob, PixelPool


async def test_start_warms_every_process_before_any_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACETAG_TEST_WARM_DIR", str(tmp_path))
    pool = PixelPool(processes=2, warm=PixelJob("tests.support.pool_probe", "mark_warm"))
    try:
        await pool.start()
        warmed = {int(name) for name in os.listdir(tmp_path)}
        children = {p.pid for p in psutil.Process().children() if p.pid in warmed}
        assert len(warmed) == 2 and children == warmed
        probe: PixelJob[tuple[int, int, int]] = PixelJob("tests.support.pool_probe", "scheduling")
        pid, policy, niceness = await pool.run(probe)
        assert pid in warmed
        assert policy == os.SCHED_BATCH
        assert niceness >= PIXEL_NICENESS
    finally:
        pool.close()
