"""Fake Bot Framework identity: OpenID metadata, JWKS, and an Entra client-credentials token endpoint."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jwt
from aiohttp import web
from jwt.algorithms import RSAAlgorithm

from tests.fakes.teams_base import Json, LocalServer, fixed_rsa_key

BOTFRAMEWORK_ISSUER = "https://api.botframework.com"
BOTFRAMEWORK_AUDIENCE = "https://api.botframework.com"
SIGNING_KID = "fake-botframework-1"
ENTRA_KID = "fake-entra-1"

# --------------------------------------------------------------------------- identity


class FakeIdentity(LocalServer):
    """Bot Framework OpenID metadata + JWKS (incoming tokens) and an Entra v2 token endpoint
    (`/<tenant>/oauth2/v2.0/token`, client_credentials) whose tokens `verify_outbound` checks."""

    def __init__(
        self,
        *,
        app_id: str,
        app_password: str,
        tenant_id: str,
        endorsements: Sequence[str] = ("msteams",),
    ) -> None:
        super().__init__()
        self.app_id, self.app_password, self.tenant_id = app_id, app_password, tenant_id
        self.endorsements = list(endorsements)
        self._signing_key = fixed_rsa_key("botframework")  # published in the JWKS under SIGNING_KID
        self._rogue_key = fixed_rsa_key("rogue")  # never published: signs tokens with any other kid
        self._entra_key = fixed_rsa_key("entra")  # signs outbound (bot -> connector) tokens
        self.jwks_fetches = 0
        self.token_requests: list[dict[str, str]] = []  # forms received, secret removed
        self.issued_tokens: list[str] = []
        self.app.router.add_get("/v1/.well-known/openidconfiguration", self._openid)
        self.app.router.add_get("/v1/.well-known/keys", self._jwks)
        self.app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)

    # -- addresses
    @property
    def openid_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/keys"

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    def settings_overrides(self) -> dict[str, str]:
        """Settings aliases that point facetag's Teams door at this fake."""
        return {
            "MICROSOFT_APP_ID": self.app_id,
            "MICROSOFT_APP_PASSWORD": self.app_password,
            "MICROSOFT_APP_TENANT_ID": self.tenant_id,
            "MICROSOFT_AUTHORITY": self.authority,
            "MICROSOFT_JWKS_URL": self.jwks_url,
        }

    # -- incoming (channel -> bot) tokens
    def mint(
        self,
        audience: str,
        *,
        issuer: str = BOTFRAMEWORK_ISSUER,
        service_url: str | None,
        expires_in: int = 3600,
        kid: str = SIGNING_KID,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A Bot Framework channel token. `kid` other than SIGNING_KID signs with an unpublished key."""
        now = int(time.time())
        claims: Json = {
            "iss": issuer,
            "aud": audience,
            "iat": min(now, now + expires_in) - 5,
            "nbf": min(now, now + expires_in) - 5,
            "exp": now + expires_in,
        }
        if service_url is not None:
            claims["serviceurl"] = service_url
        claims.update(extra_claims or {})
        key = self._signing_key if kid == SIGNING_KID else self._rogue_key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    async def _openid(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": BOTFRAMEWORK_ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        jwk = RSAAlgorithm.to_jwk(self._signing_key.public_key(), as_dict=True)
        assert isinstance(jwk, dict)
        jwk.update({"kid": SIGNING_KID, "use": "sig", "endorsements": self.endorsements})
        return web.json_response({"keys": [jwk]})

    # -- outbound (bot -> connector) tokens
    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})

        def oauth_error(status: int, error: str, description: str) -> web.Response:
            return web.json_response({"error": error, "error_description": description}, status=status)

        if request.match_info["tenant"] != self.tenant_id:
            return oauth_error(400, "invalid_request", "AADSTS90002: Tenant not found.")
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant type.")
        if form.get("client_id") != self.app_id:
            return oauth_error(400, "unauthorized_client", "AADSTS700016: Application not found.")
        if not secrets.compare_digest(form.get("client_secret", ""), self.app_password):
            return oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        scope = form.get("scope", "")
        if " " in scope.strip() or not scope.endswith("/.default"):
            return oauth_error(400, "invalid_scope", "AADSTS1002012: client_credentials needs one /.default")
        now = int(time.time())
        token = jwt.encode(
            {
                "aud": scope.removesuffix("/.default"),
                "iss": f"https://sts.windows.net/{self.tenant_id}/",
                "appid": self.app_id,
                "tid": self.tenant_id,
                "ver": "1.0",
                "iat": now,
                "nbf": now,
                "exp": now + 3599,
            },
            self._entra_key,
            algorithm="RS256",
            headers={"kid": ENTRA_KID},
        )
        self.issued_tokens.append(token)
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )

    def verify_outbound(self, token: str, audience: str = BOTFRAMEWORK_AUDIENCE) -> Json:
        """Claims of a token this fake issued to the bot; raises jwt.PyJWTError otherwise."""
        claims: Json = jwt.decode(
            token,
            self._entra_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            issuer=f"https://sts.windows.net/{self.tenant_id}/",
        )
        if claims.get("appid") != self.app_id:
            raise jwt.InvalidTokenError("token was issued to another app")
        return claims
