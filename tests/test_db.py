"""The database engine: a dropped connection costs one failed statement, never a stuck pool."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.db import Database
from storage.faces import EF_SEARCH


async def test_a_dropped_connection_fails_once_then_the_pool_reconnects(pg_url: str) -> None:
    # No ping before every checkout (three round trips per session); a disconnect instead invalidates
    # the pool, the statement that met it fails (jobs retry, Slack redelivers), the next one reconnects.
    db = Database.connect(pg_url, pool_size=1)
    other = Database.connect(pg_url, pool_size=1)
    try:
        async with db.session() as session:
            before = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with other.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
        with pytest.raises(DBAPIError):
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
        async with db.session() as session:
            after = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert after != before
    finally:
        await db.close()
        await other.close()


async def test_connections_search_hnsw_with_the_code_ef_search(pg_url: str) -> None:
    db = Database.connect(pg_url, pool_size=1)
    try:
        async with db.session() as session:
            await session.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            assert (await session.execute(text("SHOW hnsw.ef_search"))).scalar_one() == str(EF_SEARCH)
    finally:
        await db.close()
