"""`facetag serve` end to end as a user runs it: a subprocess on a fresh data dir, nothing configured.

It starts its own Postgres and SeaweedFS, answers /readyz, /healthz and /metrics, stops everything it
started on SIGINT, and finds its data again on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import psycopg
import pytest
import yaml

from bot.app import NO_CHAT
from storage.embedded import EmbeddedPostgres, EmbeddedS3
from storage.settings import SettingsError, load_settings
from tests.support.cli import FACETAG, clean_environment
from tests.support.stack import open_store, scratch_data_dir

READY_WITHIN = 60.0
STOP_WITHIN = 45.0
DEFAULT_BUCKETS = load_settings(_env_file=None).buckets


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no output)"


@dataclass
class Served:
    process: asyncio.subprocess.Process
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    async def get(self, path: str) -> tuple[int, str, str]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.get(self.url + path) as response,
        ):
            return response.status, response.headers.get("Content-Type", ""), await response.text()

    async def ready(self, *, within: float = READY_WITHIN) -> dict[str, Any]:
        """/readyz's answer once it is 200; fails early if facetag exits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        last: object = None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            while loop.time() < deadline:
                if self.process.returncode is not None:
                    pytest.fail(f"facetag serve exited with {self.process.returncode}:\n{log_tail(self.log)}")
                try:
                    async with http.get(self.url + "/readyz") as response:
                        last = (response.status, await response.text())
                        if response.status == 200:
                            body: dict[str, Any] = await response.json()
                            return body
                except (aiohttp.ClientError, TimeoutError) as exc:
                    last = exc
                await asyncio.sleep(0.25)
        pytest.fail(f"/readyz not 200 within {within:.0f}s (last: {last!r}):\n{log_tail(self.log)}")

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.pid).children(recursive=True)

    async def interrupt(self) -> int:
        """Ctrl-C: SIGINT to facetag alone (its servers run in their own sessions); its exit code."""
        self.process.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_WITHIN)
        except TimeoutError:
            pytest.fail(f"facetag serve did not stop within {STOP_WITHIN:.0f}s:\n{log_tail(self.log)}")


@asynccontextmanager
async def serve(data_dir: Path, log: Path, *options: str, own_group: bool = False) -> AsyncIterator[Served]:
    """`.venv/bin/facetag serve` with only FACETAG_DATA_DIR / FACETAG_PORT set (no DATABASE_URL, no S3);
    `own_group`: in a process group of its own, as a shell runs a foreground job."""
    port = free_port()
    env = clean_environment(FACETAG_DATA_DIR=str(data_dir), FACETAG_PORT=str(port), FACETAG_HOST="127.0.0.1")
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            str(FACETAG),
            "serve",
            *options,
            cwd=log.parent,  # no .env there
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            process_group=0 if own_group else None,
        )
    try:
        yield Served(process=process, url=f"http://127.0.0.1:{port}", log=log)
    finally:
        if process.returncode is None:  # the test failed half way: stop it, harder if need be
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), STOP_WITHIN)
            except TimeoutError:
                process.kill()
                await process.wait()


def processes_mentioning(data_dir: Path) -> list[psutil.Process]:
    marker = str(data_dir.resolve())
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid != os.getpid() and any(marker in arg for arg in proc.info.get("cmdline") or []):
            found.append(proc)
    return found


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    living = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                living.append(proc)
    return living


async def assert_everything_stopped(data_dir: Path, children: list[psutil.Process]) -> None:
    for _ in range(50):  # they stop before facetag exits; allow a moment for the process table
        if not (alive(children) or processes_mentioning(data_dir)):
            break
        await asyncio.sleep(0.1)
    assert alive(children) == [], "every process facetag started is gone"
    assert processes_mentioning(data_dir) == [], f"no process mentions {data_dir}"


async def worker_count(conninfo: str) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        row = await (await conn.execute("SELECT COUNT(*) FROM procrastinate_workers")).fetchone()
    assert row is not None
    return int(row[0])


