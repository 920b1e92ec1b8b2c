"""The aiohttp application: health, the chat doors, the REST API; and running it with a worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import health
from bot.doors import Doors
from handlers.context import Context

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NO_CHAT = (
    "no chat platform is connected: for Slack set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or "
    "SLACK_APP_TOKEN for Socket Mode), see docs/slack.md; for Teams set MICROSOFT_APP_ID, "
    "MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID, see docs/teams.md"
)


@web.middleware
async def _observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[health.CONTEXT].metrics
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.http_requests.labels(route=route, status=str(status)).inc()
        metrics.http_seconds.labels(route=route).observe(time.perf_counter() - started)


def build_app(ctx: Context, doors: Doors) -> web.Application:
    app = web.Application(middlewares=[_observe], client_max_size=1024**2)
    app[health.CONTEXT] = ctx
    health.add_routes(app)
    doors.add_routes(app, ctx)
    return app


async def serve(ctx: Context, doors: Doors, *, host: str, port: int, worker: bool, concurrency: int) -> None:
    """Serve HTTP (and run jobs) until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(build_app(ctx, doors), access_log=None, shutdown_timeout=10)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        log.info(
            "facetag listening", extra={"host": host, "port": port, "worker": worker, "doors": doors.summary}
        )
        if not doors.chats:
            log.warning(NO_CHAT)
        await run_until(stop, ctx, worker=worker, concurrency=concurrency, name=f"{socket.gethostname()}-web")
    finally:
        await doors.close()
        await runner.cleanup()


async def run_until(stop: asyncio.Event, ctx: Context, *, worker: bool, concurrency: int, name: str) -> None:
    if worker:
        await ctx.pixels.start()  # pixel processes up and models loaded before the first job
    jobs = asyncio.create_task(ctx.queue.run_worker(concurrency=concurrency, name=name)) if worker else None
    waiter = asyncio.create_task(stop.wait())
    try:
        pending = {waiter} | ({jobs} if jobs else set())
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if jobs in done and jobs is not None:
            jobs.result()  # a worker that stopped by itself is an error worth raising
    finally:
        for task in (waiter, jobs):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        log.info("facetag stopping")


async def work(ctx: Context, *, concurrency: int) -> None:
    """Run jobs only (extra hosts), until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_until(stop, ctx, worker=True, concurrency=concurrency, name=f"{socket.gethostname()}-worker")
