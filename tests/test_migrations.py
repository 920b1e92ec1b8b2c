"""Migrations on a database of their own: up, all the way down, up again; models match the schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from storage.db import create_engine
from storage.models import Base
from tests.support.scratch_db import scratch_database

FACETAG_TABLES = {
    "api_tokens",
    "channel_settings",
    "face_rejections",
    "faces",
    "media",
    "people",
    "sightings",
    "tags",
    "uploads",
}
FACETAG_TYPES = {"face_state", "media_kind", "media_status"}

# Objects in the public schema that belong neither to an extension (pgvector) nor to a table's row type.
_NOT_FROM_AN_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
LEFTOVERS = {
    "tables": "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
    "AND c.relname <> 'alembic_version' AND " + _NOT_FROM_AN_EXTENSION.format(oid="c.oid"),
    "indexes": "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('i', 'I') AND c.relname <> 'alembic_version_pkc'",
    "types": "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
    "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'c', 'd', 'r', 'm') "
    "AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') "
    "AND " + _NOT_FROM_AN_EXTENSION.format(oid="t.oid"),
    "functions": "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname = 'public' AND " + _NOT_FROM_AN_EXTENSION.format(oid="p.oid"),
    "triggers": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
}


@pytest_asyncio.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database (CREATE DATABASE on the session server), dropped afterwards."""
    async with scratch_database(pg_url, prefix="facetag_migrations") as db:
        engine = create_engine(db.url, pool_size=1)
        try:
            yield engine
        finally:
            await engine.dispose()


async def names(engine: AsyncEngine, sql: str) -> set[str]:
    async with engine.connect() as conn:
        return {str(row[0]) for row in await conn.execute(text(sql))}


async def leftovers(engine: AsyncEngine) -> dict[str, set[str]]:
    return {kind: await names(engine, sql) for kind, sql in LEFTOVERS.items()}


def schema_diff(conn: Connection) -> list[Any]:
    """What `alembic revision --autogenerate` would write: nothing when models and migrations agree."""
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_name": migrate.include_name}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_downgrade_upgrade_leaves_nothing_behind(engine: AsyncEngine) -> None:
    head = migrate.head()
    assert head is not None
    assert await migrate.current(engine) is None

    await migrate.upgrade(engine)
    assert await migrate.current(engine) == head
    created = await leftovers(engine)
    assert created["tables"] >= FACETAG_TABLES
    assert {"procrastinate_jobs", "procrastinate_workers", "procrastinate_events"} <= created["tables"]
    assert created["types"] >= FACETAG_TYPES | {"procrastinate_job_status"}
    assert any(name.startswith("procrastinate_") for name in created["functions"])
    assert created["triggers"], "procrastinate's triggers"
    assert await names(engine, "SELECT extname FROM pg_extension") >= {"vector"}

    await migrate.downgrade(engine, revision="base")
    assert await migrate.current(engine) is None
    assert await leftovers(engine) == {kind: set() for kind in LEFTOVERS}

    await migrate.upgrade(engine)
    assert await migrate.current(engine) == head
    assert await leftovers(engine) == created


async def test_upgrade_is_idempotent(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)
    before = await leftovers(engine)
    await migrate.upgrade(engine)
    assert await migrate.current(engine) == migrate.head()
    assert await leftovers(engine) == before


async def test_models_match_the_migrated_schema(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)
    async with engine.connect() as conn:
        diff = await conn.run_sync(schema_diff)
    assert diff == []


async def test_the_queue_schema_is_not_facetags_to_autogenerate(engine: AsyncEngine) -> None:
    """Without the filter autogenerate would drop procrastinate's tables; with it, they are left alone."""
    await migrate.upgrade(engine)

    def unfiltered(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        raw = await conn.run_sync(unfiltered)
    dropped = {op[1].name for op in raw if op[0] == "remove_table"}
    queue_tables = await names(
        engine,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'procrastinate%'",
    )
    assert len(queue_tables) >= 3
    assert dropped == queue_tables


async def test_processes_starting_together_migrate_once(pg_url: str) -> None:
    """serve and several workers start at once on a fresh database (docker compose up): all succeed."""
    async with scratch_database(pg_url, prefix="facetag_migrations_race") as db:
        engines = [create_engine(db.url, pool_size=1) for _ in range(4)]
        try:
            async with asyncio.timeout(60):  # without a migration lock they deadlock or fail
                await asyncio.gather(*(migrate.upgrade(engine) for engine in engines))
            assert {await migrate.current(engine) for engine in engines} == {migrate.head()}
        finally:
            await asyncio.gather(*(engine.dispose() for engine in engines))
