"""The SDK's CloudAdapter, wired to our client-credentials provider and a quiet turn-error handler."""

from __future__ import annotations

import logging

from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.authorization import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    ConnectionManager,
)

from bot.teams.config import TeamsAuthConfig
from bot.teams.outbound import ClientCredentialsTokenProvider

log = logging.getLogger(__name__)

SERVICE_CONNECTION = "SERVICE_CONNECTION"


def agent_auth_configuration(config: TeamsAuthConfig) -> AgentAuthConfiguration:
    """The SDK's view of our single-tenant app registration (used for outbound tokens only)."""
    return AgentAuthConfiguration(
        client_id=config.app_id,
        tenant_id=config.tenant_id,
        client_secret=config.app_password,
        authority=config.authority,
        connection_name=SERVICE_CONNECTION,
        anonymous_allowed=False,
    )


async def _on_turn_error(context: TurnContext, error: Exception) -> None:
    # The SDK default prints the traceback and sends "Exception caught : <error>" to the user.
    log.error("teams: turn failed", exc_info=error)
    try:
        await context.send_activity("Sorry, something went wrong.")
    except Exception:  # the connector may be what failed
        log.warning("teams: could not tell the user about the failed turn", exc_info=True)


def build_teams_adapter(config: TeamsAuthConfig) -> CloudAdapter:
    """A CloudAdapter whose connector clients carry a token from `config.authority` (client credentials)."""
    timeout = config.http_timeout_seconds

    def provider(conf: AgentAuthConfiguration) -> AccessTokenProviderBase:
        return ClientCredentialsTokenProvider(conf, timeout=timeout)

    connections = ConnectionManager(
        provider, connections_configurations={SERVICE_CONNECTION: agent_auth_configuration(config)}
    )
    adapter = CloudAdapter(connection_manager=connections)
    adapter.on_turn_error = _on_turn_error
    return adapter
