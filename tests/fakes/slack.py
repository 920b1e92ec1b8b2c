"""A faithful fake of the Slack Web API for tests, served on 127.0.0.1 for the real slack_sdk client.

    async with FakeSlack() as slack:
        alice = slack.add_user("alice", is_admin=True)
        photos = slack.add_channel("photos", members=[alice.id])
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)

Errors are HTTP 200 with `ok: false`, as Slack answers; required arguments and scopes come from the
recorded slack-api-ref fixtures (see `slack_spec`). Every call is recorded (`calls()`). Socket Mode
(`apps.connections.open` with `app_token`, then a WebSocket) is `socket` (see `slack_socket`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml
from aiohttp import web

from tests.fakes.slack_methods_chat import HANDLERS as CHAT
from tests.fakes.slack_methods_files import HANDLERS as FILES
from tests.fakes.slack_methods_info import HANDLERS as INFO
from tests.fakes.slack_methods_views import HANDLERS as VIEWS
from tests.fakes.slack_payloads import SlackPayloads
from tests.fakes.slack_records import Call, Download, Knobs, Outage, UploadPost
from tests.fakes.slack_request import ApiRequest, Handler, missing_scope
from tests.fakes.slack_routes import SideRoutes
from tests.fakes.slack_socket import SocketModeSide
from tests.fakes.slack_spec import MethodSpec, method_spec, missing_argument_error
from tests.fakes.slack_state import Workspace
from tests.fakes.slack_workspace import Channel, File, Message, SlackError, User

HANDLERS: dict[str, Handler] = {**INFO, **CHAT, **FILES, **VIEWS}
SERVED_METHODS = tuple(HANDLERS)
APPS_CONNECTIONS_OPEN = "apps.connections.open"  # Socket Mode (tests.fakes.slack_socket)
MANIFEST = Path(__file__).resolve().parents[2] / "manifest" / "slack.yaml"
MAX_BODY = 256 * 1024 * 1024


def manifest_bot_scopes(path: Path = MANIFEST) -> set[str]:
    """The bot scopes the shipped manifest asks for: what an install of the app grants."""
    manifest = yaml.safe_load(path.read_text())
    return set(manifest["oauth_config"]["scopes"]["bot"])


class FakeSlack:
    def __init__(
        self,
        *,
        signing_secret: str = "fake-signing-secret-0123456789abcdef",  # noqa: S107 - a test fake
        team_id: str = "T0FACETAG01",
        team_domain: str = "facetag-test",
        bot_scopes: set[str] | None = None,
    ) -> None:
        self.signing_secret = signing_secret
        self.ws = Workspace(
            team_id=team_id,
            team_domain=team_domain,
            bot_scopes=set(manifest_bot_scopes() if bot_scopes is None else bot_scopes),
        )
        self.knobs = Knobs()
        self.side = SideRoutes(self.ws, self.knobs)
        self.socket = SocketModeSide(self.ws)
        self.payloads = SlackPayloads(self.ws, signing_secret)
        self.call_log: list[Call] = []
        self.undocumented_errors: list[tuple[str, str]] = []  # (method, error) the reference does not list
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.add_routes(
            [web.route("*", "/api/{method}", self._api), *self.side.routes(), *self.socket.routes()]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.ws.base_url = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self.socket.close()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ---- identities -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.ws.base_url

    @property
    def api_url(self) -> str:
        """The value for SLACK_API_URL / AsyncWebClient(base_url=...)."""
        return f"{self.ws.base_url}/api/"

    @property
    def file_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def bot_token(self) -> str:
        return self.ws.bot_token

    @property
    def app_token(self) -> str:
        """The app-level token (`xapp-…`, `connections:write`): SLACK_APP_TOKEN for Socket Mode."""
        return self.socket.app_token

    @property
    def bot_user_id(self) -> str:
        return self.ws.bot_user.id

    @property
    def bot_id(self) -> str:
        return self.ws.bot_id

    @property
    def app_id(self) -> str:
        return self.ws.app_id

    @property
    def team_id(self) -> str:
        return self.ws.team_id

    @property
    def bot_scopes(self) -> set[str]:
        """Mutable: discard a scope to simulate an install that lacks it."""
        return self.ws.bot_scopes

    # ---- population (see Workspace for all arguments) -----------------------------------------

    def add_user(self, name: str, **kwargs: Any) -> User:
        return self.ws.add_user(name, **kwargs)

    def add_channel(self, name: str, **kwargs: Any) -> Channel:
        return self.ws.add_channel(name, **kwargs)

    def add_im(self, user_id: str) -> Channel:
        return self.ws.add_im(user_id)

    def add_mpim(self, members: list[str], *, bot_member: bool = True) -> Channel:
        return self.ws.add_mpim(members, bot_member=bot_member)

    def add_file(self, user_id: str, name: str, data: bytes, **kwargs: Any) -> File:
        return self.ws.add_file(user_id, name, data, **kwargs)

    # ---- inspection ---------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        return [c for c in self.call_log if method is None or c.method == method]

    def messages_in(self, channel_id: str, thread_ts: str | None = None) -> list[Message]:
        """Messages now in a conversation (updates applied, deletions gone); a thread with `thread_ts`."""
        return self.ws.messages_in(channel_id, thread_ts)

    def replies(self, channel_id: str, thread_ts: str) -> list[Message]:
        return [m for m in self.ws.messages_in(channel_id, thread_ts) if m.ts != thread_ts]

    def ephemerals_in(self, channel_id: str) -> list[dict[str, Any]]:
        return list(self.ws.ephemerals.get(channel_id, []))

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        view_id = self.ws.home_views.get(user_id)
        return None if view_id is None else self.ws.views[view_id].to_api()

    def response_url_posts(self, url: str) -> list[dict[str, Any]]:
        return list(self.ws.response_urls[url.rstrip("/").rsplit("/", 1)[-1]].posts)

    @property
    def downloads(self) -> list[Download]:
        return self.side.downloads

    @property
    def upload_posts(self) -> list[UploadPost]:
        return self.side.upload_posts

    # ---- knobs --------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: int = 1,
        error: str | None = None,
    ) -> None:
        """Fail the next `times` calls of `method` ("files-pri" for file downloads): HTTP 429 with
        Retry-After, another HTTP status (500, 503), or with `error` an HTTP 200 `ok: false` answer."""
        outage = Outage(
            status=200 if error else status, remaining=times, retry_after=retry_after, error=error
        )
        self.knobs.outages.setdefault(method, []).append(outage)

    def delay(self, method: str, seconds: float) -> None:
        """Answer `method` (or "files-pri") only after `seconds`."""
        self.knobs.delays[method] = seconds

    # ---- the Web API --------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        outage = self.knobs.take_outage(method)
        await asyncio.sleep(self.knobs.delays.get(method, 0.0))
        query, body, token, parse_error = await _parse(request)
        if outage is not None:
            failure = outage.body()
            self.call_log.append(Call(method, {**query, **body.args}, failure or {}, outage.status))
            headers = {"Retry-After": str(outage.retry_after)} if outage.status == 429 else {}
            if failure is None:
                return web.Response(status=outage.status, text="Internal Server Error", headers=headers)
            return web.json_response(failure, status=outage.status, headers=headers)
        handler = HANDLERS.get(method)
        args = dict(query)
        if method == APPS_CONNECTIONS_OPEN:  # the one method for the app-level token
            response = self._open_connection(token)
            self.call_log.append(Call(method, args, response))
            return web.json_response(response)
        try:
            if handler is None:
                raise SlackError("unknown_method")
            if parse_error:
                raise SlackError(parse_error)
            spec = method_spec(method)
            if body.json is None or spec.json_input:  # methods without JSON support ignore a JSON body
                args.update(body.args)
            self._authorize(spec, token, args)
            response = handler(
                ApiRequest(self.ws, method, args, set(self.ws.bot_scopes), self.ws.bot_user.id)
            )
        except SlackError as err:
            response = {"ok": False, "error": err.code, **err.extra}
            if handler is not None and err.code not in method_spec(method).errors:
                self.undocumented_errors.append((method, err.code))
        self.call_log.append(Call(method, args, response))
        return web.json_response(response)

    def _open_connection(self, token: str | None) -> dict[str, Any]:
        try:
            if not token:
                raise SlackError("not_authed")
            if token not in (self.socket.app_token, self.ws.bot_token):
                raise SlackError("invalid_auth")
            return self.socket.open_connection(token)
        except SlackError as err:
            return {"ok": False, "error": err.code, **err.extra}

    def _authorize(self, spec: MethodSpec, token: str | None, args: dict[str, Any]) -> None:
        if not token:
            raise SlackError("not_authed")
        if token == self.socket.app_token:
            raise SlackError("not_allowed_token_type")
        if token != self.ws.bot_token:
            raise SlackError("invalid_auth")
        scopes = self.ws.bot_scopes
        if spec.per_conversation_type:
            if not set(spec.bot_scopes) & scopes:
                raise missing_scope(spec.bot_scopes, scopes)
        else:
            lacking = [s for s in spec.bot_scopes if s not in scopes]
            if lacking:
                raise missing_scope(lacking, scopes)
        for arg in spec.required:
            if args.get(arg) in (None, ""):
                code = missing_argument_error(spec.name, arg)
                if code == "invalid_arguments":
                    raise SlackError(
                        code, response_metadata={"messages": [f"[ERROR] missing required field: {arg}"]}
                    )
                raise SlackError(code)


@dataclass(slots=True)
class _Body:
    args: dict[str, Any] = field(default_factory=dict)
    json: bool | None = None  # None: no JSON body


async def _parse(request: web.Request) -> tuple[dict[str, Any], _Body, str | None, str | None]:
    """Query arguments, body arguments, the token (the header wins) and a body-format error code."""
    query: dict[str, Any] = dict(request.query)
    body = _Body()
    parse_error: str | None = None
    if request.method == "POST" and request.body_exists:
        ctype = request.content_type
        if ctype == "application/json":
            try:
                data = await request.json()
            except ValueError:
                data = None
            if isinstance(data, dict):
                body = _Body(args=data, json=True)
            else:
                parse_error = "invalid_form_data"
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            body.args = {k: v for k, v in form.items() if isinstance(v, str)}
        elif ctype == "application/octet-stream" and not request.headers.get("Content-Type"):
            parse_error = "missing_post_type"
        else:
            parse_error = "invalid_post_type"
    token: str | None = None
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        token = auth.removeprefix("Bearer ").strip()
    elif body.json is None:  # Slack ignores a token inside a JSON body: it must be in the header
        token = body.args.get("token") or query.get("token")
    query.pop("token", None)
    body.args.pop("token", None)
    return query, body, token, parse_error
