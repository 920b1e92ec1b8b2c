"""A throwaway database on the session's Postgres server, for tests that must not share one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from storage.db import create_engine, libpq_conninfo


@dataclass(frozen=True, slots=True)
class ScratchDatabase:
    name: str
    url: str  # SQLAlchemy, asyncpg driver
    conninfo: str  # libpq, for psycopg / procrastinate


@asynccontextmanager
async def scratch_database(pg_url: str, *, prefix: str = "facetag_scratch") -> AsyncIterator[ScratchDatabase]:
    """CREATE DATABASE next to the one `pg_url` names; DROP it (WITH FORCE) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = libpq_conninfo(pg_url)
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        yield ScratchDatabase(name=name, url=url, conninfo=libpq_conninfo(url))
    finally:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@asynccontextmanager
async def migrated_engine(pg_url: str, *, prefix: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a scratch database migrated to the head revision."""
    async with scratch_database(pg_url, prefix=prefix) as db:
        engine = create_engine(db.url, pool_size=2)
        try:
            await migrate.upgrade(engine)
            yield engine
        finally:
            await engine.dispose()
