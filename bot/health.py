"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import asyncio

from aiohttp import web

from handlers.context import Context

CONTEXT = web.AppKey("context", Context)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _check(name: str, probe: asyncio.Future[None] | asyncio.Task[None]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, timeout=3)
    except TimeoutError:
        return name, "timeout"
    except Exception as exc:
        return name, f"error: {type(exc).__name__}"
    return name, "ok"


async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    checks = await asyncio.gather(
        _check("database", asyncio.ensure_future(ctx.db.ping())),
        _check("object_store", asyncio.ensure_future(ctx.store.ping())),
        _check("queue", asyncio.ensure_future(ctx.queue.ping())),
    )
    states = dict(checks)
    ready = all(state == "ok" for state in states.values())
    return web.json_response(
        {"status": "ok" if ready else "unavailable", **states}, status=200 if ready else 503
    )


async def metrics(request: web.Request) -> web.Response:
    body = request.app[CONTEXT].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
