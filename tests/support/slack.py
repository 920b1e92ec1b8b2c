"""A Slack scenario: the fake Slack workspace and the real facetag app wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from storage.settings import Settings
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_payloads import Delivery, SlackRequest, deliver
from tests.fakes.slack_workspace import Message
from tests.support.app import RunningApp, run_app
from tests.support.shared import FACES


def face_photo(relative: str) -> bytes:
    return (FACES / relative).read_bytes()


@dataclass
class SlackScenario:
    slack: FakeSlack
    app: RunningApp
    socket_mode: bool = False  # deliveries over the fake's Socket Mode WebSocket instead of HTTP

    @property
    def events_url(self) -> str:
        return f"{self.app.url}/slack/events"

    async def send(self, request: SlackRequest, **overrides: Any) -> Delivery:
        """Deliver as Slack would: a signed POST to /slack/events (`overrides`: the signature's
        `timestamp` or `secret`), or in Socket Mode an envelope on the app's WebSocket."""
        if self.socket_mode:
            assert not overrides, "Socket Mode deliveries carry no signature"
            return await self.slack.socket.deliver(request)
        return await deliver(self.events_url, request, **overrides)

    async def share(self, channel: str, user: str, files: list[tuple[str, bytes]], text: str = "") -> Message:
        """A user uploads files with a message; both events arrive, as from real Slack."""
        stored = [self.slack.add_file(user, name, data) for name, data in files]
        requests = self.slack.payloads.file_upload(channel, user, stored, text=text)
        for request in requests:
            delivery = await self.send(request)
            assert delivery.status == 200, delivery.text
        ts = requests[0].payload["event"]["ts"]
        return next(m for m in self.slack.messages_in(channel) if m.ts == ts)

    def replies(self, message: Message) -> list[Message]:
        """The bot's replies in the message's thread (current versions)."""
        return [
            m
            for m in self.slack.messages_in(message.channel, message.ts)
            if m.ts != message.ts and m.user == self.slack.bot_user_id
        ]

    def face_blocks(self, reply: Message) -> list[dict[str, Any]]:
        return [b for b in reply.blocks or [] if str(b.get("block_id", "")).startswith("face:")]


def slack_settings(
    settings: Settings, slack: FakeSlack, *, socket_mode: bool = False, **extra: object
) -> Settings:
    """The app's settings for `slack`: HTTP with its signing secret, or Socket Mode with its app-level
    token and no signing secret (as an install without a public URL is configured)."""
    return settings.model_copy(
        update={
            "slack_bot_token": _secret(slack.bot_token),
            "slack_signing_secret": None if socket_mode else _secret(slack.signing_secret),
            "slack_app_token": _secret(slack.app_token) if socket_mode else None,
            "slack_api_url": slack.api_url,
            "slack_file_hosts": slack.file_host,
            **extra,
        }
    )


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


@asynccontextmanager
async def slack_scenario(
    settings: Settings, *, pixel_processes: int = 1, socket_mode: bool = False, **extra: object
) -> AsyncIterator[SlackScenario]:
    async with (
        FakeSlack() as slack,
        run_app(
            slack_settings(settings, slack, socket_mode=socket_mode, **extra), pixel_processes=pixel_processes
        ) as app,
    ):
        if socket_mode:
            await slack.socket.wait_connected()  # the app connects in the background as it starts
        yield SlackScenario(slack=slack, app=app, socket_mode=socket_mode)
