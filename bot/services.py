"""Start and stop what facetag runs on: Postgres, S3, the job queue, the pixel pool, the chat doors."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import assert_never

import aiohttp

from handlers.context import Context
from handlers.jobs import register_jobs
from handlers.metrics import Metrics
from handlers.ports import ChatPort
from processing.calibration import DEFAULT_MATCH_THRESHOLD
from processing.pool import PixelJob, PixelPool
from storage import migrate
from storage.db import Database, libpq_conninfo, redacted
from storage.embedded import EmbeddedPostgres, EmbeddedS3
from storage.faces import PgvectorMatcher
from storage.matching import FaceMatcher
from storage.objects import ObjectStore
from storage.queue import JobQueue
from storage.settings import Settings

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """facetag cannot start; the message says why in one line."""


def face_matcher(settings: Settings) -> FaceMatcher:
    """Where recognition looks faces up, for the configured engine (FACETAG_FACE_ENGINE)."""
    if settings.face_engine == "dlib":
        return PgvectorMatcher(threshold=DEFAULT_MATCH_THRESHOLD)
    assert_never(settings.face_engine)


@asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """The configured DATABASE_URL, or an embedded Postgres started in the data folder."""
    if settings.database_url:
        yield settings.database_url
        return
    server = EmbeddedPostgres(settings.data_dir)
    url = await server.start()
    log.info("embedded postgres started", extra={"url": redacted(url)})
    try:
        yield url
    finally:
        await server.stop()


@asynccontextmanager
async def object_store(settings: Settings) -> AsyncIterator[ObjectStore]:
    """The configured S3, or an embedded SeaweedFS started in the data folder; buckets exist."""
    async with AsyncExitStack() as stack:
        if settings.s3_endpoint_url or (settings.aws_access_key_id and settings.aws_secret_access_key):
            secret = settings.aws_secret_access_key
            store = await stack.enter_async_context(
                ObjectStore.open(
                    endpoint_url=settings.s3_endpoint_url,
                    region=settings.s3_region,
                    access_key=settings.aws_access_key_id,
                    secret_key=secret.get_secret_value() if secret else None,
                )
            )
        else:
            server = EmbeddedS3(settings.data_dir)
            endpoint = await server.start()
            stack.push_async_callback(server.stop)
            log.info("embedded s3 started", extra={"url": endpoint.url})
            store = await stack.enter_async_context(
                ObjectStore.open(
                    endpoint_url=endpoint.url,
                    region=endpoint.region,
                    access_key=endpoint.access_key,
                    secret_key=endpoint.secret_key,
                )
            )
        await store.ensure_buckets(settings.buckets)
        yield store


async def connect_database(url: str) -> Database:
    db = Database.connect(url)
    try:
        await db.ping()
    except Exception as exc:
        await db.close()
        raise StartupError(f"cannot connect to DATABASE_URL ({redacted(url)}): {_reason(exc)}") from None
    return db


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@asynccontextmanager
async def running(
    settings: Settings, *, chats: dict[str, ChatPort] | None = None, pixel_processes: int | None = None
) -> AsyncIterator[Context]:
    """Everything started, migrated and connected; stopped in reverse order on exit."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(database_url(settings))
        db = await connect_database(url)
        stack.push_async_callback(db.close)
        await migrate.upgrade(db.engine)
        store = await stack.enter_async_context(object_store(settings))
        queue = await stack.enter_async_context(JobQueue(libpq_conninfo(url)))
        processes = pixel_processes if pixel_processes is not None else os.cpu_count() or 1
        pixels = PixelPool(processes=processes, warm=PixelJob("processing.photo", "warm_up"))
        stack.callback(pixels.close)
        downloads = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        stack.push_async_callback(downloads.close)
        ctx = Context(
            settings=settings,
            db=db,
            store=store,
            queue=queue,
            pixels=pixels,
            matcher=face_matcher(settings),
            chats=chats if chats is not None else {},
            metrics=Metrics(),
            downloads=downloads,
        )
        register_jobs(ctx)
        yield ctx
