"""The chat directory for user-bound tokens: which conversations a Slack user is in, cached briefly."""

from __future__ import annotations

import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.members import is_workspace_admin, member_channels

TTL = 60.0


class ChatDirectory:
    """Asks Slack (users.conversations, users.info); other platforms cannot say (None)."""

    def __init__(self, slack: AsyncWebClient | None, *, ttl: float = TTL) -> None:
        self.slack = slack
        self.ttl = ttl
        self._channels: dict[str, tuple[float, dict[str, str]]] = {}
        self._admins: dict[str, tuple[float, bool]] = {}

    async def channels_of(self, platform: str, user_id: str) -> dict[str, str] | None:
        if platform != "slack" or self.slack is None:
            return None
        cached = self._channels.get(user_id)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            channels = await member_channels(self.slack, user_id)
        except SlackApiError:
            channels = {}  # an unknown or deactivated user sees nothing
        self._channels[user_id] = (time.monotonic(), channels)
        return channels

    async def is_platform_admin(self, platform: str, user_id: str) -> bool:
        if platform != "slack" or self.slack is None:
            return False
        cached = self._admins.get(user_id)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            admin = await is_workspace_admin(self.slack, user_id)
        except SlackApiError:
            admin = False
        self._admins[user_id] = (time.monotonic(), admin)
        return admin