async def eventually_a_worker(conninfo: str, *, within: float = 15) -> int:
    count = 0
    for _ in range(int(within / 0.2)):
        if (count := await worker_count(conninfo)) > 0:
            break
        await asyncio.sleep(0.2)
    return count


@pytest.mark.slow
async def test_serve_runs_on_nothing_stops_everything_and_keeps_its_data(tmp_path: Path) -> None:
    with scratch_data_dir("facetag-serve-") as data_dir:
        # -- first start: a fresh data dir, a worker in the same process --------------------------
        async with serve(data_dir, tmp_path / "first.log") as first:
            assert await first.ready() == {
                "status": "ok",
                "database": "ok",
                "object_store": "ok",
                "queue": "ok",
            }
            status, _, body = await first.get("/healthz")
            assert (status, body) == (200, '{"status": "ok"}')

            status, content_type, body = await first.get("/metrics")
            assert status == 200
            assert content_type.startswith("text/plain")
            samples = [line for line in body.splitlines() if line.startswith("facetag_")]
            assert any(
                line.startswith('facetag_http_requests_total{route="/readyz",status="200"}')
                for line in samples
            )
            assert "# TYPE facetag_jobs_total counter" in body

            children = first.descendants()
            assert {"postgres", "weed"} <= {proc.name() for proc in children}

            # Join the running servers as a guest (the data dir is locked by facetag) and leave data.
            async with EmbeddedPostgres(data_dir) as postgres:
                assert postgres.pid is None, "a guest, not a second server"
                assert await eventually_a_worker(postgres.conninfo) >= 1, "serve runs a worker by default"
                async with await psycopg.AsyncConnection.connect(postgres.conninfo, autocommit=True) as conn:
                    await conn.execute("CREATE TABLE serve_test (note text)")
                    await conn.execute("INSERT INTO serve_test VALUES ('written while serving')")
            async with EmbeddedS3(data_dir) as s3:
                assert s3.pid is None
                async with open_store(s3.endpoint) as store:
                    for bucket in DEFAULT_BUCKETS:  # facetag made its own buckets
                        assert await store.list_keys(bucket=bucket) == []
                    await store.put_bytes(
                        bucket=DEFAULT_BUCKETS[0],
                        key="serve-test/note",
                        data=b"kept",
                        content_type="text/plain",
                    )

            assert await first.interrupt() == 0, log_tail(first.log)
        await assert_everything_stopped(data_dir, children)
        first_log = first.log.read_text(errors="replace")
        assert "Traceback" not in first_log, first_log
        assert NO_CHAT in first_log, "a first run with nothing configured says how to connect a chat"

        # -- second start on the same data dir, web only -----------------------------------------
        async with serve(data_dir, tmp_path / "second.log", "--no-worker") as second:
            assert (await second.ready())["status"] == "ok"
            children = second.descendants()
            async with EmbeddedPostgres(data_dir) as postgres:
                async with await psycopg.AsyncConnection.connect(postgres.conninfo) as conn:
                    rows = await (await conn.execute("SELECT note FROM serve_test")).fetchall()
                assert rows == [("written while serving",)]
                await asyncio.sleep(1)  # a worker would have registered by now
                assert await worker_count(postgres.conninfo) == 0, "--no-worker runs no jobs"
            async with EmbeddedS3(data_dir) as s3, open_store(s3.endpoint) as store:
                assert await store.get_bytes(bucket=DEFAULT_BUCKETS[0], key="serve-test/note") == b"kept"

            assert await second.interrupt() == 0, log_tail(second.log)
        await assert_everything_stopped(data_dir, children)
        second_log = second.log.read_text(errors="replace")
        assert "Traceback" not in second_log, second_log


