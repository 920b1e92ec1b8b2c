"""The `facetag` command as a user runs it: a subprocess, its exit code and what it prints."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage import migrate
from storage.settings import Settings
from tests.support.scratch_db import scratch_database

FACETAG = Path(sys.executable).parent / "facetag"


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def one_line_error(self, *, naming: str) -> str:
        """Failed, with exactly one line on stderr that names `naming`, and no traceback."""
        assert self.code != 0, f"expected a failure:\n{self.stderr}"
        assert "Traceback" not in self.stderr, self.stderr
        assert len(self.stderr_lines) == 1, f"expected one line on stderr, got:\n{self.stderr}"
        line = self.stderr_lines[0]
        assert naming in line
        return line


def clean_environment(**values: str) -> dict[str, str]:
    """The test machine's environment without any facetag setting, plus `values`."""
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    env = {key: value for key, value in os.environ.items() if key not in aliases}
    env.update(values)
    return env


async def facetag(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Result:
    """Run .venv/bin/facetag in `cwd` (no `.env` there) with only the given settings."""
    process = await asyncio.create_subprocess_exec(
        str(FACETAG),
        *args,
        cwd=cwd,
        env=clean_environment(FACETAG_DATA_DIR=str(cwd / "data"), **(env or {})),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def test_the_console_script_is_installed() -> None:
    assert FACETAG.is_file(), f"{FACETAG} is missing: run scripts/setup"


async def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = await facetag("--help", cwd=tmp_path)
    assert result.code == 0, result.stderr
    for command in ("serve", "worker", "migrate", "teams-package"):
        assert command in result.stdout

    serve = await facetag("serve", "--help", cwd=tmp_path)
    assert serve.code == 0, serve.stderr
    assert "--no-worker" in serve.stdout


async def test_no_command_shows_help(tmp_path: Path) -> None:
    result = await facetag(cwd=tmp_path)
    assert "Usage" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


async def test_migrate_on_the_session_database_prints_the_revision(tmp_path: Path, pg_url: str) -> None:
    result = await facetag("migrate", cwd=tmp_path, env={"DATABASE_URL": pg_url})
    assert result.code == 0, result.stderr
    assert f"database at revision {migrate.head()}" in result.stderr
    assert "Traceback" not in result.stderr


async def test_migrate_down_to_base_and_back(tmp_path: Path, pg_url: str) -> None:
    async with scratch_database(pg_url, prefix="facetag_cli") as db:
        env = {"DATABASE_URL": db.url}
        up = await facetag("migrate", cwd=tmp_path, env=env)
        assert up.code == 0, up.stderr
        assert f"database at revision {migrate.head()}" in up.stderr

        down = await facetag("migrate", "--downgrade", "base", cwd=tmp_path, env=env)
        assert down.code == 0, down.stderr
        assert "database at revision base" in down.stderr

        again = await facetag("migrate", cwd=tmp_path, env=env)
        assert again.code == 0, again.stderr
        assert f"database at revision {migrate.head()}" in again.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://nobody:x@127.0.0.1:1/nope",
        "not a database url",
        "mysql://root:x@127.0.0.1/facetag",
    ],
    ids=["unreachable", "not-a-url", "not-postgres"],
)
async def test_a_bad_database_url_is_one_clear_line(tmp_path: Path, url: str) -> None:
    result = await facetag("migrate", cwd=tmp_path, env={"DATABASE_URL": url}, timeout=60)
    line = result.one_line_error(naming="DATABASE_URL")
    assert line.startswith("facetag: ")
    assert ":x@" not in line, "the password is not printed"
    assert not (tmp_path / "data" / "postgres").exists(), "no embedded server when DATABASE_URL is set"


@pytest.mark.parametrize("command", ["migrate", "serve", "worker"])
async def test_a_placeholder_secret_is_refused_by_name(tmp_path: Path, command: str) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "changethis"}
    result = await facetag(command, cwd=tmp_path, env=env, timeout=60)
    line = result.one_line_error(naming="SLACK_SIGNING_SECRET")
    assert "placeholder" in line
    assert not (tmp_path / "data").exists(), "nothing started"


async def test_a_placeholder_in_the_env_file_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AWS_SECRET_ACCESS_KEY=changeme\nAWS_ACCESS_KEY_ID=AKIAFACETAG\n")
    result = await facetag("migrate", cwd=tmp_path, timeout=60)
    result.one_line_error(naming="AWS_SECRET_ACCESS_KEY")


async def test_teams_package_without_an_app_id_fails_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "facetag-teams.zip"
    result = await facetag("teams-package", "--out", str(out), cwd=tmp_path, timeout=60)
    result.one_line_error(naming="MICROSOFT_APP_ID")
    assert not out.exists()
