"""The Slack door: Bolt (signature checks, acks) → plain dataclasses → handlers.

Events, interactivity and slash commands all arrive at POST /slack/events (or over Socket Mode
when SLACK_APP_TOKEN is set)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import identify_modal
from bot.slack.chat import SlackChat
from handlers import faces, media
from handlers.context import Context
from handlers.ports import Actor, SharedFile
from storage.settings import Settings

log = logging.getLogger(__name__)

Body = dict[str, Any]
SOCKET_RETRY_MAX = 60.0  # seconds between attempts to open Socket Mode, at most


def shared_files_from_message(event: Body, *, team_id: str) -> list[SharedFile]:
    """A `message` event with subtype `file_share`: one SharedFile per file."""
    channel = str(event.get("channel", ""))
    ts = str(event.get("ts", ""))
    return [
        SharedFile(
            platform="slack",
            file_id=str(file["id"]),
            workspace_id=team_id,
            channel_id=channel,
            user_id=str(event.get("user", "")),
            text=str(event.get("text", "")),
            filename=file.get("name"),
            message_ref=ts,
            thread_ref=str(event.get("thread_ts") or ts),
            channel_private=event.get("channel_type") in {"group", "im", "mpim"},
        )
        for file in event.get("files", [])
        if file.get("id") and file.get("mode") not in {"tombstone", "hidden_by_limit", "external"}
    ]


def shared_file_from_event(event: Body, *, team_id: str, file: Body | None) -> SharedFile | None:
    """A `file_shared` event; the message ts comes from files.info's shares when known."""
    file_id, channel = event.get("file_id"), event.get("channel_id")
    if not file_id or not channel:
        return None
    ts: str | None = None
    private = False
    if file is not None:
        for visibility, shares in (file.get("shares") or {}).items():
            if shares.get(channel):
                first = shares[channel][0]
                ts = str(first.get("thread_ts") or first.get("ts"))
                private = visibility == "private"
    return SharedFile(
        platform="slack",
        file_id=str(file_id),
        workspace_id=team_id,
        channel_id=str(channel),
        user_id=str(event.get("user_id", "")),
        filename=file.get("name") if file else None,
        message_ref=ts,
        thread_ref=ts,
        channel_private=private,
    )


