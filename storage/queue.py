"""The job queue: procrastinate on the same Postgres, retries with backoff, stalled jobs recovered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import procrastinate
from procrastinate import exceptions as pexc
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 6


class PermanentJobError(Exception):
    """The job cannot succeed by trying again (bad input, missing scope): fail it now."""


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: int
    task: str
    attempt: int  # 0 on the first run
    max_attempts: int

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt + 1 >= self.max_attempts


class JobFunction(Protocol):
    def __call__(self, job: JobInfo, /, **kwargs: Any) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class _Backoff(BaseRetryStrategy):
    """Exponential backoff (2, 4, 8 … s, at most five minutes); never retry a PermanentJobError."""

    max_attempts: int

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, PermanentJobError) or job.attempts + 1 >= self.max_attempts:
            return None
        return RetryDecision(retry_in={"seconds": min(300, 2 ** (job.attempts + 1))})


class JobQueue:
    """Register job functions by name, defer them, run workers."""

    def __init__(self, conninfo: str) -> None:
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))
        self._names: set[str] = set()

    def register(self, name: str, fn: JobFunction, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        if name in self._names:
            raise ValueError(f"job {name!r} is registered twice")
        self._names.add(name)

        async def run(context: procrastinate.JobContext, /, **kwargs: Any) -> None:
            job = context.job
            assert job.id is not None
            info = JobInfo(id=job.id, task=name, attempt=job.attempts, max_attempts=max_attempts)
            await fn(info, **kwargs)

        self.app.task(name=name, pass_context=True, retry=_Backoff(max_attempts=max_attempts))(run)

    async def defer(
        self, name: str, *, queueing_lock: str | None = None, lock: str | None = None, **kwargs: Any
    ) -> int | None:
        """Enqueue a job. With a queueing lock, a job already waiting under it makes this a no-op;
        jobs sharing a lock run one at a time, in order."""
        if name not in self._names:
            raise ValueError(f"no job named {name!r}")
        try:
            task = self.app.configure_task(name, queueing_lock=queueing_lock, lock=lock)
            return await task.defer_async(**kwargs)
        except pexc.AlreadyEnqueued:
            return None

    async def __aenter__(self) -> JobQueue:
        await self.app.open_async()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.close_async()

    async def ping(self) -> None:
        await self.app.connector.execute_query_one_async("SELECT COUNT(*) AS n FROM procrastinate_workers")

    async def run_worker(
        self, *, concurrency: int, name: str | None = None, stalled_after: float = 30.0
    ) -> None:
        """Run jobs until cancelled; meanwhile give stalled jobs (dead workers) back to the queue."""
        recovery = asyncio.create_task(self._recover_forever(stalled_after))
        try:
            await self.app.run_worker_async(
                concurrency=concurrency,
                name=name or "facetag-worker",
                wait=True,
                install_signal_handlers=False,
                update_heartbeat_interval=min(10.0, stalled_after / 3),
                stalled_worker_timeout=stalled_after,
            )
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery

    async def recover_stalled(self, *, stalled_after: float = 30.0) -> int:
        """Jobs left in 'doing' by a worker that stopped sending heartbeats are retried now."""
        jobs = await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
        count = 0
        for job in jobs:
            log.warning("retrying stalled job", extra={"job_id": job.id, "task": job.task_name})
            await self.app.job_manager.retry_job(job)
            count += 1
        return count

    async def _recover_forever(self, stalled_after: float) -> None:
        while True:
            try:
                await self.recover_stalled(stalled_after=stalled_after)
            except Exception:
                log.exception("stalled-job recovery failed")
            await asyncio.sleep(stalled_after / 2)

    async def counts(self) -> dict[str, int]:
        rows = await self.app.connector.execute_query_all_async(
            "SELECT status::text AS status, COUNT(*) AS n FROM procrastinate_jobs GROUP BY status"
        )
        return {str(row["status"]): int(row["n"]) for row in rows}


JobRegistrar = Callable[[JobQueue], None]
