"""Run the real facetag app (HTTP server + worker) in the test's event loop, on the real stack."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import text

from bot.app import build_app
from bot.doors import Doors
from bot.services import running
from handlers.context import Context
from storage.settings import Settings


@dataclass
class RunningApp:
    ctx: Context
    doors: Doors
    url: str  # http://127.0.0.1:<port>

    async def idle(self, *, within: float = 120.0) -> None:
        """Wait until the job queue has nothing waiting or running."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            counts = await self.ctx.queue.counts()
            if counts.get("todo", 0) == 0 and counts.get("doing", 0) == 0:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"jobs still busy after {within}s: {counts}")
            await asyncio.sleep(0.1)

    async def until(self, check: Callable[[], Awaitable[bool]], *, within: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not await check():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("condition not reached")
            await asyncio.sleep(0.1)


async def reset_database(ctx: Context) -> None:
    """Empty the library tables between scenarios (the schema stays)."""
    async with ctx.db.session() as session:
        await session.execute(
            text(
                "TRUNCATE media, sightings, faces, face_rejections, people, tags, channel_settings, "
                "api_tokens, uploads, procrastinate_jobs, procrastinate_events CASCADE"
            )
        )


@asynccontextmanager
async def run_app(
    settings: Settings, *, worker: bool = True, pixel_processes: int = 1
) -> AsyncIterator[RunningApp]:
    """The app on a free loopback port with its own database schema state reset first."""
    doors = Doors(settings)
    async with running(settings, chats=doors.chats, pixel_processes=pixel_processes) as ctx:
        await reset_database(ctx)
        runner = web.AppRunner(build_app(ctx, doors), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        jobs = (
            asyncio.create_task(
                ctx.queue.run_worker(
                    concurrency=max(4, settings.worker_concurrency),
                    name=f"test-{uuid.uuid4().hex[:6]}",
                    stalled_after=6,
                )
            )
            if worker
            else None
        )
        try:
            yield RunningApp(ctx=ctx, doors=doors, url=f"http://127.0.0.1:{port}")
        finally:
            if jobs is not None:
                jobs.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await jobs
            await doors.close()
            await runner.cleanup()
