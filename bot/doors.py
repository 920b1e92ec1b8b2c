"""Which front doors are open, from the settings: Slack, Teams, the REST API.

A chat door's SDK is imported only when that door is configured (Bolt costs the web process ~5 MB of
RSS, the Teams SDK more).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from handlers.context import Context
from handlers.ports import ChatPort
from storage.settings import Settings

if TYPE_CHECKING:
    from bot.slack.door import SlackDoor
    from bot.teams.door import TeamsDoor


class Doors:
    """Built before the services start (the chat ports go into the Context), routed after."""

    def __init__(self, settings: Settings) -> None:
        from bot.api.door import ApiDoor

        self.slack = self._slack(settings)
        self.teams = self._teams(settings)
        self.api = ApiDoor()

    @staticmethod
    def _slack(settings: Settings) -> SlackDoor | None:
        if not settings.slack_enabled:
            return None
        from bot.slack.door import SlackDoor

        return SlackDoor(settings)

    @staticmethod
    def _teams(settings: Settings) -> TeamsDoor | None:
        if not settings.teams_enabled:
            return None
        from bot.teams.door import TeamsDoor

        return TeamsDoor(settings)

    @property
    def chats(self) -> dict[str, ChatPort]:
        chats: dict[str, ChatPort] = {}
        if self.slack is not None:
            chats["slack"] = self.slack.chat
        if self.teams is not None:
            chats["teams"] = self.teams.chat
        return chats

    @property
    def summary(self) -> list[str]:
        """What listens where, for the start-up log line."""
        slack = self.slack.listening if self.slack is not None else []
        teams = self.teams.listening if self.teams is not None else []
        return [*slack, *teams, "rest api: /api/v1"]

    def add_routes(self, app: web.Application, ctx: Context) -> None:
        if self.slack is not None:
            self.slack.add_routes(app, ctx)
        if self.teams is not None:
            self.teams.add_routes(app, ctx)
        self.api.add_routes(app, ctx, slack=self.slack.client if self.slack is not None else None)

    async def close(self) -> None:
        if self.slack is not None:
            await self.slack.close()
        if self.teams is not None:
            await self.teams.close()
