"""The REST door: a sub-application at /api/v1 with token auth, scopes, rate limits and problem+json."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ValidationError
from slack_sdk.web.async_client import AsyncWebClient

from bot import health
from bot.api import docs, media, people, tokens, uploads
from bot.api.directory import ChatDirectory
from bot.api.limiter import RateLimiter
from bot.api.openapi import document
from bot.api.problems import Problem, problem_response
from bot.api.table import PREFIX, Call, Endpoint, Reply
from handlers.context import Context
from handlers.principals import Directory, NoDirectory
from handlers.tokens import TokenInfo, verify_token

log = logging.getLogger(__name__)

ENDPOINTS: tuple[Endpoint, ...] = tokens.ENDPOINTS + media.ENDPOINTS + uploads.ENDPOINTS + people.ENDPOINTS
TOKEN = web.RequestKey("api_token", TokenInfo)
MAX_BODY = 1024 * 1024
PUBLIC = frozenset({f"{PREFIX}/openapi.json", f"{PREFIX}/docs"})

WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _errors(exc: ValidationError) -> list[dict[str, object]]:
    return [
        {"loc": [str(part) for part in error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]


def _validate(model: type[BaseModel] | None, data: object, *, status: int, what: str) -> BaseModel | None:
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        if status == 404:
            raise Problem(404, "Nothing here: check the ids in the path.") from None
        raise Problem(status, f"The {what} is not valid.", errors=_errors(exc)) from None


async def _body(endpoint: Endpoint, request: web.Request) -> BaseModel | None:
    model = endpoint.body
    if model is None:
        return None
    raw = await request.read()
    if not raw.strip():
        data: Any = {}
    else:
        kind = request.content_type
        if kind != "application/json" and not kind.endswith("+json"):
            raise Problem(415, "Send the body as application/json.")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise Problem(400, "The body is not valid JSON.") from None
    return _validate(model, data, status=422, what="body")


def _query(endpoint: Endpoint, request: web.Request) -> BaseModel | None:
    if endpoint.query is None:
        return None
    known = endpoint.query.model_fields
    data = {key: request.query.getone(key) for key in request.query if key in known}
    return _validate(endpoint.query, data, status=422, what="query")


class ApiDoor:
    """Always open. `limiter` may be replaced (tests); `document` is what /openapi.json serves."""

    def __init__(
        self, *, endpoints: Sequence[Endpoint] = ENDPOINTS, limiter: RateLimiter | None = None
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.limiter = limiter or RateLimiter()
        self.document = document(self.endpoints)
        self.directory: Directory = NoDirectory()
        self._docs_html = docs.render(self.document)

    def add_routes(self, app: web.Application, ctx: Context, *, slack: AsyncWebClient | None = None) -> None:
        self.directory = ChatDirectory(slack)
        api = web.Application(middlewares=[self._middleware(ctx)], client_max_size=MAX_BODY)
        api[health.CONTEXT] = ctx
        api.router.add_get("/openapi.json", self._openapi)
        api.router.add_get("/docs", self._docs)
        for endpoint in self.endpoints:
            api.router.add_route(endpoint.method, endpoint.path, self._handler(endpoint, ctx))
        app.add_subapp(PREFIX, api)

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(self.document)

    async def _docs(self, request: web.Request) -> web.Response:
        return web.Response(text=self._docs_html, content_type="text/html")

    def _middleware(self, ctx: Context) -> Middleware:
        @web.middleware
        async def guard(request: web.Request, handler: WebHandler) -> web.StreamResponse:
            try:
                if request.path not in PUBLIC:
                    token = await self._authenticate(ctx, request)
                    wait = self.limiter.take(str(token.id))
                    if wait > 0:
                        raise Problem(
                            429,
                            "Too many calls with this token; slow down.",
                            headers={"Retry-After": RateLimiter.retry_after(wait)},
                        )
                    request[TOKEN] = token
                return await handler(request)
            except Problem as problem:
                return problem_response(problem, instance=request.path)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
                return problem_response(
                    Problem(exc.status, exc.reason, headers=headers), instance=request.path
                )
            except Exception:
                log.exception("api call failed", extra={"path": request.path, "method": request.method})
                return problem_response(
                    Problem(500, "Something went wrong; an admin can find details in the logs."),
                    instance=request.path,
                )

        return guard

    @staticmethod
    async def _authenticate(ctx: Context, request: web.Request) -> TokenInfo:
        challenge = {"WWW-Authenticate": 'Bearer realm="facetag"'}
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Problem(401, "Send an API token: Authorization: Bearer ft_…", headers=challenge)
        token = await verify_token(ctx.db, secret=secret.strip())
        if token is None:
            raise Problem(401, "This token is unknown or was revoked.", headers=challenge)
        return token

    def _handler(self, endpoint: Endpoint, ctx: Context) -> WebHandler:
        async def handle(request: web.Request) -> web.StreamResponse:
            token = request[TOKEN]
            if endpoint.scope is not None and not token.allows(endpoint.scope):
                raise Problem(403, f"This token lacks the {endpoint.scope} scope.")
            params = _validate(endpoint.params, dict(request.match_info), status=404, what="path")
            query = _query(endpoint, request)
            body = await _body(endpoint, request)
            call = Call(
                request=request,
                ctx=ctx,
                token=token,
                directory=self.directory,
                params=params,
                query=query,
                body=body,
            )
            result = await endpoint.handler(call)
            reply = result if isinstance(result, Reply) else Reply(result)
            if reply.body is None:
                return web.Response(status=204, headers=reply.headers)
            return web.Response(
                status=reply.status or endpoint.status,
                body=reply.body.model_dump_json().encode("utf-8"),
                content_type="application/json",
                headers=reply.headers,
            )

        return handle
