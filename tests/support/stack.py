"""Embedded Postgres + SeaweedFS for tests: one stack per session (conftest) or per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from storage.embedded import EmbeddedPostgres, EmbeddedS3, S3Endpoint
from storage.objects import ObjectStore


@dataclass(frozen=True, slots=True)
class Stack:
    data_dir: Path
    postgres: EmbeddedPostgres
    s3: EmbeddedS3
    pg_url: str  # SQLAlchemy, asyncpg driver
    pg_conninfo: str  # libpq, for psycopg / procrastinate
    endpoint: S3Endpoint


@asynccontextmanager
async def embedded_stack(data_dir: Path, *, stop_grace: float = 5.0) -> AsyncIterator[Stack]:
    """Start both servers concurrently; stop both on exit, even when one failed to start."""
    postgres, s3 = EmbeddedPostgres(data_dir), EmbeddedS3(data_dir, stop_grace=stop_grace)
    try:
        pg_url, endpoint = await asyncio.gather(postgres.start(), s3.start())
        yield Stack(
            data_dir=data_dir,
            postgres=postgres,
            s3=s3,
            pg_url=pg_url,
            pg_conninfo=postgres.conninfo,
            endpoint=endpoint,
        )
    finally:
        results = await asyncio.gather(postgres.stop(), s3.stop(), return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]


@asynccontextmanager
async def open_store(endpoint: S3Endpoint, **options: int) -> AsyncIterator[ObjectStore]:
    """An ObjectStore on an S3Endpoint; `options` are ObjectStore's part-size knobs."""
    async with ObjectStore.open(
        endpoint_url=endpoint.url,
        region=endpoint.region,
        access_key=endpoint.access_key,
        secret_key=endpoint.secret_key,
        **options,
    ) as store:
        yield store


def server_processes(data_dir: Path) -> list[psutil.Process]:
    """Live weed/postgres processes whose command line mentions `data_dir`."""
    marker = str(data_dir.resolve())
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info.get("name") in {"weed", "postgres"} and any(
            marker in arg for arg in proc.info.get("cmdline") or []
        ):
            found.append(proc)
    return found
