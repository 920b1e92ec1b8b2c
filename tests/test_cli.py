"""The `facetag` command as a user runs it: a subprocess, its exit code and what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import migrate
from storage.db import create_engine
from tests.support.cli import FACETAG, facetag
from tests.support.scratch_db import scratch_database


def test_the_console_script_is_installed() -> None:
    assert FACETAG.is_file(), f"{FACETAG} is missing: run scripts/setup"


async def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = await facetag("--help", cwd=tmp_path)
    assert result.code == 0, result.stderr
    for command in ("serve", "worker", "migrate", "teams-package", "slack-manifest"):
        assert command in result.stdout


async def test_migrate_on_the_session_database_prints_the_revision(tmp_path: Path, pg_url: str) -> None:
    result = await facetag("migrate", cwd=tmp_path, env={"DATABASE_URL": pg_url})
    assert result.code == 0, result.stderr
    assert f"database at revision {migrate.head()}" in result.stderr
    assert "Traceback" not in result.stderr


async def test_migrate_downgrade_to_base(tmp_path: Path, pg_url: str) -> None:
    async with scratch_database(pg_url, prefix="facetag_cli") as db:
        engine = create_engine(db.url, pool_size=1)
        try:
            await migrate.upgrade(engine)
            result = await facetag(
                "migrate", "--downgrade", "base", cwd=tmp_path, env={"DATABASE_URL": db.url}
            )
            assert result.code == 0, result.stderr
            assert "database at revision base" in result.stderr
            assert await migrate.current(engine) is None
        finally:
            await engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://nobody:x@127.0.0.1:1/nope",
        "not a database url",
    ],
    ids=["unreachable", "not-a-url"],
)
async def test_a_bad_database_url_is_one_clear_line(tmp_path: Path, url: str) -> None:
    result = await facetag("migrate", cwd=tmp_path, env={"DATABASE_URL": url}, within=60)
    line = result.one_line_error(naming="DATABASE_URL")
    assert line.startswith("facetag: ")
    assert ":x@" not in line, "the password is not printed"
    assert not (tmp_path / "data" / "postgres").exists(), "no embedded server when DATABASE_URL is set"


@pytest.mark.parametrize("command", ["migrate", "serve"])
async def test_a_placeholder_secret_is_refused_by_name(tmp_path: Path, command: str) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "changethis"}
    result = await facetag(command, cwd=tmp_path, env=env, within=60)
    line = result.one_line_error(naming="SLACK_SIGNING_SECRET")
    assert "placeholder" in line
    assert not (tmp_path / "data").exists(), "nothing started"


async def test_a_placeholder_in_the_env_file_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AWS_SECRET_ACCESS_KEY=changeme\nAWS_ACCESS_KEY_ID=AKIAFACETAG\n")
    result = await facetag("migrate", cwd=tmp_path, within=60)
    result.one_line_error(naming="AWS_SECRET_ACCESS_KEY")


async def test_teams_package_without_an_app_id_fails_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "facetag-teams.zip"
    result = await facetag("teams-package", "--out", str(out), cwd=tmp_path, within=60)
    result.one_line_error(naming="MICROSOFT_APP_ID")
    assert not out.exists()


async def test_slack_manifest_for_socket_mode_and_over_http(tmp_path: Path) -> None:
    result = await facetag("slack-manifest", "--socket-mode", cwd=tmp_path, within=60)
    assert result.code == 0, result.stderr
    assert "socket_mode_enabled: true" in result.stdout
    assert "request_url" not in result.stdout
    out = tmp_path / "slack.yaml"
    env = {"FACETAG_PUBLIC_URL": "https://facetag.example.org"}
    result = await facetag("slack-manifest", "--out", str(out), cwd=tmp_path, env=env, within=60)
    assert result.code == 0, result.stderr
    assert "request_url: https://facetag.example.org/slack/events" in out.read_text()


async def test_slack_manifest_over_http_without_a_public_url_fails_with_one_line(tmp_path: Path) -> None:
    result = await facetag("slack-manifest", cwd=tmp_path, within=60)
    result.one_line_error(naming="FACETAG_PUBLIC_URL")
