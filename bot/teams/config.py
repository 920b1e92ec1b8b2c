"""What the Teams door needs to know about its Entra app and the Bot Framework, derived from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.settings import Settings, SettingsError

BOTFRAMEWORK_ISSUER = "https://api.botframework.com"
BOTFRAMEWORK_SCOPE = "https://api.botframework.com/.default"
GRAPH_URL = "https://graph.microsoft.com/v1.0/"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True, slots=True)
class TeamsAuthConfig:
    """Inbound token rules and outbound client-credentials identity of the bot.

    Inbound: a Bot Framework JWT signed by a key of `jwks_url`, issued by one of `issuers`, for
    audience `app_id`, not expired (with `clock_skew_seconds` leeway), whose `serviceurl` claim equals the
    activity's `serviceUrl`. Outbound: client credentials (`app_id` / `app_password`) against
    `authority` (tenant included), i.e. POST `{authority}/oauth2/v2.0/token`. Microsoft Graph (team
    owners) at `graph_url` with an app-only token for `GRAPH_SCOPE` from the same credentials.
    """

    app_id: str
    app_password: str = field(repr=False)
    tenant_id: str
    authority: str
    jwks_url: str
    issuers: tuple[str, ...] = (BOTFRAMEWORK_ISSUER,)
    clock_skew_seconds: int = 300
    jwks_ttl_seconds: int = 24 * 3600
    jwks_min_refresh_seconds: int = 60
    http_timeout_seconds: float = 10.0
    graph_url: str = GRAPH_URL

    @classmethod
    def from_settings(cls, settings: Settings) -> TeamsAuthConfig:
        if not settings.microsoft_app_id:
            raise SettingsError("MICROSOFT_APP_ID is not set: the Teams door is disabled")
        if settings.microsoft_app_password is None or not settings.microsoft_app_tenant_id:
            raise SettingsError("MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID are required for Teams")
        return cls(
            app_id=settings.microsoft_app_id,
            app_password=settings.microsoft_app_password.get_secret_value(),
            tenant_id=settings.microsoft_app_tenant_id,
            authority=settings.teams_authority.rstrip("/"),
            jwks_url=settings.microsoft_jwks_url,
            graph_url=settings.microsoft_graph_url,
        )

    @property
    def token_endpoint(self) -> str:
        """The Entra v2 token endpoint of the single tenant the bot lives in."""
        return f"{self.authority.rstrip('/')}/oauth2/v2.0/token"
