"""Session-wide embedded servers: ONE Postgres + pgvector and ONE SeaweedFS for the whole test run.

Fixtures: `data_dir`, `embedded` (the Stack), `pg_url`, `pg_conninfo`, `s3`, `store`, `bucket` and a
fresh `settings` per test pointing at them. Add chat-platform fixtures in your own modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from storage.embedded import S3Endpoint
from storage.objects import ObjectStore
from storage.settings import Settings, load_settings
from tests.support.shared import FACES, FIXTURES
from tests.support.stack import Stack, embedded_stack, open_store, scratch_data_dir

TEST_BUCKET = "facetag-tests"


def pytest_configure(config: pytest.Config) -> None:
    """No test runs without the real photos and recorded payloads: a missing `../shared` stops the run
    with one line instead of skipping or failing test by test."""
    missing = [str(path) for path in (FACES, FIXTURES) if not path.is_dir()]
    if missing:
        raise pytest.UsageError(
            f"shared test data not found at {', '.join(missing)}: the tests read ../shared beside the "
            "checkout (or FACETAG_SHARED_DIR)"
        )


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    """The session's facetag data folder (embedded servers live in `postgres/` and `s3/`).

    Removed at the end of the session, after the servers stopped (large test objects live here).
    """
    with scratch_data_dir("facetag-session-") as path:
        yield path


@pytest_asyncio.fixture(scope="session")
async def embedded(data_dir: Path) -> AsyncIterator[Stack]:
    async with embedded_stack(data_dir) as stack:
        yield stack


@pytest.fixture(scope="session")
def pg_url(embedded: Stack) -> str:
    """SQLAlchemy URL (postgresql+asyncpg over the unix socket)."""
    return embedded.pg_url


@pytest.fixture(scope="session")
def pg_conninfo(embedded: Stack) -> str:
    """libpq conninfo for psycopg / procrastinate."""
    return embedded.pg_conninfo


@pytest.fixture(scope="session")
def s3(embedded: Stack) -> S3Endpoint:
    return embedded.endpoint


def _settings_values(data_dir: Path, pg_url: str, s3: S3Endpoint) -> dict[str, str]:
    return {
        "FACETAG_DATA_DIR": str(data_dir),
        "DATABASE_URL": pg_url,
        "S3_ENDPOINT_URL": s3.url,
        "S3_REGION": s3.region,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
    }


@pytest_asyncio.fixture(scope="session")
async def store(data_dir: Path, pg_url: str, s3: S3Endpoint) -> AsyncIterator[ObjectStore]:
    """A session-wide ObjectStore; facetag's default buckets and TEST_BUCKET exist."""
    defaults = load_settings(_env_file=None, **_settings_values(data_dir, pg_url, s3))
    async with open_store(s3) as object_store:
        await object_store.ensure_buckets([*defaults.buckets, TEST_BUCKET])
        yield object_store


@pytest.fixture(scope="session")
def bucket(store: ObjectStore) -> str:
    """A scratch bucket shared by the session (use unique keys); buckets cost SeaweedFS volumes."""
    return TEST_BUCKET


@pytest.fixture
def settings(data_dir: Path, pg_url: str, s3: S3Endpoint) -> Settings:
    """Fresh Settings pointing at the embedded servers (no `.env` file is read)."""
    return load_settings(_env_file=None, **_settings_values(data_dir, pg_url, s3))
