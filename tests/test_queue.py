"""The job queue on the real Postgres: retries with backoff, permanent failures, dead workers, dedupe.

Every test here uses its own database on the session's server (a worker runs jobs from every queue,
so it must not meet the jobs of other tests) and its own job names.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from storage import migrate
from storage.db import create_engine
from storage.queue import JobInfo, JobQueue, PermanentJobError
from tests.support.scratch_db import ScratchDatabase, scratch_database

REPO = Path(__file__).resolve().parents[1]
POLL = 0.2  # how often a worker looks for due jobs here (procrastinate's default is 5 s)


@pytest_asyncio.fixture(scope="module")
async def queue_db(pg_url: str) -> AsyncIterator[ScratchDatabase]:
    async with scratch_database(pg_url, prefix="facetag_queue") as db:
        engine = create_engine(db.url, pool_size=1)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
        yield db


@asynccontextmanager
async def job_queue(db: ScratchDatabase) -> AsyncIterator[JobQueue]:
    async with JobQueue(db.conninfo) as queue:
        queue.app.worker_defaults["fetch_job_polling_interval"] = POLL
        yield queue


def job_name(label: str) -> str:
    return f"test-{label}-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def worker(queue: JobQueue, *, stalled_after: float = 30.0) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(
        queue.run_worker(concurrency=2, name=f"test-{uuid.uuid4().hex[:6]}", stalled_after=stalled_after)
    )
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def job_row(queue: JobQueue, job_id: int) -> dict[str, Any]:
    row: dict[str, Any] = await queue.app.connector.execute_query_one_async(
        "SELECT status::text AS status, attempts FROM procrastinate_jobs WHERE id = %(id)s", id=job_id
    )
    return row


async def status_of(queue: JobQueue, job_id: int) -> str:
    return str((await job_row(queue, job_id))["status"])


async def until(
    check: Callable[[], Awaitable[bool]], *, within: float, worker_task: asyncio.Task[None] | None = None
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if worker_task is not None and worker_task.done():
            worker_task.result()
            raise AssertionError("the worker stopped")
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not reached within {within}s")
        await asyncio.sleep(0.05)


async def test_a_failing_job_is_retried_with_backoff(queue_db: ScratchDatabase) -> None:
    loop = asyncio.get_running_loop()
    runs: list[tuple[int, float]] = []

    async def flaky(job: JobInfo, /, **kwargs: Any) -> None:
        runs.append((job.attempt, loop.time()))
        assert kwargs == {"photo": "p1"}
        if job.attempt < 2:
            raise RuntimeError(f"transient failure {job.attempt}")

    name = job_name("flaky")
    async with job_queue(queue_db) as queue:
        queue.register(name, flaky, max_attempts=4)
        job_id = await queue.defer(name, photo="p1")
        assert job_id is not None
        async with worker(queue) as task:

            async def succeeded() -> bool:
                return await status_of(queue, job_id) == "succeeded"

            await until(succeeded, within=15, worker_task=task)
        assert await job_row(queue, job_id) == {"status": "succeeded", "attempts": 3}

    assert [attempt for attempt, _ in runs] == [0, 1, 2]
    gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(runs)]
    assert 1.9 <= gaps[0] < 2 + 2, f"first retry after ~2 s, not {gaps[0]:.2f} s"
    assert 3.9 <= gaps[1] < 4 + 2, f"second retry after ~4 s, not {gaps[1]:.2f} s"


async def test_a_permanent_error_is_not_retried(queue_db: ScratchDatabase) -> None:
    runs: list[int] = []

    async def hopeless(job: JobInfo, /, **kwargs: Any) -> None:
        runs.append(job.attempt)
        raise PermanentJobError("this file is not a photo")

    name = job_name("hopeless")
    async with job_queue(queue_db) as queue:
        queue.register(name, hopeless)
        job_id = await queue.defer(name)
        assert job_id is not None
        async with worker(queue) as task:

            async def failed() -> bool:
                return await status_of(queue, job_id) == "failed"

            await until(failed, within=10, worker_task=task)
            await asyncio.sleep(4 * POLL)  # a retry (2 s away) would have been scheduled by now
            assert await job_row(queue, job_id) == {"status": "failed", "attempts": 1}
    assert runs == [0]


async def test_a_job_fails_for_good_after_its_last_attempt(queue_db: ScratchDatabase) -> None:
    seen: list[tuple[int, bool]] = []

    async def broken(job: JobInfo, /, **kwargs: Any) -> None:
        seen.append((job.attempt, job.is_last_attempt))
        raise RuntimeError("always broken")

    name = job_name("broken")
    async with job_queue(queue_db) as queue:
        queue.register(name, broken, max_attempts=2)
        job_id = await queue.defer(name)
        assert job_id is not None
        async with worker(queue) as task:

            async def failed() -> bool:
                return await status_of(queue, job_id) == "failed"

            await until(failed, within=10, worker_task=task)
    assert seen == [(0, False), (1, True)]


@pytest.mark.slow
async def test_the_job_of_a_killed_worker_is_picked_up_again(queue_db: ScratchDatabase) -> None:
    stalled_after = 3.0
    finished: list[JobInfo] = []

    async def sleepy(job: JobInfo, /, **kwargs: Any) -> None:
        finished.append(job)

    name = job_name("sleepy")
    async with job_queue(queue_db) as queue:
        queue.register(name, sleepy)
        job_id = await queue.defer(name, photo="p2")
        assert job_id is not None

        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.worker_proc",
            queue_db.conninfo,
            name,
            str(stalled_after),
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 60)
            assert line, "the worker process exited before it started the job"
            started = json.loads(line)
            assert (started["job"], started["attempt"]) == (job_id, 0)
            assert await status_of(queue, job_id) == "doing"
        finally:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        assert child.returncode == -signal.SIGKILL

        await asyncio.sleep(1)
        assert await status_of(queue, job_id) == "doing", "nobody else touched it yet"

        loop = asyncio.get_running_loop()
        recovering_since = loop.time()
        async with worker(queue, stalled_after=stalled_after) as task:

            async def succeeded() -> bool:
                return await status_of(queue, job_id) == "succeeded"

            await until(succeeded, within=stalled_after + 10, worker_task=task)
        took = loop.time() - recovering_since

    assert [(job.id, job.attempt) for job in finished] == [(job_id, 1)]
    assert took < stalled_after + 5, f"recovered in {took:.1f} s"


async def test_a_queueing_lock_dedupes_waiting_jobs(queue_db: ScratchDatabase) -> None:
    ran: list[str] = []

    async def once(job: JobInfo, /, **kwargs: Any) -> None:
        ran.append(kwargs["media"])

    name = job_name("once")
    async with job_queue(queue_db) as queue:
        queue.register(name, once)
        first = await queue.defer(name, queueing_lock="media-1", media="m1")
        assert first is not None
        assert await queue.defer(name, queueing_lock="media-1", media="m1") is None
        other = await queue.defer(name, queueing_lock="media-2", media="m2")
        assert other is not None
        waiting = await queue.app.connector.execute_query_one_async(
            "SELECT COUNT(*) AS n FROM procrastinate_jobs WHERE task_name = %(name)s", name=name
        )
        assert waiting["n"] == 2

        async with worker(queue) as task:

            async def both_done() -> bool:
                return [await status_of(queue, job) for job in (first, other)] == ["succeeded"] * 2

            await until(both_done, within=10, worker_task=task)

            # Once the job has run, the same lock queues a new one (a later change to the same media).
            again = await queue.defer(name, queueing_lock="media-1", media="m1")
            assert again is not None
            assert again != first

            async def again_done() -> bool:
                return await status_of(queue, again) == "succeeded"

            await until(again_done, within=10, worker_task=task)
    assert sorted(ran) == ["m1", "m1", "m2"]


async def test_unknown_and_duplicate_job_names_are_refused(queue_db: ScratchDatabase) -> None:
    async def nothing(job: JobInfo, /, **kwargs: Any) -> None:
        return None

    name = job_name("named")
    async with job_queue(queue_db) as queue:
        queue.register(name, nothing)
        with pytest.raises(ValueError, match="registered twice"):
            queue.register(name, nothing)
        with pytest.raises(ValueError, match="no job named"):
            await queue.defer(job_name("missing"))
