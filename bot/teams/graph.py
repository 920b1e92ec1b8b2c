"""Microsoft Graph, app-only, for the two things the Bot Connector cannot do: tell who owns a team, and
fetch a file shared in a channel.

  GET {MICROSOFT_GRAPH_URL}teams/{aadGroupId}/members   conversationMember collection
      {"value": [{"@odata.type": "#microsoft.graph.aadUserConversationMember", "id", "roles": ["owner"],
                  "displayName", "userId", "email", "tenantId"}, …], "@odata.nextLink": "…"}
  GET {MICROSOFT_GRAPH_URL}shares/u!{base64url(file URL)}/driveItem   the driveItem of a SharePoint URL
      {"id", "name", "size", "file": {"mimeType"}, "@microsoft.graph.downloadUrl": "…"}

Owners are the members whose `roles` contain "owner"; `userId` is their Entra object id (what the door
keys Teams users by). Pages are followed through `@odata.nextLink` as given, but only on the Graph
origin (the bearer token never travels elsewhere). The token comes from the bot's own client
credentials for `https://graph.microsoft.com/.default`; Graph answers for a team only if the team
granted the app the resource-specific permission `TeamMember.Read.Group` (asked for by the manifest).

Files shared in a channel live in the team's SharePoint; the message carries only their URL (a
`reference` attachment). Graph resolves that URL to its driveItem when the app holds the application
permission `Files.ReadWrite.All` (granted by an admin in Entra); the item's `@microsoft.graph.downloadUrl`
is pre-authenticated and short-lived, so the bytes are fetched with no token at all.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.teams.config import GRAPH_SCOPE, TeamsAuthConfig
from bot.teams.connector import Connector, failure

log = logging.getLogger(__name__)

GRAPH_RESOURCE = GRAPH_SCOPE.removesuffix("/.default")
OWNER_ROLE = "owner"
MAX_PAGES = 50  # 100 members a page by default: teams of up to 5 000 people


@dataclass(frozen=True, slots=True)
class DriveFile:
    """A SharePoint file as Graph describes it."""

    download_url: str  # pre-authenticated, short-lived: fetched without an Authorization header
    name: str | None
    mimetype: str | None
    size: int | None


def share_id(url: str) -> str:
    """Graph's id for a shared URL: "u!" + unpadded base64url of the URL."""
    return "u!" + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


class GraphError(Exception):
    """Graph refused a request (e.g. 403: the team did not grant TeamMember.Read.Group)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Graph:
    """A minimal Microsoft Graph client with the bot's app-only token, on the connector's credentials
    and HTTP session (the connector closes it)."""

    def __init__(self, config: TeamsAuthConfig, connector: Connector) -> None:
        self.base_url = URL(config.graph_url.rstrip("/") + "/")
        self._connector = connector
        self._timeout = aiohttp.ClientTimeout(total=config.http_timeout_seconds)

    async def team_owners(self, group_id: str) -> frozenset[str]:
        """The Entra object ids of the owners of the team whose group is `group_id`."""
        url: URL | None = URL(f"{self.base_url}teams/{quote(group_id, safe='')}/members", encoded=True)
        owners: set[str] = set()
        pages = 0
        while url is not None:
            payload = await self._get(url)
            for member in payload.get("value") or []:
                if not isinstance(member, dict):
                    continue
                roles = member.get("roles") or []
                user = member.get("userId")
                if isinstance(user, str) and user and any(str(r).casefold() == OWNER_ROLE for r in roles):
                    owners.add(user)
            url = self._next(payload.get("@odata.nextLink"))
            pages += 1
            if url is not None and pages >= MAX_PAGES:
                log.warning(
                    "teams: team %s has more than %d pages of members; reading no further", group_id, pages
                )
                break
        return frozenset(owners)

    async def drive_file(self, url: str) -> DriveFile:
        """The driveItem behind a SharePoint file URL (a channel file's `contentUrl`). GraphError 403
        when the app lacks Files.ReadWrite.All, 404 when the file is gone."""
        payload = await self._get(URL(f"{self.base_url}shares/{share_id(url)}/driveItem", encoded=True))
        download = payload.get("@microsoft.graph.downloadUrl")
        if not isinstance(download, str) or not download:
            raise GraphError(404, "the shared item is not a file (no download URL)")
        facet = payload.get("file")
        name, size = payload.get("name"), payload.get("size")
        mimetype = facet.get("mimeType") if isinstance(facet, dict) else None
        return DriveFile(
            download_url=download,
            name=name if isinstance(name, str) else None,
            mimetype=mimetype if isinstance(mimetype, str) else None,
            size=size if isinstance(size, int) else None,
        )

    def _next(self, link: object) -> URL | None:
        if not isinstance(link, str) or not link:
            return None
        url = URL(link, encoded=True)
        if url.origin() != self.base_url.origin():
            log.warning("teams: Graph's nextLink leaves %s; not followed", self.base_url.origin())
            return None
        return url

    async def _get(self, url: URL) -> dict[str, Any]:
        token = await self._connector.tokens.get_access_token(GRAPH_RESOURCE, [GRAPH_SCOPE])
        status, payload = await self._connector.send("GET", url, token=token, client_timeout=self._timeout)
        if status >= 400 or not isinstance(payload, dict):
            raise GraphError(status, failure("GET", url, status, payload))
        return payload
