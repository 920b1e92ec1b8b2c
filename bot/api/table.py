"""The route table: every endpoint with its scope and pydantic models (the OpenAPI document's source)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from bot.api.problems import Problem
from handlers.context import Context
from handlers.ports import Actor
from handlers.principals import Directory, viewer_for
from handlers.search import Viewer
from handlers.tokens import TokenInfo

PREFIX = "/api/v1"


@dataclass(frozen=True, slots=True)
class Reply:
    body: BaseModel | None = None  # None: 204 No Content
    status: int | None = None  # default: the endpoint's status
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Call:
    """One authorized call: the token, its validated inputs and, on demand, its viewer."""

    request: web.Request
    ctx: Context
    token: TokenInfo
    directory: Directory
    params: BaseModel | None
    query: BaseModel | None
    body: BaseModel | None
    _viewer: Viewer | None = None

    async def viewer(self) -> Viewer:
        if self._viewer is None:
            self._viewer = await viewer_for(self.ctx, token=self.token, directory=self.directory)
        return self._viewer

    @property
    def actor(self) -> Actor:
        return Actor(self.token.platform, self.token.actor_id, self.token.name)

    def params_as[M: BaseModel](self, model: type[M]) -> M:
        return _as(self.params, model)

    def query_as[M: BaseModel](self, model: type[M]) -> M:
        return _as(self.query, model)

    def body_as[M: BaseModel](self, model: type[M]) -> M:
        return _as(self.body, model)

    async def require_admin(self) -> Viewer:
        """The `admin` scope on a service token, or on a user-bound token whose user is an admin."""
        viewer = await self.viewer()
        if not viewer.is_admin:
            raise Problem(403, "Only an admin token (and, for a user's token, an admin user) may do this.")
        return viewer


def _as[M: BaseModel](value: BaseModel | None, model: type[M]) -> M:
    if not isinstance(value, model):
        raise TypeError(f"expected {model.__name__}, got {type(value).__name__}")
    return value


Handler = Callable[[Call], Awaitable[Reply | BaseModel | None]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # below PREFIX, aiohttp style: /media/{media_id}
    operation_id: str
    summary: str
    tag: str
    handler: Handler
    scope: str | None  # None: any valid token
    response: type[BaseModel] | None  # None: 204
    status: int = 200
    params: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()  # besides 401, 403, 429 and the validation ones
    description: str = ""

    @property
    def url(self) -> str:
        return PREFIX + self.path
