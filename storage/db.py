"""The async database engine and sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage.faces import EF_SEARCH


class DatabaseUrlError(ValueError):
    """DATABASE_URL cannot be used; the message says why in one line."""


def async_url(url: str) -> str:
    """Normalise any postgres URL to the asyncpg driver SQLAlchemy needs."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseUrlError(f"DATABASE_URL is not a valid URL: {exc}") from None
    if parsed.get_backend_name() not in {"postgresql", "postgres"}:
        raise DatabaseUrlError(
            f"DATABASE_URL must be a postgresql:// URL, not {parsed.get_backend_name()}://"
        )
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def libpq_conninfo(url: str) -> str:
    """The same database as a libpq URL, for psycopg (procrastinate)."""
    parsed = make_url(async_url(url)).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        parts = urlsplit(url)
        return f"{parts.scheme}://***@{parts.hostname or ''}{parts.path} {parse_qs(parts.query)}"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """No ping before each checkout (it costs three round trips per session, ~6 % of the app's CPU in
    `bench.ingest`): a dropped connection fails the one statement that meets it and invalidates the
    pool, and jobs retry. Connections are renewed every 30 minutes, before idle timeouts on the way.
    Each connection starts with the face search's HNSW `ef_search` (pgvector takes it up when it loads)."""
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args={"server_settings": {"hnsw.ef_search": str(EF_SEARCH)}},
    )


class Database:
    """One engine and its session factory."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 10) -> Database:
        return cls(create_engine(url, pool_size=pool_size))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
