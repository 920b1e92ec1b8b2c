"""The Teams side of `ChatPort`: replies, card updates and shared files, through the Bot Connector
(`bot.teams.connector`) and, for files shared in channels, Microsoft Graph (`bot.teams.graph`).

Replies are proactive (they come from jobs, long after the turn), so they go out with plain aiohttp to
the `serviceUrl` stored with the share:
  POST {serviceUrl}v3/conversations/{conversation}/activities/{activityId}   reply (reply chain in channels)
  PUT  {serviceUrl}v3/conversations/{conversation}/activities/{replyId}      update the card in place
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bot.teams.activities import Address
from bot.teams.cards import attachment, media_card, summary
from bot.teams.config import TeamsAuthConfig
from bot.teams.connector import Connector, ConnectorError
from bot.teams.graph import Graph, GraphError
from handlers.ports import MediaView, RemoteFile, Sighting, UserFacingError

log = logging.getLogger(__name__)


def _host(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    return f"{parts.hostname.lower()}:{parts.port}" if parts.port else parts.hostname.lower()


def _message(where: Address, **fields: Any) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "type": "message",
        "channelId": "msteams",
        "serviceUrl": where.service_url,
        "conversation": {"id": where.conversation_id},
        "from": {"id": where.bot_id, "name": where.bot_name} if where.bot_id else None,
        "replyToId": where.activity_id or None,
    }
    activity.update(fields)
    return {k: v for k, v in activity.items() if v is not None}


class TeamsChat:
    platform = "teams"

    def __init__(self, config: TeamsAuthConfig, *, file_hosts: tuple[str, ...]) -> None:
        self.connector = Connector(config)
        self.graph = Graph(config, self.connector)
        self.file_hosts = file_hosts

    async def close(self) -> None:
        await self.connector.close()

    async def resolve_file(self, sighting: Sighting) -> RemoteFile:
        data = sighting.conversation
        url = data.get("download_url")
        if not isinstance(url, str) or not url:
            raise UserFacingError("Teams did not give facetag a download link for this file.")
        raw_name, raw_type = data.get("name"), data.get("content_type")
        name = raw_name if isinstance(raw_name, str) else sighting.filename
        mimetype = raw_type if isinstance(raw_type, str) else None
        if data.get("download_via_graph"):
            return await self._channel_file(url)
        if not data.get("download_needs_token"):
            # Paperclip files: a pre-authenticated SharePoint link; the bot token must not travel there.
            return RemoteFile(
                url=url, headers={}, allowed_hosts=self.file_hosts, name=name, mimetype=mimetype
            )
        service_host = _host(str(data.get("service_url") or ""))
        allowed = (*self.file_hosts, service_host) if service_host else self.file_hosts
        headers = {"Authorization": f"Bearer {await self.connector.token()}"}
        return RemoteFile(url=url, headers=headers, allowed_hosts=allowed, name=name, mimetype=mimetype)

    async def _channel_file(self, url: str) -> RemoteFile:
        """A file shared in a channel: Graph turns its SharePoint URL into a pre-authenticated link."""
        try:
            item = await self.graph.drive_file(url)
        except GraphError as exc:
            if exc.status in (401, 403):
                raise UserFacingError(
                    "facetag may not read files shared in channels: a Microsoft 365 admin needs to grant "
                    "the app the Files.ReadWrite.All application permission."
                ) from None
            raise UserFacingError(
                "I could not find this file in the team's files; it may have been moved or deleted."
            ) from None
        return RemoteFile(
            url=item.download_url,
            headers={},  # pre-authenticated: no token travels to SharePoint
            allowed_hosts=self.file_hosts,
            size=item.size,
            name=item.name,
            mimetype=item.mimetype,
        )

    async def publish_media(self, sighting: Sighting, view: MediaView) -> str | None:
        where = Address.from_mapping(sighting.conversation)
        activity = _message(where, summary=summary(view), attachments=[attachment(media_card(view))])
        if sighting.reply_ref:
            url = self.connector.url(
                where.service_url, "conversations", where.conversation_id, "activities", sighting.reply_ref
            )
            try:
                await self.connector.call("PUT", url, {**activity, "id": sighting.reply_ref})
                return sighting.reply_ref
            except ConnectorError as exc:
                if exc.status != 404:
                    raise
                log.info(
                    "teams: the card was deleted; posting a new one", extra={"sighting": str(sighting.id)}
                )
        return await self._post(where, activity)

    async def notify(self, sighting: Sighting, sentence: str) -> None:
        where = Address.from_mapping(sighting.conversation)
        await self._post(where, _message(where, text=sentence, textFormat="plain"))

    async def _post(self, where: Address, activity: Mapping[str, Any]) -> str | None:
        segments = ["conversations", where.conversation_id, "activities"]
        if where.activity_id:
            segments.append(where.activity_id)
        payload = await self.connector.call(
            "POST", self.connector.url(where.service_url, *segments), activity
        )
        posted = payload.get("id") if isinstance(payload, dict) else None
        return str(posted) if posted else None
