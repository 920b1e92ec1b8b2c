"""Embedded Postgres + SeaweedFS for tests: one stack per session (conftest) or per test."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
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


@contextmanager
def scratch_data_dir(prefix: str = "facetag-test-") -> Iterator[Path]:
    """A fresh data dir directly under the temp dir, removed afterwards.

    Not under pytest's `tmp_path`: every pytest run chmods /tmp/pytest-of-<user> to 0700, which
    (when tests run as root) locks the `pgserver` account out of a running server's data directory.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@asynccontextmanager
async def embedded_stack(data_dir: Path, *, stop_grace: float = 1.0) -> AsyncIterator[Stack]:
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


_REPO = Path(__file__).resolve().parents[2]
_OWNER_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
import psycopg
from storage.embedded import EmbeddedPostgres, EmbeddedS3
from storage.objects import ObjectStore

async def main() -> None:
    data_dir = Path(sys.argv[1])
    postgres, s3 = EmbeddedPostgres(data_dir), EmbeddedS3(data_dir)
    await postgres.start()
    endpoint = await s3.start()
    async with await psycopg.AsyncConnection.connect(postgres.conninfo, autocommit=True) as conn:
        await conn.execute("CREATE TABLE crash (note text)")
        await conn.execute("INSERT INTO crash VALUES ('written before the crash')")
    async with ObjectStore.open(endpoint_url=endpoint.url, region=endpoint.region,
                                access_key=endpoint.access_key, secret_key=endpoint.secret_key) as store:
        await store.ensure_buckets(["crash-test"])
        await store.put_bytes(bucket="crash-test", key="note", data=b"survives", content_type="text/plain")
    print(json.dumps({"postgres": postgres.pid, "weed": s3.pid}), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def crash_an_owner(data_dir: Path) -> dict[str, int]:
    """Run the embedded servers in a child process, write a row and an object, then SIGKILL the child.

    Returns the pids of the servers that child started.
    """
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _OWNER_SCRIPT,
        str(data_dir),
        stdout=asyncio.subprocess.PIPE,
        cwd=_REPO,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 120)
        pids: dict[str, int] = json.loads(line)
    finally:
        child.kill()
        await child.wait()
    return pids
