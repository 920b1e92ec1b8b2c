"""The bot's outbound token: OAuth2 client credentials against a single-tenant Entra authority.

Replaces `microsoft-agents-authentication-msal` (not a dependency): MSAL insists on an https authority
and performs instance discovery against login.microsoftonline.com, so it cannot be pointed at a local
token endpoint in tests. The protocol is one form POST, so it is done here with aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from microsoft_agents.hosting.core.authorization import AccessTokenProviderBase, AgentAuthConfiguration

log = logging.getLogger(__name__)

_REFRESH_MARGIN_SECONDS = 300


class TokenAcquisitionError(RuntimeError):
    """The authority refused to issue a token; carries the OAuth error code, never the secret."""


@dataclass(frozen=True, slots=True)
class _Cached:
    token: str
    expires_at: float  # epoch seconds


def token_endpoint(config: AgentAuthConfiguration) -> str:
    authority = config.AUTHORITY or f"https://login.microsoftonline.com/{config.TENANT_ID}"
    return f"{authority.rstrip('/')}/oauth2/v2.0/token"


class ClientCredentialsTokenProvider(AccessTokenProviderBase):
    """`AccessTokenProviderBase` for the SDK's ConnectionManager, with an in-memory token cache."""

    def __init__(self, config: AgentAuthConfiguration, *, timeout: float = 10.0) -> None:
        if not (config.CLIENT_ID and config.CLIENT_SECRET):
            raise ValueError("client credentials need CLIENT_ID and CLIENT_SECRET")
        self._config = config
        self._endpoint = token_endpoint(config)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._cache: dict[tuple[str, ...], _Cached] = {}
        self._lock = asyncio.Lock()

    @property
    def configuration(self) -> AgentAuthConfiguration:
        return self._config

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        wanted = tuple(scopes or [f"{resource_url.rstrip('/')}/.default"])
        return (await self.acquire(wanted, force_refresh)).token

    async def acquire(self, scopes: tuple[str, ...], force_refresh: bool = False) -> AccessToken:
        async with self._lock:
            cached = self._cache.get(scopes)
            if cached and not force_refresh and cached.expires_at - _REFRESH_MARGIN_SECONDS > time.time():
                return AccessToken(cached.token, int(cached.expires_at))
            fresh = await self._request(scopes)
            self._cache[scopes] = fresh
            return AccessToken(fresh.token, int(fresh.expires_at))

    async def _request(self, scopes: tuple[str, ...]) -> _Cached:
        form = {
            "grant_type": "client_credentials",
            "client_id": str(self._config.CLIENT_ID),
            "client_secret": str(self._config.CLIENT_SECRET),
            "scope": " ".join(scopes),
        }
        async with (
            aiohttp.ClientSession(timeout=self._timeout) as session,
            session.post(self._endpoint, data=form, headers={"Accept": "application/json"}) as response,
        ):
            try:
                body: Any = await response.json(content_type=None)
            except ValueError:
                body = {}
            status = response.status
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            code = body.get("error", "no_token") if isinstance(body, dict) else "no_token"
            raise TokenAcquisitionError(f"token endpoint {self._endpoint} answered {status}: {code}")
        expires_in = float(body.get("expires_in", 3599))
        log.debug("teams: acquired an outbound token for %s", " ".join(scopes))
        return _Cached(body["access_token"], time.time() + expires_in)

    def get_token_credential(self) -> AsyncTokenCredential:
        return _ProviderCredential(self)

    # On-behalf-of and agentic identities are not used by facetag's single-tenant bot.
    async def acquire_token_on_behalf_of(self, scopes: list[str], user_assertion: str) -> str:
        raise NotImplementedError("on-behalf-of tokens are not supported")

    async def get_agentic_application_token(self, tenant_id: str, agent_app_instance_id: str) -> str | None:
        raise NotImplementedError("agentic identities are not supported")

    async def get_agentic_instance_token(self, tenant_id: str, agent_app_instance_id: str) -> tuple[str, str]:
        raise NotImplementedError("agentic identities are not supported")

    async def get_agentic_user_token(
        self, tenant_id: str, agent_app_instance_id: str, agentic_user_id: str, scopes: list[str]
    ) -> str | None:
        raise NotImplementedError("agentic identities are not supported")


class _ProviderCredential:
    """An `azure.core` AsyncTokenCredential over the provider (for SDK clients that want one)."""

    def __init__(self, provider: ClientCredentialsTokenProvider) -> None:
        self._provider = provider

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return await self._provider.acquire(tuple(scopes))

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> _ProviderCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        return None
