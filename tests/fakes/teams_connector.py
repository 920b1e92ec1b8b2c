"""Fake Bot Connector: the swagger routes the bot uses, strict about bearer tokens and activity schema."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import jwt
from aiohttp import web

from tests.fakes.teams_base import Json, LocalServer, activity_errors, connector_error
from tests.fakes.teams_identity import FakeIdentity

TEAM_ID = "19:team-general@thread.tacv2"  # the team; also the id of its General channel
CHANNEL_ID = "19:photos-channel@thread.tacv2"  # a standard channel of TEAM_ID
_THREAD = re.compile(r";messageid=\d+$")

# --------------------------------------------------------------------------- connector


@dataclass(frozen=True, slots=True)
class TeamsMember:
    """A roster entry as Teams returns it from GET /v3/conversations/{id}/pagedmembers."""

    id: str
    name: str
    aad_object_id: str
    email: str
    tenant_id: str = ""
    given_name: str = ""
    surname: str = ""
    user_role: str = "user"

    def to_json(self) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "email": self.email,
            "userPrincipalName": self.email,
            "givenName": self.given_name or self.name.split()[0],
            "surname": self.surname or self.name.split()[-1],
            "tenantId": self.tenant_id,
            "userRole": self.user_role,
        }


@dataclass(frozen=True, slots=True)
class SentActivity:
    """One activity the bot sent. `kind` is send | reply | update; `activity_id` is the id the
    connector assigned (send, reply) or the one updated (update); `reply_to` the replied-to id."""

    kind: str
    conversation_id: str
    activity_id: str
    activity: Json
    token_claims: Json
    reply_to: str | None = None


@dataclass(slots=True)
class _File:
    data: bytes
    content_type: str
    name: str
    expires_at: float = float("inf")


@dataclass(slots=True)
class Rejection:
    method: str
    path: str
    status: int
    reason: str


@dataclass(slots=True)
class _Log:
    sent: list[SentActivity] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    attachment_fetches: list[str] = field(default_factory=list)
    team_lookups: list[str] = field(default_factory=list)  # team ids asked for with GET /v3/teams/{id}
    roster_reads: list[str] = field(default_factory=list)  # ids of GET …/{id}/pagedmembers, one per page
    download_headers: list[dict[str, str]] = field(default_factory=list)


class FakeConnector(LocalServer):
    """The Bot Connector at `service_url` (with a Teams-like path prefix, e.g. `/amer/`).

    Every /v3 route requires a bearer token issued by `identity` to the bot. Activities are
    validated against activity.schema.json (400 BadArgument otherwise) and recorded in `sent`.
    `/files/<id>` imitates a pre-authenticated SharePoint `downloadUrl`: it refuses requests that
    carry an Authorization header (the bot must not leak its token there). `GET /v3/teams/{id}`
    answers the TeamDetails of teams seeded with `add_team`; any other team is a 404 `NotFound`
    that is not counted in `rejected` (asking about a team the bot saw is legitimate; the scenarios
    that do not seed teams simply have no team owners).

    Rosters (`GET /v3/conversations/{id}/pagedmembers`) are per conversation, as in Teams: a team (and its
    General channel, whose id is the team's) and a chat have their own members; a standard channel
    (`add_channel`; CHANNEL_ID is one of TEAM_ID's) answers its team's members; a private or shared
    channel (`add_private_channel`) only its own. A channel conversation's `;messageid=` suffix is
    ignored (the reply chain is addressed by its channel). Pages hold `pageSize` members (default 200),
    at most `page_size_limit` (500 as in Teams; lower it to make small rosters span pages), and carry
    an opaque `continuationToken` while members remain. The unpaged `…/members` list, which Teams
    throttles to five calls a minute, is not served.
    """

    DEFAULT_PAGE_SIZE = 200

    def __init__(self, identity: FakeIdentity, *, prefix: str = "/amer") -> None:
        super().__init__()
        self.identity = identity
        self.prefix = prefix.rstrip("/")
        self.log = _Log()
        self._ids = itertools.count(1_700_000_000_000)
        self._activities: dict[tuple[str, str], Json] = {}
        self._members: dict[str, list[TeamsMember]] = {}  # team, chat or private channel → members
        self._standard: dict[str, str] = {CHANNEL_ID: TEAM_ID}  # standard channel → its team
        self._teams: dict[str, Json] = {}
        self._attachments: dict[str, _File] = {}
        self._downloads: dict[str, _File] = {}
        self._pages: dict[str, tuple[str, int]] = {}  # continuation token → (roster, next offset)
        self.page_size_limit = 500
        v3 = f"{self.prefix}/v3"
        conv = v3 + "/conversations/{conversationId}"
        r = self.app.router
        r.add_post(conv + "/activities", self._send)
        r.add_post(conv + "/activities/{activityId}", self._reply)
        r.add_put(conv + "/activities/{activityId}", self._update)
        r.add_get(conv + "/pagedmembers", self._paged_members)
        r.add_get(conv + "/members/{memberId}", self._member)
        r.add_get(v3 + "/teams/{teamId}", self._team)
        r.add_get(v3 + "/attachments/{attachmentId}", self._attachment_info)
        r.add_get(v3 + "/attachments/{attachmentId}/views/{viewId}", self._attachment_view)
        r.add_get("/files/{fileId}", self._download)

    @property
    def service_url(self) -> str:
        return f"{self.base_url}{self.prefix}/"

    @property
    def sent(self) -> list[SentActivity]:
        return self.log.sent

    @property
    def rejected(self) -> list[Rejection]:
        return self.log.rejected

    def activity(self, conversation_id: str, activity_id: str) -> Json | None:
        """The latest version of an activity the bot sent (after updates)."""
        return self._activities.get((conversation_id, activity_id))

    # -- seeding
    def add_member(self, conversation_id: str, member: TeamsMember) -> None:
        """A member of a team, chat or private channel; of a standard channel: of its team."""
        self._members.setdefault(self._roster_of(conversation_id), []).append(member)

    def add_channel(self, team_id: str, channel_id: str) -> None:
        """A standard channel of a team: its members are the team's."""
        self._standard[channel_id] = team_id

    def add_private_channel(self, team_id: str, channel_id: str, members: Iterable[TeamsMember]) -> None:
        """A private (or shared) channel of a team, with its own members (who must be the team's)."""
        roster = list(members)
        outsiders = [m.name for m in roster if m not in self._members.get(team_id, [])]
        if outsiders:
            raise ValueError(f"not members of team {team_id}: {outsiders}")
        self._standard.pop(channel_id, None)
        self._members[channel_id] = roster

    def _roster_of(self, conversation_id: str) -> str:
        """Whose members a conversation's roster is: a standard channel's team, else its own."""
        base = _THREAD.sub("", conversation_id)
        return self._standard.get(base, base)

    def add_team(self, team_id: str, aad_group_id: str, name: str = "Team") -> None:
        """TeamDetails for GET /v3/teams/{team_id} (the team's Entra group is `aad_group_id`)."""
        self._teams[team_id] = {
            "id": team_id,
            "name": name,
            "aadGroupId": aad_group_id,
            "type": "standard",
            "channelCount": 1,
            "memberCount": len(self._members.get(team_id, [])),
        }

    def add_attachment(self, data: bytes, content_type: str = "image/png", name: str = "image.png") -> str:
        attachment_id = "0-" + secrets.token_hex(12)
        self._attachments[attachment_id] = _File(data, content_type, name)
        return attachment_id

    def attachment_url(self, attachment_id: str, view: str = "original") -> str:
        return f"{self.service_url}v3/attachments/{attachment_id}/views/{view}"

    def add_download(
        self, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg", expires_in: float = 3600
    ) -> str:
        """A pre-authenticated, short-lived downloadUrl for a paperclip file."""
        file_id = secrets.token_urlsafe(16)
        self._downloads[file_id] = _File(data, content_type, name, time.time() + expires_in)
        return f"{self.base_url}/files/{file_id}"

    # -- plumbing
    def _reject(self, request: web.Request, status: int, code: str, reason: str) -> web.Response:
        self.log.rejected.append(Rejection(request.method, request.path, status, reason))
        return connector_error(status, code, reason)

    def _authorize(self, request: web.Request) -> Json | web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self._reject(
                request, 401, "Unauthorized", "Authorization has been denied for this request."
            )
        try:
            return self.identity.verify_outbound(token.strip())
        except jwt.PyJWTError as exc:
            return self._reject(request, 401, "Unauthorized", f"invalid bearer token: {exc}")

    async def _incoming(self, request: web.Request) -> tuple[Json, Json] | web.Response:
        claims = self._authorize(request)
        if isinstance(claims, web.Response):
            return claims
        try:
            body = await request.json()
        except ValueError:
            return self._reject(request, 400, "BadArgument", "body is not JSON")
        if not isinstance(body, dict):
            return self._reject(request, 400, "BadArgument", "body is not an activity")
        problems = activity_errors(body)
        if problems:
            return self._reject(request, 400, "BadArgument", "; ".join(problems))
        return claims, body

    def _record(self, kind: str, request: web.Request, activity_id: str, got: tuple[Json, Json]) -> None:
        claims, body = got
        conversation_id = request.match_info["conversationId"]
        reply_to = request.match_info.get("activityId") if kind == "reply" else None
        self._activities[(conversation_id, activity_id)] = body
        self.log.sent.append(SentActivity(kind, conversation_id, activity_id, body, claims, reply_to))

    # -- conversations
    async def _send(self, request: web.Request) -> web.Response:
        got = await self._incoming(request)
        if isinstance(got, web.Response):
            return got
        activity_id = str(next(self._ids))
        self._record("send", request, activity_id, got)
        return web.json_response({"id": activity_id}, status=201)

    async def _reply(self, request: web.Request) -> web.Response:
        got = await self._incoming(request)
        if isinstance(got, web.Response):
            return got
        activity_id = str(next(self._ids))
        self._record("reply", request, activity_id, got)
        return web.json_response({"id": activity_id}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        got = await self._incoming(request)
        if isinstance(got, web.Response):
            return got
        key = (request.match_info["conversationId"], request.match_info["activityId"])
        if key not in self._activities:
            return self._reject(request, 404, "ActivityNotFoundInConversation", "unknown activity")
        self._record("update", request, key[1], got)
        return web.json_response({"id": key[1]})

    async def _paged_members(self, request: web.Request) -> web.Response:
        claims = self._authorize(request)
        if isinstance(claims, web.Response):
            return claims
        self.log.roster_reads.append(request.match_info["conversationId"])
        roster = self._roster_of(request.match_info["conversationId"])
        members = self._members.get(roster)
        if members is None:
            return self._reject(request, 404, "ConversationNotFound", "unknown conversation")
        try:
            size = int(request.query.get("pageSize", self.DEFAULT_PAGE_SIZE))
        except ValueError:
            return self._reject(request, 400, "BadArgument", "pageSize must be an integer")
        size = min(max(size, 1), self.page_size_limit)
        offset = 0
        if "continuationToken" in request.query:
            page = self._pages.pop(request.query["continuationToken"], None)
            if page is None or page[0] != roster:
                return self._reject(request, 400, "BadArgument", "unknown continuation token")
            offset = page[1]
        body: Json = {"members": [m.to_json() for m in members[offset : offset + size]]}
        if offset + size < len(members):
            token = secrets.token_urlsafe(12)
            self._pages[token] = (roster, offset + size)
            body["continuationToken"] = token
        return web.json_response(body)

    async def _member(self, request: web.Request) -> web.Response:
        claims = self._authorize(request)
        if isinstance(claims, web.Response):
            return claims
        wanted = request.match_info["memberId"]
        for member in self._members.get(self._roster_of(request.match_info["conversationId"]), []):
            if wanted in (member.id, member.aad_object_id):
                return web.json_response(member.to_json())
        return self._reject(request, 404, "MemberNotFoundInConversation", "The member was not found.")

    async def _team(self, request: web.Request) -> web.Response:
        claims = self._authorize(request)
        if isinstance(claims, web.Response):
            return claims
        team_id = request.match_info["teamId"]
        self.log.team_lookups.append(team_id)
        details = self._teams.get(team_id)
        if details is None:
            return connector_error(404, "NotFound", "Team not found")
        return web.json_response(details)

    # -- attachments and files
    async def _attachment_info(self, request: web.Request) -> web.Response:
        claims = self._authorize(request)
        if isinstance(claims, web.Response):
            return claims
        found = self._attachments.get(request.match_info["attachmentId"])
        if found is None:
            return self._reject(request, 404, "NotFound", "unknown attachment")
        views = [{"viewId": "original", "size": len(found.data)}]
        return web.json_response({"name": found.name, "type": found.content_type, "views": views})

    async def _attachment_view(self, request: web.Request) -> web.Response:
        claims = self._authorize(request)
        if isinstance(claims, web.Response):
            return claims
        found = self._attachments.get(request.match_info["attachmentId"])
        if found is None or request.match_info["viewId"] != "original":
            return self._reject(request, 404, "NotFound", "unknown attachment or view")
        self.log.attachment_fetches.append(request.match_info["attachmentId"])
        return web.Response(body=found.data, content_type=found.content_type)

    async def _download(self, request: web.Request) -> web.Response:
        self.log.download_headers.append(dict(request.headers))
        if "Authorization" in request.headers:
            return self._reject(request, 401, "Unauthorized", "downloadUrl is pre-authenticated; no token")
        found = self._downloads.get(request.match_info["fileId"])
        if found is None:
            return self._reject(request, 404, "itemNotFound", "unknown file")
        if found.expires_at < time.time():
            return self._reject(request, 403, "accessDenied", "downloadUrl expired")
        return web.Response(body=found.data, content_type=found.content_type)
