"""Inbound Bot Framework token validation and the POST /api/messages handler.

The SDK's own validator (`JwtTokenValidator`, used by `jwt_authorization_middleware`) hard-codes the
JWKS URL per issuer (login.botframework.com for https://api.botframework.com), leaves the issuer check
opt-in and compares only the host of the `serviceurl` claim, and only when an OutboundHostValidator is
enabled. So validation happens here, with pyjwt, and the verified claims are handed to the SDK as the
request's `claims_identity` — exactly what its middleware would have set.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt
from aiohttp import web
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import Agent
from microsoft_agents.hosting.core.authorization import ClaimsIdentity
from yarl import URL

from bot.teams.config import TeamsAuthConfig
from bot.teams.jwks import JwksCache, JwksUnavailableError

log = logging.getLogger(__name__)

# The SDK reads the claims from the request under the plain string key "claims_identity", so this module
# must store them there; aiohttp's advice to use a web.RequestKey (NotAppKeyWarning) cannot be taken.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module=__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MESSAGES_PATH = "/api/messages"


class TeamsAuthError(Exception):
    """The request is not from the Bot Framework for this bot; the message says why (for logs only)."""


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise TeamsAuthError("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        raise TeamsAuthError("Authorization header is not 'Bearer <token>'")
    return token


def _same_service_url(claimed: object, actual: object) -> bool:
    if not isinstance(claimed, str) or not isinstance(actual, str) or not claimed or not actual:
        return False
    try:
        a, b = URL(claimed.strip()), URL(actual.strip())
    except ValueError:
        return False
    if not a.absolute or not b.absolute:
        return False
    return (a.scheme.lower(), (a.host or "").lower(), a.port, a.path.rstrip("/")) == (
        b.scheme.lower(),
        (b.host or "").lower(),
        b.port,
        b.path.rstrip("/"),
    )


class BotFrameworkTokenValidator:
    """Checks signature (JWKS), issuer, audience, expiry, channel endorsement and `serviceurl`."""

    def __init__(self, config: TeamsAuthConfig, jwks: JwksCache | None = None) -> None:
        self._config = config
        self._jwks = jwks or JwksCache(
            config.jwks_url,
            ttl=config.jwks_ttl_seconds,
            min_refresh=config.jwks_min_refresh_seconds,
            timeout=config.http_timeout_seconds,
        )

    async def verify_token(self, authorization: str | None) -> tuple[dict[str, Any], frozenset[str] | None]:
        """The verified claims and the signing key's endorsements; raises TeamsAuthError."""
        token = _bearer(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TeamsAuthError(f"malformed token: {type(exc).__name__}") from None
        kid = header.get("kid")
        if header.get("alg") != "RS256" or not isinstance(kid, str):
            raise TeamsAuthError("token is not RS256 with a kid")
        key = await self._jwks.get(kid)
        if key is None:
            raise TeamsAuthError(f"unknown signing key {kid!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self._config.app_id,
                issuer=list(self._config.issuers),
                leeway=self._config.clock_skew_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise TeamsAuthError(f"token rejected: {type(exc).__name__}: {exc}") from None
        return claims, key.endorsements

    @staticmethod
    def check_activity(
        claims: Mapping[str, Any], endorsements: frozenset[str] | None, activity: Mapping[str, Any]
    ) -> None:
        """The activity must come from the service the token was issued for."""
        if not _same_service_url(claims.get("serviceurl"), activity.get("serviceUrl")):
            raise TeamsAuthError("serviceurl claim does not match the activity's serviceUrl")
        channel = activity.get("channelId")
        if endorsements is not None and channel not in endorsements:
            raise TeamsAuthError(f"signing key is not endorsed for channel {channel!r}")


def _unauthorized() -> web.Response:
    return web.json_response({"error": "Invalid token or authentication failed."}, status=401)


def messages_route(adapter: CloudAdapter, agent: Agent, validator: BotFrameworkTokenValidator) -> Handler:
    """The aiohttp handler for POST /api/messages: validate, then `adapter.process(request, agent)`.

    Every request is validated; there is no anonymous mode. 401 for any token problem, 400 for a body
    that is not a JSON object, 503 when the signing keys cannot be fetched at all.
    """

    async def handle(request: web.Request) -> web.StreamResponse:
        authorization = request.headers.get("Authorization")
        try:
            claims, endorsements = await validator.verify_token(authorization)
        except TeamsAuthError as exc:
            log.warning("teams: rejected request from %s: %s", request.remote, exc)
            return _unauthorized()
        except JwksUnavailableError as exc:
            log.error("teams: %s", exc)
            return web.json_response({"error": "Signing keys unavailable."}, status=503)
        try:
            activity = await request.json()
        except ValueError:
            return web.json_response({"error": "Body is not JSON."}, status=400)
        if not isinstance(activity, dict):
            return web.json_response({"error": "Body is not an activity."}, status=400)
        try:
            validator.check_activity(claims, endorsements, activity)
        except TeamsAuthError as exc:
            log.warning("teams: rejected activity from %s: %s", request.remote, exc)
            return _unauthorized()
        request["claims_identity"] = ClaimsIdentity(
            claims, authentication_type="Bearer", security_token=_bearer(authorization)
        )
        response = await adapter.process(request, agent)
        return response if response is not None else web.Response(status=202)

    return handle


def add_teams_routes(
    app: web.Application,
    adapter: CloudAdapter,
    agent: Agent,
    validator: BotFrameworkTokenValidator,
    path: str = MESSAGES_PATH,
) -> None:
    """Mount the Teams door on an existing aiohttp application (POST only)."""
    app.router.add_post(path, messages_route(adapter, agent, validator))
