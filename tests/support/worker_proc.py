"""A job worker in its own process, for tests that kill it mid-job.

    python -m tests.support.worker_proc CONNINFO JOB_NAME STALLED_AFTER

Registers JOB_NAME as a job that prints `{"job": id, "attempt": n, "pid": pid}` on stdout when it
starts and then sleeps for an hour, and runs a worker (concurrency 1) until killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from storage.queue import JobInfo, JobQueue


async def main(conninfo: str, name: str, stalled_after: float) -> None:
    async def sleepy(job: JobInfo, /, **kwargs: Any) -> None:
        print(json.dumps({"job": job.id, "attempt": job.attempt, "pid": os.getpid()}), flush=True)
        await asyncio.sleep(3600)

    async with JobQueue(conninfo) as queue:
        queue.register(name, sleepy)
        await queue.run_worker(concurrency=1, name="doomed-worker", stalled_after=stalled_after)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
