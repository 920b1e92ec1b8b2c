"""The `facetag` command: serve, worker, migrate, and admin tools."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from bot import logs
from storage.db import DatabaseUrlError
from storage.settings import Settings, SettingsError, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="facetag: a chat-native photo library.")
err = Console(stderr=True, soft_wrap=True)  # one message, one line: never wrapped at 80 columns
log = logging.getLogger("facetag")

T = TypeVar("T")


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]facetag: {exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    logs.configure(level=settings.log_level, fmt=settings.log_format)
    return settings


def _run[T](main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; known startup failures become one clear line, not a traceback."""
    from bot.services import StartupError

    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except (StartupError, DatabaseUrlError, SettingsError) as exc:
        err.print(f"[red]facetag: {exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command()
def serve(
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Also run jobs in this process.")
    ] = True,
    host: Annotated[str | None, typer.Option(help="Bind address (FACETAG_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (FACETAG_PORT).")] = None,
) -> None:
    """Serve HTTP (Slack, Teams, REST API, health) and, by default, run jobs too."""
    settings = _settings()

    async def main() -> None:
        from bot.app import serve as serve_http
        from bot.doors import Doors
        from bot.services import running

        doors = Doors(settings)
        async with running(settings, chats=doors.chats) as ctx:
            await serve_http(
                ctx,
                doors,
                host=host or settings.host,
                port=port if port is not None else settings.port,
                worker=worker,
                concurrency=settings.worker_concurrency,
            )

    _run(main)


@app.command("worker")
def worker_command(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs at once (FACETAG_WORKER_CONCURRENCY).")
    ] = None,
) -> None:
    """Run jobs only: start as many of these as you like, on as many hosts."""
    settings = _settings()

    async def main() -> None:
        from bot.app import work
        from bot.doors import Doors
        from bot.services import running

        doors = Doors(settings)
        try:
            async with running(settings, chats=doors.chats) as ctx:
                await work(ctx, concurrency=concurrency or settings.worker_concurrency)
        finally:
            await doors.close()

    _run(main)


@app.command()
def migrate(
    downgrade: Annotated[str | None, typer.Option(help="Revert to this revision ('base' for none).")] = None,
) -> None:
    """Apply database migrations (serve applies them too)."""
    settings = _settings()

    async def main() -> None:
        from bot.services import connect_database, database_url
        from storage import migrate as migrations

        async with database_url(settings) as url:
            db = await connect_database(url)
            try:
                if downgrade:
                    await migrations.downgrade(db.engine, revision=downgrade)
                else:
                    await migrations.upgrade(db.engine)
                err.print(f"database at revision {await migrations.current(db.engine) or 'base'}")
            finally:
                await db.close()

    _run(main)


@app.command("teams-package")
def teams_package(
    out: Annotated[Path, typer.Option(help="Where to write the app zip.")] = Path("facetag-teams.zip"),
) -> None:
    """Build the Teams app package (manifest and icons) to upload in Teams."""
    settings = _settings()
    from bot.teams.package import build_package

    try:
        path = build_package(settings, out)
    except SettingsError as exc:
        err.print(f"[red]facetag: {exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    err.print(f"wrote {path}")


def main() -> None:
    app()
