"""Apply and revert the database schema (Alembic), on an async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import NameFilterParentNames, NameFilterType
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_HERE = Path(__file__).parent / "migrations"
QUEUE_TABLE_PREFIX = "procrastinate_"
# One migration at a time per database: serve and every worker migrate on start, often all at once.
_MIGRATION_LOCK = 0x66616365746167  # "facetag"


def include_name(name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames) -> bool:
    """What autogenerate compares: facetag's tables, not the job queue's (procrastinate owns those)."""
    return not (type_ == "table" and name is not None and name.startswith(QUEUE_TABLE_PREFIX))


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["connection"] = connection
    return cfg


async def _lock(conn: AsyncConnection) -> None:
    """Wait for any other process migrating this database; released when the transaction ends."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})


async def upgrade(engine: AsyncEngine, *, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await _lock(conn)
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), revision))


async def downgrade(engine: AsyncEngine, *, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await _lock(conn)
        await conn.run_sync(lambda sync: command.downgrade(_config(sync), revision))


async def current(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


def head() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    return ScriptDirectory.from_config(cfg).get_current_head()


async def autogenerate(engine: AsyncEngine, *, message: str) -> None:
    """Developer tool: write a new revision from the difference between models and database."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.revision(_config(sync), message=message, autogenerate=True))
