"""The job table: every background job facetag runs, by name."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from handlers import media
from handlers.context import Context
from storage.queue import JobInfo, PermanentJobError

Job = Callable[..., Awaitable[None]]


def register_jobs(ctx: Context) -> None:
    jobs: dict[str, Job] = {
        "ingest": media.ingest,
        "process": media.process,
        "reply": media.reply,
    }
    from handlers import approval, video

    jobs |= approval.JOBS | video.JOBS
    for name, fn in jobs.items():
        ctx.queue.register(name, _bind(ctx, name, fn))


def _bind(ctx: Context, name: str, fn: Job) -> Callable[..., Awaitable[None]]:
    async def run(job: JobInfo, /, **kwargs: Any) -> None:
        started = time.perf_counter()
        outcome = "ok"
        try:
            await fn(ctx, job, **kwargs)
        except PermanentJobError:
            outcome = "failed"
            raise
        except Exception:
            outcome = "retry"
            raise
        finally:
            ctx.metrics.jobs.labels(task=name, outcome=outcome).inc()
            ctx.metrics.job_seconds.labels(task=name).observe(time.perf_counter() - started)

    return run
