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
from storage.db import Database, DatabaseUrlError
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


@app.command("slack-manifest")
def slack_manifest(
    socket_mode: Annotated[
        bool, typer.Option("--socket-mode", help="For Socket Mode (SLACK_APP_TOKEN): no request URLs.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the Slack app manifest (YAML) to paste at api.slack.com/apps; over HTTP its URLs point at
    FACETAG_PUBLIC_URL."""
    settings = _settings()
    from bot.slack.manifest import dump, render_manifest

    try:
        text = dump(render_manifest(settings, socket_mode=socket_mode))
    except SettingsError as exc:
        err.print(f"[red]facetag: {exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        err.print(f"wrote {out}")


token_app = typer.Typer(no_args_is_help=True, help="REST API tokens: create, list, revoke.")
app.add_typer(token_app, name="token")


def _with_database[T](settings: Settings, use: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        from bot.services import connect_database, database_url
        from storage import migrate as migrations

        async with database_url(settings) as url:
            db = await connect_database(url)
            try:
                await migrations.upgrade(db.engine)
                return await use(db)
            finally:
                await db.close()

    return _run(main)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="What the token is for.")],
    scope: Annotated[
        list[str],
        typer.Option(help="media:read, media:write, people:read, people:write or admin (repeat)."),
    ],
    user: Annotated[str | None, typer.Option(help="Act for this chat user (same visibility).")] = None,
    channel: Annotated[list[str] | None, typer.Option(help="A service token's channel (repeat).")] = None,
    platform: Annotated[str, typer.Option("--platform", "--user-platform", help="slack or teams.")] = "slack",
    by: Annotated[str, typer.Option(help="Recorded as the creator.")] = "cli",
) -> None:
    """Create a token and print its secret (shown once; only its hash is stored)."""
    from handlers.tokens import TokenError, create_token

    settings = _settings()
    try:
        new = _with_database(
            settings,
            lambda db: create_token(
                db,
                name=name,
                scopes=[s for part in scope for s in part.replace(",", " ").split()],
                platform=platform,
                user_id=user,
                channels=list(channel or []),
                created_by=by,
            ),
        )
    except TokenError as exc:
        err.print(f"[red]facetag: {exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    err.print(f"token {new.info.id} ({', '.join(new.info.scopes)}); the secret is shown only now:")
    typer.echo(new.secret)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token at once."""
    import uuid

    from handlers.tokens import revoke_token

    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        err.print("[red]facetag: that is not a token id[/red]", highlight=False)
        raise typer.Exit(2) from None
    if not _with_database(_settings(), lambda db: revoke_token(db, token_id=parsed)):
        err.print(f"[red]facetag: no live token {parsed}[/red]", highlight=False)
        raise typer.Exit(1)
    err.print(f"revoked {parsed}")


@token_app.command("list")
def token_list(
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked tokens.")] = False,
) -> None:
    """List tokens (never their secrets)."""
    from handlers.tokens import list_tokens

    for info in _with_database(_settings(), lambda db: list_tokens(db, include_revoked=revoked)):
        who = (
            f"user {info.platform}:{info.user_id}" if info.user_id else f"channels {','.join(info.channels)}"
        )
        state = "revoked" if info.revoked_at else f"last used {info.last_used_at or 'never'}"
        typer.echo(f"{info.id}  {info.name}  [{' '.join(info.scopes)}]  {who}  {state}")


def main() -> None:
    app()