class SlackDoor:
    def __init__(self, settings: Settings) -> None:
        assert settings.slack_bot_token is not None
        self.settings = settings
        # One HTTP session for every Web API call and upload (slack_sdk otherwise opens a session, and a
        # TLS connection, per call). Made here, inside the running loop that `Doors` is built in.
        self.client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            session=aiohttp.ClientSession(),
        )
        self.chat = SlackChat(self.client, file_hosts=settings.slack_file_host_list)
        signing = settings.slack_signing_secret
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=signing.get_secret_value() if signing else None,
            request_verification_enabled=signing is not None,
            process_before_response=True,  # record and enqueue before acking: a failure makes Slack retry
        )
        self._socket: Any = None
        self._connecting: asyncio.Task[None] | None = None

    @property
    def listening(self) -> list[str]:
        """Where Slack reaches this door, as `add_routes` sets it up."""
        return [
            *(["slack: POST /slack/events"] if self.settings.slack_signing_secret is not None else []),
            *(["slack: Socket Mode"] if self.settings.slack_app_token is not None else []),
        ]

    def add_routes(self, app: web.Application, ctx: Context) -> None:
        """POST /slack/events only with a signing secret to verify it by (in Socket Mode without one,
        nothing arrives over HTTP: an unverifiable request is never taken)."""
        self._register(ctx)
        if self.settings.slack_signing_secret is not None:
            app.router.add_post("/slack/events", self._http)
        if self.settings.slack_app_token is not None:
            app.on_startup.append(self._start_socket_mode)

    async def _http(self, request: web.Request) -> web.Response:
        if int(request.headers.get("Content-Length") or 0) > 1024**2:
            raise web.HTTPRequestEntityTooLarge(max_size=1024**2, actual_size=request.content_length or 0)
        response = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _start_socket_mode(self, app: web.Application) -> None:
        """Connect in the background, so that Slack being unreachable at start delays Socket Mode but
        not the server (health checks, the REST API, Teams)."""
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        token = self.settings.slack_app_token
        assert token is not None
        self._socket = AsyncSocketModeHandler(self.bolt, token.get_secret_value())
        self._connecting = asyncio.create_task(self._connect(self._socket))

    @staticmethod
    async def _connect(socket: Any) -> None:
        """Open the Socket Mode connection, retrying with backoff (1, 2, 4 … 60 s) until it opens; once
        open, slack_sdk reconnects by itself."""
        delay = 1.0
        while True:
            try:
                await socket.connect_async()
            except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("slack: cannot open Socket Mode yet (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, SOCKET_RETRY_MAX)
            else:
                log.info("slack: Socket Mode connected")
                return

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._socket is not None:
            await self._socket.close_async()
        await self.client.session.close() if self.client.session else None

    # ------------------------------------------------------------------------------ listeners

    def _register(self, ctx: Context) -> None:
        bolt = self.bolt

        @bolt.event({"type": "message", "subtype": "file_share"})
        async def on_file_share(event: Body, body: Body) -> None:
            for shared in shared_files_from_message(event, team_id=str(body.get("team_id", ""))):
                await media.media_shared(ctx, shared)

        @bolt.event("file_shared")
        async def on_file_shared(event: Body, body: Body) -> None:
            try:
                info = await self.client.files_info(file=str(event.get("file_id")))
                file: Body | None = info["file"]
            except SlackApiError:
                file = None  # the ingest job reports missing scopes to the thread
            if file is not None and str(file.get("user")) == str(self.bolt_user_id(body)):
                return  # our own uploads (annotated pictures)
            shared = shared_file_from_event(event, team_id=str(body.get("team_id", "")), file=file)
            if shared is not None:
                await media.media_shared(ctx, shared)

        @bolt.event("message")
        async def on_other_message() -> None:
            return None  # plain messages, edits, deletions: nothing to do

        @bolt.action("face_confirm")
        async def on_confirm(ack: AsyncAck, body: Body, action: Body, respond: AsyncRespond) -> None:
            await ack()
            await self._decide(ctx, "confirm", action, body, respond)

        @bolt.action("face_reject")
        async def on_reject(ack: AsyncAck, body: Body, action: Body, respond: AsyncRespond) -> None:
            await ack()
            await self._decide(ctx, "reject", action, body, respond)

        @bolt.action("face_identify")
        async def on_identify(ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient) -> None:
            await ack()
            face_id = str(action.get("value", ""))
            await client.views_open(
                trigger_id=body["trigger_id"],
                view=identify_modal(
                    face_id=face_id, ordinal=_ordinal(body, face_id), image_file_id=_picture(body)
                ),
            )

        @bolt.view("face_identify")
        async def on_identify_submit(ack: AsyncAck, body: Body, view: Body, client: AsyncWebClient) -> None:
            picked = (
                view.get("state", {})
                .get("values", {})
                .get("person", {})
                .get("person_select", {})
                .get("selected_user")
            )
            if not picked:
                await ack(response_action="errors", errors={"person": "Pick a person."})
                return
            await ack()
            face_id = _uuid(view.get("private_metadata"))
            if face_id is None:
                return
            name = await self.display_name(str(picked))
            user = body.get("user", {})
            try:
                await faces.identify(
                    ctx,
                    face_id=face_id,
                    platform="slack",
                    user_id=str(picked),
                    name=name,
                    actor=Actor("slack", str(user.get("id", "")), user.get("name")),
                )
            except faces.FaceDecisionError as exc:
                log.info("identify refused", extra={"reason": str(exc)})

        from bot.slack.commands import register_commands

        register_commands(self, ctx)

    def bolt_user_id(self, body: Body) -> str | None:
        authorizations = body.get("authorizations") or []
        return str(authorizations[0].get("user_id")) if authorizations else None

    async def display_name(self, user_id: str) -> str:
        try:
            info = await self.client.users_info(user=user_id)
        except SlackApiError:
            return user_id
        user = info.get("user") or {}
        profile = user.get("profile") or {}
        return str(
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or user_id
        )

    async def _decide(self, ctx: Context, verb: str, action: Body, body: Body, respond: AsyncRespond) -> None:
        face_id = _uuid(action.get("value"))
        user = body.get("user", {})
        actor = Actor("slack", str(user.get("id", "")), user.get("name"))
        if face_id is None:
            return
        try:
            if verb == "confirm":
                await faces.confirm(ctx, face_id=face_id, actor=actor)
            else:
                await faces.reject(ctx, face_id=face_id, actor=actor)
        except faces.FaceDecisionError as exc:
            await respond(text=str(exc), response_type="ephemeral", replace_original=False)


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _ordinal(body: Body, face_id: str) -> int | None:
    for block in (body.get("message") or {}).get("blocks", []):
        if block.get("block_id") == f"face:{face_id}":
            text = str(block.get("text", {}).get("text", ""))
            digits = text.removeprefix("*").split(".", 1)[0]
            return int(digits) if digits.isdigit() else None
    return None


def _picture(body: Body) -> str | None:
    """The numbered picture of the reply that was clicked, to show in the modal."""
    for block in (body.get("message") or {}).get("blocks", []):
        file = block.get("slack_file") if block.get("type") == "image" else None
        if file and file.get("id"):
            return str(file["id"])
    return None
