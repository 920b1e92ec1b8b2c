"""The Bot Connector REST API with the bot's client-credentials token (any `serviceUrl`):

  GET  {serviceUrl}v3/conversations/{conversation}/pagedmembers             roster (chat or channel), paged
  GET  {serviceUrl}v3/conversations/{conversation}/members/{aadObjectId}    one member
  GET  {serviceUrl}v3/teams/{teamId}                                         the team's Entra group id

plus `call` for the activity routes `bot.teams.chat` posts replies and card updates with.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.teams.activities import Address
from bot.teams.adapter import agent_auth_configuration
from bot.teams.cards import Member
from bot.teams.config import BOTFRAMEWORK_SCOPE, TeamsAuthConfig
from bot.teams.outbound import ClientCredentialsTokenProvider

log = logging.getLogger(__name__)

BOTFRAMEWORK_RESOURCE = "https://api.botframework.com"
ROSTER_PAGE_SIZE = 500
"""Members asked for per roster page (Teams' largest page). Teams throttles the unpaged `…/members` read
to five calls a minute and cuts it off at 10,000 members, so rosters are always read page by page."""
MAX_ROSTER_PAGES = 200
"""A roster stops after this many pages (100,000 members), should a connector keep handing out tokens."""


class TeamsTransientError(Exception):
    """The connector is throttling or failing right now: retry the job later."""


class ConnectorError(Exception):
    """The connector refused a request; `status` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def failure(method: str, url: URL, status: int, payload: Any) -> str:
    """One line for a refused request, with the service's error code when it gave one."""
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return f"{method} {url.path}: {status} {code or ''}".strip()


def _segment(value: str) -> str:
    # Teams ids contain ':' '@' ';' '=' (allowed in a path segment); everything else is escaped.
    return quote(value, safe=":@;=,!$&'()*+-._~")


class Connector:
    """A minimal Bot Connector client (any serviceUrl) carrying the bot's outbound token."""

    def __init__(self, config: TeamsAuthConfig) -> None:
        # Shared with the Graph client (bot.teams.graph): one credential, one token cache per scope,
        # one HTTP session.
        self.tokens = ClientCredentialsTokenProvider(
            agent_auth_configuration(config), timeout=config.http_timeout_seconds
        )
        self._timeout = aiohttp.ClientTimeout(total=max(30.0, config.http_timeout_seconds))
        self._session: aiohttp.ClientSession | None = None

    async def token(self) -> str:
        return await self.tokens.get_access_token(BOTFRAMEWORK_RESOURCE, [BOTFRAMEWORK_SCOPE])

    def http(self) -> aiohttp.ClientSession:
        """The bot's HTTP session for Microsoft's services (the connector, and Graph through `Graph`)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @staticmethod
    def url(service_url: str, *segments: str) -> URL:
        base = service_url.rstrip("/")
        return URL(base + "/v3/" + "/".join(_segment(s) for s in segments), encoded=True)

    async def call(self, method: str, url: URL, body: Mapping[str, Any] | None = None) -> Any:
        """A Bot Connector request with the bot's token: its JSON; ConnectorError for a 4xx."""
        status, payload = await self.send(method, url, token=await self.token(), body=body)
        if status >= 400:
            raise ConnectorError(status, failure(method, url, status, payload))
        return payload

    async def send(
        self,
        method: str,
        url: URL,
        *,
        token: str,
        body: Mapping[str, Any] | None = None,
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> tuple[int, Any]:
        """One request on the bot's session with a bearer `token` (the connector's or Graph's): the
        status and the JSON answer (None when not JSON). Throttling (429), 5xx and network errors raise
        TeamsTransientError; other statuses are the caller's to judge."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        options: dict[str, Any] = {"timeout": client_timeout} if client_timeout is not None else {}
        try:
            async with self.http().request(method, url, json=body, headers=headers, **options) as response:
                status = response.status
                try:
                    payload: Any = await response.json(content_type=None)
                except ValueError:
                    payload = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TeamsTransientError(f"{method} {url.path}: {type(exc).__name__}") from exc
        if status == 429 or status >= 500:
            raise TeamsTransientError(f"{method} {url.path}: {status}")
        return status, payload

    async def members(self, where: Address) -> list[Member]:
        """The people of the conversation, by Entra object id: of a chat its members, of a channel the
        channel's (a standard channel's are the team's; a private or shared channel's only its own)."""
        url = self.url(where.service_url, "conversations", where.base_conversation, "pagedmembers")
        members: dict[str, Member] = {}  # a page may repeat members of an earlier one
        token: str | None = None
        for _ in range(MAX_ROSTER_PAGES):
            query = {"pageSize": str(ROSTER_PAGE_SIZE)} | ({"continuationToken": token} if token else {})
            try:
                page = await self.call("GET", url.with_query(query))
            except ConnectorError as exc:
                log.warning("teams: cannot read the roster: %s", exc)
                return []
            page = page if isinstance(page, dict) else {}
            for m in page.get("members") or []:
                if isinstance(m, dict) and m.get("aadObjectId"):
                    aad = str(m["aadObjectId"])
                    members.setdefault(aad, Member(aad, str(m.get("name") or aad)))
            token = page.get("continuationToken") or None
            if not isinstance(token, str):
                break
        else:
            log.warning("teams: roster cut off after %d pages", MAX_ROSTER_PAGES)
        return list(members.values())

    async def team_group_id(self, where: Address) -> str | None:
        """The Entra group id (`aadGroupId` of TeamDetails) of the team of a channel conversation."""
        if not where.team_id:
            return None
        payload = await self.call("GET", self.url(where.service_url, "teams", where.team_id))
        group = payload.get("aadGroupId") if isinstance(payload, dict) else None
        return group if isinstance(group, str) and group else None

    async def member(self, where: Address, aad_object_id: str) -> Member | None:
        """One member of the conversation (chat or channel, as `members`), or None when not in it."""
        target = where.base_conversation
        try:
            payload = await self.call(
                "GET", self.url(where.service_url, "conversations", target, "members", aad_object_id)
            )
        except ConnectorError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(payload, dict) or not payload.get("aadObjectId"):
            return None
        return Member(str(payload["aadObjectId"]), str(payload.get("name") or payload["aadObjectId"]))
