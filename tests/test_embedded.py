"""Embedded PostgreSQL and SeaweedFS: real servers, restarts, crashes, leftovers."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import psutil
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.embedded import EmbeddedPostgres, EmbeddedS3, S3Endpoint, postgres_bin_dir
from storage.objects import ObjectStore
from tests.support.stack import (
    Stack,
    crash_an_owner,
    embedded_stack,
    open_store,
    scratch_data_dir,
    server_processes,
)


@pytest.fixture
def own_dir() -> Iterator[Path]:
    """A data dir for a separate embedded instance (not the session's)."""
    with scratch_data_dir() as path:
        yield path


async def _scalar(url: str, sql: str) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


async def _gone(pids: list[int], *, within: float) -> bool:
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _, alive = await asyncio.to_thread(psutil.wait_procs, procs, timeout=within)
    return not [proc for proc in alive if proc.status() != psutil.STATUS_ZOMBIE]


async def test_postgres_has_pgvector(pg_url: str, pg_conninfo: str) -> None:
    assert await _scalar(pg_url, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    assert await _scalar(pg_url, "SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector") == 2.0
    async with await psycopg.AsyncConnection.connect(pg_conninfo) as conn:
        row = await (await conn.execute("SELECT current_user")).fetchone()
    assert row == ("postgres",)


async def test_postgres_listens_on_a_private_socket_only(embedded: Stack) -> None:
    assert embedded.postgres.pid is not None
    postmaster = psutil.Process(embedded.postgres.pid)
    assert postmaster.net_connections(kind="inet") == []
    assert stat.S_IMODE(embedded.postgres.socket_dir.stat().st_mode) == 0o700


async def test_s3_binds_loopback_and_requires_signatures(embedded: Stack, s3: S3Endpoint) -> None:
    assert embedded.s3.pid is not None
    listening = [
        c for c in psutil.Process(embedded.s3.pid).net_connections(kind="inet") if c.status == "LISTEN"
    ]
    assert len(listening) >= 8
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
    async with aiohttp.ClientSession() as http, http.get(f"{s3.url}/facetag-pending") as response:
        assert response.status == 403
    credentials = embedded.s3.credentials_path
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    identities = json.loads(credentials.read_text())["identities"]
    assert [i["credentials"][0]["accessKey"] for i in identities] == [s3.access_key]


async def test_restart_keeps_data(own_dir: Path) -> None:
    async with embedded_stack(own_dir) as first:
        async with await psycopg.AsyncConnection.connect(first.pg_conninfo, autocommit=True) as conn:
            await conn.execute("CREATE TABLE kept (note text)")
            await conn.execute("INSERT INTO kept VALUES ('still here')")
        async with open_store(first.endpoint) as store:
            await store.ensure_buckets(["restart-test"])
            await store.put_bytes(
                bucket="restart-test", key="a", data=b"first run", content_type="text/plain"
            )

            async def parts() -> AsyncIterator[bytes]:
                for i in range(3):
                    yield bytes([i]) * (5 * 1024**2)

            await store.put_stream(  # multipart, the last write right before weed is stopped (and killed)
                bucket="restart-test", key="big", chunks=parts(), content_type="video/mp4", max_bytes=10**8
            )
        old_pids = [first.postgres.pid, first.s3.pid]
    assert server_processes(own_dir) == []
    assert not any(pid is not None and psutil.pid_exists(pid) for pid in old_pids)

    async with embedded_stack(own_dir) as second:
        assert second.endpoint.access_key == first.endpoint.access_key
        assert second.endpoint.secret_key == first.endpoint.secret_key
        assert await _scalar(second.pg_url, "SELECT note FROM kept") == "still here"
        async with open_store(second.endpoint) as store:
            await store.put_bytes(
                bucket="restart-test", key="b", data=b"second run", content_type="text/plain"
            )
            assert await store.get_bytes(bucket="restart-test", key="a") == b"first run"
            assert await store.get_bytes(bucket="restart-test", key="b") == b"second run"
            big = await store.get_bytes(bucket="restart-test", key="big", max_bytes=16 * 1024**2)
            assert big == b"".join(bytes([i]) * (5 * 1024**2) for i in range(3))
    assert server_processes(own_dir) == []


async def test_second_instance_joins_as_guest(own_dir: Path) -> None:
    async with EmbeddedPostgres(own_dir) as owner, EmbeddedS3(own_dir) as owner_s3:
        guest, guest_s3 = EmbeddedPostgres(own_dir), EmbeddedS3(own_dir)
        assert await guest.start() == owner.url
        assert await guest_s3.start() == owner_s3.endpoint
        assert guest.pid is None
        assert guest_s3.pid is None
        await guest.stop()
        await guest_s3.stop()
        assert await _scalar(owner.url, "SELECT 1") == 1
        async with open_store(owner_s3.endpoint) as store:
            await store.ping()
    assert server_processes(own_dir) == []


async def test_postgres_survives_stale_pid_file_and_foreign_leftover(own_dir: Path) -> None:
    server = EmbeddedPostgres(own_dir)
    await server.start()
    await server.stop()
    # A crash leaves postmaster.pid behind; after a reboot its pid may belong to anything (here: us).
    pid_file = server.pgdata / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{server.pgdata}\n0\n5432\n{server.pgdata}\n\n  0 0\nready\n")
    await server.start()
    assert await _scalar(server.url, "SELECT 1") == 1
    await server.stop()

    # A server started by something else (pg_ctl, no parent-death signal) is still running.
    leftover = _start_with_pg_ctl(server.pgdata)
    assert psutil.pid_exists(leftover)
    await server.start()
    assert not psutil.pid_exists(leftover) or psutil.Process(leftover).status() == psutil.STATUS_ZOMBIE
    assert await _scalar(server.url, "SELECT 1") == 1
    await server.stop()
    assert server_processes(own_dir) == []


def _start_with_pg_ctl(pgdata: Path) -> int:
    owner = pwd.getpwuid(pgdata.stat().st_uid)
    subprocess.run(
        [
            str(postgres_bin_dir() / "pg_ctl"),
            "-D",
            str(pgdata),
            "-o",
            f"-k {pgdata} -c listen_addresses=",
            "-l",
            str(pgdata / "leftover.log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
        cwd=pgdata,
        user=owner.pw_uid,
        group=owner.pw_gid,
        extra_groups=[],
    )
    return int((pgdata / "postmaster.pid").read_text().split()[0])


@pytest.mark.slow
async def test_killed_owner_leaves_no_orphans(own_dir: Path) -> None:
    """SIGKILL facetag: the kernel signals its servers (PR_SET_PDEATHSIG) and they exit by themselves."""
    pids = await crash_an_owner(own_dir)
    assert await _gone([pids["postgres"]], within=15)
    assert await _gone([pids["weed"]], within=40)  # weed's filer waits ~15 s on SIGTERM
    assert server_processes(own_dir) == []


@pytest.mark.slow
async def test_restart_right_after_a_crash(own_dir: Path) -> None:
    """The next start stops servers still shutting down from the crashed run and keeps the data."""
    pids = await crash_an_owner(own_dir)
    async with embedded_stack(own_dir) as stack:
        assert await _gone(list(pids.values()), within=0)
        assert await _scalar(stack.pg_url, "SELECT note FROM crash") == "written before the crash"
        async with open_store(stack.endpoint) as store:
            assert await store.get_bytes(bucket="crash-test", key="note") == b"survives"
    assert server_processes(own_dir) == []


async def test_store_fixture_has_default_buckets(store: ObjectStore) -> None:
    for name in ("facetag-pending", "facetag-approved", "facetag-faces"):
        await store.ping(bucket=name)
