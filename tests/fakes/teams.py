"""Local stand-ins for Microsoft: the Bot Framework identity (OpenID metadata, JWKS, Entra token
endpoint), the Bot Connector and Microsoft Graph (team owners), plus builders for the activities
Teams sends.

Kept honest by /work/shared/fixtures/teams: every activity the bot sends to FakeConnector, and every
activity the builders make, is validated against botframework/activity.schema.json; the connector's
routes are the ones of botframework-channel.swagger.json that the bot uses.

    async with FakeIdentity(app_id=..., app_password=..., tenant_id=...) as identity, \\
            FakeConnector(identity) as connector:
        settings = load_settings(**identity.settings_overrides())
        token = identity.mint(app_id, service_url=connector.service_url)
"""

from __future__ import annotations

from tests.fakes.teams_activities import (
    ADA,
    FILE_DOWNLOAD_INFO,
    GRACE,
    GROUP_CHAT_ID,
    ActivityFactory,
    TeamsUser,
)
from tests.fakes.teams_base import (
    ACTIVITY_SCHEMA,
    Json,
    activity_errors,
    connector_shape_errors,
    validate_activity,
)
from tests.fakes.teams_connector import (
    CHANNEL_ID,
    TEAM_ID,
    FakeConnector,
    Rejection,
    SentActivity,
    TeamsMember,
)
from tests.fakes.teams_graph import GRAPH_AUDIENCE, DriveItem, FakeGraph, GraphMember
from tests.fakes.teams_identity import (
    BOTFRAMEWORK_AUDIENCE,
    BOTFRAMEWORK_ISSUER,
    ENTRA_KID,
    SIGNING_KID,
    FakeIdentity,
)
from tests.support.shared import FIXTURES

__all__ = [
    "ACTIVITY_SCHEMA",
    "ADA",
    "BOTFRAMEWORK_AUDIENCE",
    "BOTFRAMEWORK_ISSUER",
    "CHANNEL_ID",
    "ENTRA_KID",
    "FILE_DOWNLOAD_INFO",
    "FIXTURES",
    "GRACE",
    "GRAPH_AUDIENCE",
    "GROUP_CHAT_ID",
    "SIGNING_KID",
    "TEAM_ID",
    "ActivityFactory",
    "DriveItem",
    "FakeConnector",
    "FakeGraph",
    "FakeIdentity",
    "GraphMember",
    "Json",
    "Rejection",
    "SentActivity",
    "TeamsMember",
    "TeamsUser",
    "activity_errors",
    "connector_shape_errors",
    "validate_activity",
]