@pytest.mark.slow
@pytest.mark.parametrize("when", ["warm", "warming-up"])
async def test_ctrl_c_in_a_terminal_stops_everything_quietly(tmp_path: Path, when: str) -> None:
    """A terminal's Ctrl-C interrupts the whole foreground process group, pixel processes included,
    and they may be starting (`warming-up`: right as /readyz answers): facetag still stops everything
    it started, exits 0 and prints no traceback."""
    with scratch_data_dir("facetag-serve-") as data_dir:
        async with serve(data_dir, tmp_path / "serve.log", own_group=True) as served:
            await served.ready()
            if when == "warm":
                async with EmbeddedPostgres(data_dir) as postgres:
                    assert await eventually_a_worker(postgres.conninfo) >= 1, "pixel processes warm"
                assert any("spawn_main" in " ".join(p.cmdline()) for p in served.descendants())
            children = served.descendants()
            os.killpg(served.pid, signal.SIGINT)
            try:
                code = await asyncio.wait_for(served.process.wait(), STOP_WITHIN)
            except TimeoutError:
                pytest.fail(f"facetag serve did not stop within {STOP_WITHIN:.0f}s:\n{log_tail(served.log)}")
            assert code == 0, log_tail(served.log)
        await assert_everything_stopped(data_dir, children)
        written = served.log.read_text(errors="replace")
        assert "Traceback" not in written and "KeyboardInterrupt" not in written, written


# ---- the container deployment (no Docker engine here: check what can be checked without one) -----

REPO = Path(__file__).resolve().parents[1]
_COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def compose_environment(service: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    """A service's environment as Compose interpolates it from `env` (`.env` or the shell)."""

    def substitute(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise LookupError(f"{name}: {rest}")
        return rest or ""

    return {
        key: _COMPOSE_VARIABLE.sub(substitute, str(value)) for key, value in service["environment"].items()
    }


def test_compose_runs_web_and_workers_and_refuses_placeholders() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector:pg16")
    assert services["web"]["command"] == ["facetag", "serve", "--no-worker"]
    assert services["worker"]["command"] == ["facetag", "worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["migrate"]["command"] == ["facetag", "migrate"]

    required = {
        "POSTGRES_PASSWORD": "pw0123456789",
        "S3_ACCESS_KEY": "facetag",
        "S3_SECRET_KEY": "s3-secret-0123",
    }
    for name in ("migrate", "web", "worker"):
        with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
            compose_environment(services[name], {})
        env = compose_environment(services[name], required)
        assert env["DATABASE_URL"] == "postgresql://facetag:pw0123456789@postgres:5432/facetag"
        assert env["S3_ENDPOINT_URL"] == "http://seaweedfs:8333"
        with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN"):
            load_settings(_env_file=None, **env)  # the placeholders are refused until set
        configured = compose_environment(
            services[name],
            {**required, "SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "f00d" * 8},
        )
        settings = load_settings(_env_file=None, **configured)
        assert settings.slack_enabled
        assert settings.s3_endpoint_url == "http://seaweedfs:8333"
    seaweed = compose_environment(services["seaweedfs"], required)
    assert (seaweed["AWS_ACCESS_KEY_ID"], seaweed["AWS_SECRET_ACCESS_KEY"]) == ("facetag", "s3-secret-0123")


def test_the_image_is_non_root_and_serves_on_3000() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", dockerfile, flags=re.MULTILINE)
    assert [stage for _, stage in stages] == ["builder", "runtime"]
    assert "ARG PYTHON_IMAGE=python:3.12-slim" in dockerfile
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert re.search(r"^USER facetag", runtime, flags=re.MULTILINE)
    assert "FACETAG_DATA_DIR=/data" in runtime
    assert 'VOLUME ["/data"]' in runtime
    assert "EXPOSE 3000" in runtime
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", runtime, flags=re.MULTILINE)
    assert runtime.rstrip().endswith('CMD ["facetag", "serve"]')
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", "data", ".env", ".git"} <= set(ignored)
