"""Fake Microsoft Graph v1.0, strict about the bearer token (issued by FakeIdentity for Graph):
`GET /v1.0/teams/{group id}/members` (conversationMember collection, paged with `@odata.nextLink`) and
`GET /v1.0/shares/{u!base64url(url)}/driveItem` (the driveItem of a SharePoint file URL)."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field

import jwt
from aiohttp import web

from tests.fakes.teams_base import Json, LocalServer
from tests.fakes.teams_connector import Rejection
from tests.fakes.teams_identity import FakeIdentity

GRAPH_AUDIENCE = "https://graph.microsoft.com"
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"


@dataclass(frozen=True, slots=True)
class GraphMember:
    """A team member as Graph lists it (`userId` is the Entra object id)."""

    user_id: str
    name: str
    email: str
    tenant_id: str
    owner: bool = False

    def to_json(self, group_id: str) -> Json:
        return {
            "@odata.type": MEMBER_TYPE,
            "id": f"MCMjMiMj{group_id}IyM{self.user_id}",  # opaque membership id
            "roles": ["owner"] if self.owner else [],
            "displayName": self.name,
            "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
            "userId": self.user_id,
            "email": self.email,
            "tenantId": self.tenant_id,
        }


@dataclass(frozen=True, slots=True)
class DriveItem:
    """A file in a team's SharePoint document library, as Graph describes it."""

    web_url: str  # what a channel message's `reference` attachment carries as `contentUrl`
    download_url: str  # pre-authenticated and short-lived
    name: str
    size: int
    mime_type: str
    id: str = field(default_factory=lambda: "01" + uuid.uuid4().hex.upper()[:32])

    def to_json(self, base_url: str) -> Json:
        return {
            "@odata.context": f"{base_url}/v1.0/$metadata#driveItem",
            "@microsoft.graph.downloadUrl": self.download_url,
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "webUrl": self.web_url,
            "createdDateTime": "2026-11-25T09:00:00Z",
            "lastModifiedDateTime": "2026-11-25T09:00:00Z",
            "file": {"mimeType": self.mime_type, "hashes": {"quickXorHash": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}},
            "parentReference": {
                "driveType": "documentLibrary",
                "driveId": "b!fakeDrive",
                "path": "/drive/root:/General",
            },
        }


@dataclass(slots=True)
class _Log:
    requests: list[str] = field(default_factory=list)  # path and query of every authorized request
    rejected: list[Rejection] = field(default_factory=list)


class FakeGraph(LocalServer):
    """Graph at `url` (`…/v1.0/`). Every request needs a bearer token `identity` issued for
    https://graph.microsoft.com (a Bot Framework token is refused). `page_size` members per page,
    the rest behind `@odata.nextLink` ($skiptoken). `down` answers 503; groups in `refused` answer
    403 (the team did not grant TeamMember.Read.Group); unknown groups 404. Shared files are the
    `add_drive_item`s, found by their `webUrl` encoded as Graph's share id; `files_refused` answers
    403 `accessDenied` (the app lacks Files.ReadWrite.All), unknown URLs 404 `itemNotFound`. Refusals of bad
    tokens and unknown groups are recorded in `rejected`."""

    def __init__(self, identity: FakeIdentity, *, page_size: int = 100) -> None:
        super().__init__()
        self.identity = identity
        self.page_size = page_size
        self.down = False
        self.refused: set[str] = set()
        self.log = _Log()
        self.files_refused = False
        self._teams: dict[str, list[GraphMember]] = {}
        self._items: dict[str, DriveItem] = {}  # by webUrl
        self.app.router.add_get("/v1.0/teams/{teamId}/members", self._members)
        self.app.router.add_get("/v1.0/shares/{shareId}/driveItem", self._shared_item)

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1.0/"

    @property
    def rejected(self) -> list[Rejection]:
        return self.log.rejected

    def settings_overrides(self) -> dict[str, str]:
        return {"MICROSOFT_GRAPH_URL": self.url}

    def add_member(self, group_id: str, member: GraphMember) -> None:
        self._teams.setdefault(group_id, []).append(member)

    def add_drive_item(self, item: DriveItem) -> None:
        self._items[item.web_url] = item

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response(
            {"error": {"code": code, "message": message, "innerError": {"request-id": "fake"}}},
            status=status,
        )

    def _reject(self, request: web.Request, status: int, code: str, reason: str) -> web.Response:
        self.log.rejected.append(Rejection(request.method, request.path, status, reason))
        return self._error(status, code, reason)

    def _authorize(self, request: web.Request) -> web.Response | None:
        """None when the request may go on; else the answer (bad token, or Graph is down)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self._reject(request, 401, "InvalidAuthenticationToken", "Access token is empty.")
        try:
            self.identity.verify_outbound(token.strip(), audience=GRAPH_AUDIENCE)
        except jwt.PyJWTError as exc:
            return self._reject(request, 401, "InvalidAuthenticationToken", f"invalid token: {exc}")
        self.log.requests.append(request.path_qs)
        if self.down:
            return self._error(503, "ServiceNotAvailable", "The service is temporarily unavailable.")
        return None

    async def _shared_item(self, request: web.Request) -> web.Response:
        refused = self._authorize(request)
        if refused is not None:
            return refused
        if self.files_refused:
            return self._error(
                403, "accessDenied", "Either scp or roles claim need to be present in the token."
            )
        share = request.match_info["shareId"]
        try:
            if not share.startswith("u!"):
                raise ValueError(share)
            encoded = share.removeprefix("u!")
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return self._reject(request, 400, "invalidRequest", "Invalid shares key.")
        item = self._items.get(url)
        if item is None:
            return self._error(404, "itemNotFound", "The resource could not be found.")
        return web.json_response(item.to_json(self.base_url))

    async def _members(self, request: web.Request) -> web.Response:
        refused = self._authorize(request)
        if refused is not None:
            return refused
        group_id = request.match_info["teamId"]
        if group_id in self.refused:
            return self._error(403, "Forbidden", "Missing role permissions on the request.")
        members = self._teams.get(group_id)
        if members is None:
            return self._reject(request, 404, "NotFound", "No team found with Group Id " + group_id)
        raw_skip = request.query.get("$skiptoken", "0")
        start = int(raw_skip) if raw_skip.isdigit() else 0
        end = start + self.page_size
        body: Json = {
            "@odata.context": f"{self.base_url}/v1.0/$metadata#teams('{group_id}')/members",
            "@odata.count": len(members),
            "value": [m.to_json(group_id) for m in members[start:end]],
        }
        if end < len(members):
            body["@odata.nextLink"] = f"{self.base_url}/v1.0/teams/{group_id}/members?$skiptoken={end}"
        return web.json_response(body)
