"""The Teams door's security boundary: every incoming token is validated against a local JWKS, and
the bot's outbound token comes from the (fake) single-tenant authority."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from microsoft_agents.activity import AdaptiveCardInvokeResponse, AdaptiveCardInvokeValue
from microsoft_agents.hosting.core import ActivityHandler, TurnContext

from bot.teams.adapter import agent_auth_configuration, build_teams_adapter
from bot.teams.auth import BotFrameworkTokenValidator, add_teams_routes
from bot.teams.config import TeamsAuthConfig
from bot.teams.jwks import JwksCache
from bot.teams.outbound import ClientCredentialsTokenProvider, TokenAcquisitionError
from storage.settings import load_settings
from tests.fakes.teams import (
    ADA,
    BOTFRAMEWORK_AUDIENCE,
    GRACE,
    SIGNING_KID,
    ActivityFactory,
    FakeConnector,
    FakeIdentity,
    activity_errors,
    connector_shape_errors,
    validate_activity,
)

APP_ID = "3f2b8c1d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
TENANT_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
APP_PASSWORD = "fake-client-secret~not-a-real-one"

# The SDK reads request["claims_identity"] with a str key; aiohttp ignores this warning outside pytest.


class EchoBot(ActivityHandler):
    """Test-only agent: echoes messages, answers Action.Execute with its verb."""

    async def on_message_activity(self, turn_context: TurnContext) -> None:  # type: ignore[override]
        await turn_context.send_activity(f"echo: {turn_context.activity.text}")

    async def on_adaptive_card_invoke(  # type: ignore[override]
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        return AdaptiveCardInvokeResponse(
            status_code=200, type="application/vnd.microsoft.activity.message", value=invoke_value.action.verb
        )


@dataclass
class Harness:
    identity: FakeIdentity
    connector: FakeConnector
    client: TestClient[web.Request, web.Application]
    activities: ActivityFactory

    def token(self, **overrides: Any) -> str:
        kwargs: dict[str, Any] = {"service_url": self.connector.service_url}
        kwargs.update(overrides)
        return self.identity.mint(kwargs.pop("audience", APP_ID), **kwargs)

    async def post(self, activity: dict[str, Any], authorization: str | None) -> aiohttp.ClientResponse:
        headers = {"Authorization": authorization} if authorization is not None else {}
        return await self.client.post("/api/messages", json=activity, headers=headers)


@pytest_asyncio.fixture(loop_scope="session")
async def teams() -> AsyncIterator[Harness]:
    async with (
        FakeIdentity(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT_ID) as identity,
        FakeConnector(identity) as connector,
    ):
        config = TeamsAuthConfig.from_settings(load_settings(**identity.settings_overrides()))
        app = web.Application()
        add_teams_routes(app, build_teams_adapter(config), EchoBot(), BotFrameworkTokenValidator(config))
        async with TestClient(TestServer(app)) as client:
            yield Harness(
                identity, connector, client, ActivityFactory(connector.service_url, APP_ID, TENANT_ID)
            )


# --------------------------------------------------------------------------- accepted


async def test_valid_token_reaches_bot_and_reply_carries_outbound_token(teams: Harness) -> None:
    activity = teams.activities.personal_message("hello")
    response = await teams.post(activity, f"Bearer {teams.token()}")
    assert response.status in (200, 202), await response.text()

    [reply] = teams.connector.sent
    assert reply.kind == "reply"
    assert reply.reply_to == activity["id"]
    assert reply.conversation_id == activity["conversation"]["id"]
    assert reply.activity["text"] == "echo: hello"
    assert reply.token_claims["appid"] == APP_ID
    assert reply.token_claims["aud"] == BOTFRAMEWORK_AUDIENCE
    assert reply.token_claims["tid"] == TENANT_ID
    assert teams.connector.rejected == []

    [request] = teams.identity.token_requests
    assert request == {
        "grant_type": "client_credentials",
        "client_id": APP_ID,
        "scope": "https://api.botframework.com/.default",
    }


async def test_outbound_token_and_signing_keys_are_cached(teams: Harness) -> None:
    for text in ("one", "two", "three"):
        response = await teams.post(teams.activities.personal_message(text), f"Bearer {teams.token()}")
        assert response.status == 202
    assert [s.activity["text"] for s in teams.connector.sent] == ["echo: one", "echo: two", "echo: three"]
    assert len(teams.identity.token_requests) == 1
    assert teams.identity.jwks_fetches == 1


async def test_channel_mention_is_accepted(teams: Harness) -> None:
    activity = teams.activities.channel_mention("tag these", user=GRACE)
    response = await teams.post(activity, f"Bearer {teams.token()}")
    assert response.status == 202
    [reply] = teams.connector.sent
    assert reply.conversation_id == activity["conversation"]["id"]


async def test_invoke_is_answered_synchronously(teams: Harness) -> None:
    activity = teams.activities.card_action(
        "face_confirm", {"face_id": "f-1", "aad_object_id": ADA.aad_object_id}
    )
    response = await teams.post(activity, f"Bearer {teams.token()}")
    assert response.status == 200
    body = await response.json()
    assert body == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "face_confirm",
    }


# --------------------------------------------------------------------------- rejected


def _minted(**overrides: Any) -> dict[str, Any]:
    return overrides


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("wrong audience", _minted(audience="00000000-0000-4000-8000-000000000000")),
        ("botframework as audience", _minted(audience=BOTFRAMEWORK_AUDIENCE)),
        ("wrong issuer", _minted(issuer="https://sts.windows.net/evil/")),
        ("expired", _minted(expires_in=-3600)),
        ("unknown key", _minted(kid="not-in-the-jwks")),
        ("serviceurl elsewhere", _minted(service_url="https://smba.trafficmanager.net/amer/")),
        ("serviceurl other port", _minted(service_url="http://127.0.0.1:1/amer/")),
        ("serviceurl other path", _minted(service_url="SAME_HOST/emea/")),
        ("no serviceurl claim", _minted(service_url=None)),
    ],
)
async def test_bad_tokens_are_rejected(teams: Harness, case: str, overrides: dict[str, Any]) -> None:
    service_url = overrides.get("service_url")
    if isinstance(service_url, str) and service_url.startswith("SAME_HOST"):
        overrides["service_url"] = teams.connector.base_url + service_url.removeprefix("SAME_HOST")
    response = await teams.post(teams.activities.personal_message("hi"), f"Bearer {teams.token(**overrides)}")
    assert response.status == 401, case
    assert teams.connector.sent == []
    assert teams.identity.token_requests == []


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Bearer a b"],
)
async def test_missing_or_malformed_authorization_is_rejected(
    teams: Harness, authorization: str | None
) -> None:
    response = await teams.post(teams.activities.personal_message("hi"), authorization)
    assert response.status == 401
    assert teams.connector.sent == []


async def test_unsigned_and_symmetric_tokens_are_rejected(teams: Harness) -> None:
    claims = {"iss": "https://api.botframework.com", "aud": APP_ID, "exp": int(time.time()) + 600}
    claims["serviceurl"] = teams.connector.service_url
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"kid": SIGNING_KID})
    hmac = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": SIGNING_KID})
    for token in (unsigned, hmac):
        response = await teams.post(teams.activities.personal_message("hi"), f"Bearer {token}")
        assert response.status == 401


async def test_key_not_endorsed_for_channel_is_rejected(teams: Harness) -> None:
    activity = teams.activities.personal_message("hi")
    activity["channelId"] = "webchat"
    response = await teams.post(activity, f"Bearer {teams.token()}")
    assert response.status == 401


async def test_valid_token_with_non_json_body_is_400(teams: Harness) -> None:
    headers = {"Authorization": f"Bearer {teams.token()}", "Content-Type": "application/json"}
    response = await teams.client.post("/api/messages", data=b"{not json", headers=headers)
    assert response.status == 400


# --------------------------------------------------------------------------- pieces


async def test_jwks_cache_refreshes_on_unknown_kid_at_most_once_per_interval() -> None:
    async with FakeIdentity(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT_ID) as identity:
        cache = JwksCache(identity.jwks_url, ttl=3600, min_refresh=3600)
        assert (await cache.get(SIGNING_KID)) is not None
        assert (await cache.get(SIGNING_KID)) is not None
        assert (await cache.get("forged-1")) is None
        assert (await cache.get("forged-2")) is None
        assert identity.jwks_fetches == 1

        eager = JwksCache(identity.jwks_url, ttl=3600, min_refresh=0)
        assert (await eager.get("forged")) is None
        assert (await eager.get("forged")) is None
        assert identity.jwks_fetches == 3


async def test_wrong_client_secret_is_reported_without_the_secret() -> None:
    async with FakeIdentity(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT_ID) as identity:
        overrides = identity.settings_overrides() | {"MICROSOFT_APP_PASSWORD": "a-wrong-secret-value"}
        config = TeamsAuthConfig.from_settings(load_settings(**overrides))
        provider = ClientCredentialsTokenProvider(agent_auth_configuration(config))
        with pytest.raises(TokenAcquisitionError, match="invalid_client") as caught:
            await provider.get_access_token(BOTFRAMEWORK_AUDIENCE, [])
        assert "a-wrong-secret-value" not in str(caught.value)
        assert identity.token_requests[0]["scope"] == "https://api.botframework.com/.default"


def test_config_comes_from_settings() -> None:
    settings = load_settings(
        MICROSOFT_APP_ID=APP_ID, MICROSOFT_APP_PASSWORD=APP_PASSWORD, MICROSOFT_APP_TENANT_ID=TENANT_ID
    )
    config = TeamsAuthConfig.from_settings(settings)
    assert config.token_endpoint == f"https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token"
    assert config.jwks_url == "https://login.botframework.com/v1/.well-known/keys"
    assert config.issuers == ("https://api.botframework.com",)
    assert APP_PASSWORD not in repr(config)


# --------------------------------------------------------------------------- fakes and builders


async def test_builders_make_schema_valid_activities(teams: Harness) -> None:
    factory = teams.activities
    image_url = teams.connector.attachment_url(teams.connector.add_attachment(b"\x89PNG fake"))
    download_url = teams.connector.add_download(b"jpeg bytes")
    built = [
        factory.personal_message("hi"),
        factory.inline_image_message(image_url),
        factory.file_message(download_url),
        factory.channel_mention("look"),
        factory.card_action("face_confirm", {"face_id": "f1", "aad_object_id": ADA.aad_object_id}),
        factory.card_action("face_reject", {"face_id": "f1", "aad_object_id": ADA.aad_object_id}),
        factory.card_action(
            "face_identify", {"face_id": "f1"}, inputs={"person_select": GRACE.aad_object_id}
        ),
        factory.search_query("ada", skip=25, count=25),
    ]
    for activity in built:
        validate_activity(activity)
    assert built[2]["attachments"][0]["content"]["downloadUrl"] == download_url
    assert built[6]["value"]["action"]["data"] == {"face_id": "f1", "person_select": GRACE.aad_object_id}
    assert built[7]["value"]["queryOptions"] == {"skip": 25, "count": 25}
    assert activity_errors({"type": "message"})  # the schema does bite


async def test_connector_serves_attachments_only_with_the_bot_token(teams: Harness) -> None:
    connector = teams.connector
    url = connector.attachment_url(connector.add_attachment(b"\x89PNG fake", "image/png"))
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as anonymous:
            assert anonymous.status == 401
        token = await _bot_token(teams)
        async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as authorized:
            assert authorized.status == 200
            assert authorized.content_type == "image/png"
            assert await authorized.read() == b"\x89PNG fake"


async def test_download_url_is_pre_authenticated_and_refuses_tokens(teams: Harness) -> None:
    connector = teams.connector
    url = connector.add_download(b"jpeg bytes", "photo.jpg")
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as plain:
            assert plain.status == 200
            assert await plain.read() == b"jpeg bytes"
        async with session.get(url, headers={"Authorization": "Bearer x"}) as leaked:
            assert leaked.status == 401
        expired = connector.add_download(b"old", expires_in=-1)
        async with session.get(expired) as gone:
            assert gone.status == 403


async def test_connector_roster_and_schema_checks(teams: Harness) -> None:
    connector = teams.connector
    conversation = teams.activities.channel_conversation()["id"]
    connector.add_member(conversation, ADA.member(TENANT_ID))
    connector.add_member(conversation, GRACE.member(TENANT_ID))
    token = await _bot_token(teams)
    auth = {"Authorization": f"Bearer {token}"}
    base = f"{connector.service_url}v3/conversations/{conversation}"
    async with aiohttp.ClientSession(headers=auth) as session:
        async with session.get(f"{base}/pagedmembers", params={"pageSize": "1"}) as first:
            page = await first.json()
        assert connector_shape_errors("PagedMembersResult", page) == []
        assert [m["aadObjectId"] for m in page["members"]] == [ADA.aad_object_id]
        assert page["members"][0]["email"] == ADA.email
        token = page["continuationToken"]
        async with session.get(f"{base}/pagedmembers", params={"continuationToken": token}) as second:
            last = await second.json()
        assert connector_shape_errors("PagedMembersResult", last) == []
        assert [m["aadObjectId"] for m in last["members"]] == [GRACE.aad_object_id]
        assert "continuationToken" not in last
        async with session.get(f"{base}/pagedmembers", params={"continuationToken": token}) as reused:
            assert reused.status == 400
        async with session.get(f"{base}/members") as unpaged:
            assert unpaged.status == 404  # throttled to 5 calls a minute in Teams: not served here
        async with session.get(f"{base}/members/{GRACE.aad_object_id}") as one:
            assert (await one.json())["name"] == GRACE.name
        async with session.get(f"{base}/members/29:nobody") as missing:
            assert missing.status == 404
        async with session.post(f"{base}/activities", json={"type": "message", "text": "no channel"}) as bad:
            assert bad.status == 400
        sent = {"type": "message", "channelId": "msteams", "conversation": {"id": conversation}, "text": "v1"}
        async with session.post(f"{base}/activities", json=sent) as created:
            new_id = (await created.json())["id"]
        async with session.put(f"{base}/activities/{new_id}", json=sent | {"text": "v2"}) as updated:
            assert updated.status == 200
        async with session.put(f"{base}/activities/999", json=sent) as unknown:
            assert unknown.status == 404
    assert connector.activity(conversation, new_id) == sent | {"text": "v2"}
    assert [s.kind for s in connector.sent] == ["send", "update"]


async def _bot_token(teams: Harness) -> str:
    config = TeamsAuthConfig.from_settings(load_settings(**teams.identity.settings_overrides()))
    provider = ClientCredentialsTokenProvider(agent_auth_configuration(config))
    return await provider.get_access_token(BOTFRAMEWORK_AUDIENCE, [])


async def test_sdk_connector_client_fetches_inline_images_under_the_service_url_prefix(
    teams: Harness,
) -> None:
    from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

    attachment_id = teams.connector.add_attachment(b"\x89PNG via sdk")
    client = TeamsConnectorClient(endpoint=teams.connector.service_url, token=await _bot_token(teams))
    try:
        # AttachmentsBase declares get_attachment() without arguments; the concrete one returns BytesIO
        attachments: Any = client.attachments
        data = await attachments.get_attachment(attachment_id, "original")
    finally:
        await client.close()
    assert data.read() == b"\x89PNG via sdk"
    assert teams.connector.log.attachment_fetches == [attachment_id]
