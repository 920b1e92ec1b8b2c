"""Team owners moderate their team's channels in Teams — real app, real stack, with the Bot Framework
identity, the connector and Microsoft Graph faked locally (every token checked): an owner lists,
finds, approves and rejects the pending media of their team's channels and nothing else; plain
members cannot; when Graph cannot be read, owners are treated as members and nothing breaks."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from PIL import Image

from bot.teams.activities import Address, address
from bot.teams.config import TeamsAuthConfig
from bot.teams.connector import Connector
from bot.teams.graph import Graph
from bot.teams.owners import TeamOwners
from bot.teams.package import render_manifest
from storage.models import MediaStatus
from storage.settings import Settings, load_settings
from tests.fakes.teams import (
    ADA,
    CHANNEL_ID,
    GRACE,
    GROUP_CHAT_ID,
    TEAM_ID,
    ActivityFactory,
    FakeConnector,
    FakeGraph,
    FakeIdentity,
    GraphMember,
    TeamsUser,
)
from tests.support.app import run_app
from tests.test_teams_scenarios import APP_ID, APP_PASSWORD, CARD, TENANT_ID, TeamsScenario, teams_settings
from tests.test_teams_search import (
    LIN,
    MESSAGE,
    Json,
    card_actions,
    card_media,
    card_of,
    extension,
    forget_viewers,
    found,
    media_in,
    personal_chat,
    say,
    status_of,
)

TEAM_B = "19:team-design@thread.tacv2"
CHANNEL_B = "19:design-channel@thread.tacv2"
GROUP_A = "5b8c1f0e-2d3a-4c5b-9e6f-7a8b9c0d1e2a"  # Entra group of TEAM_ID
GROUP_B = "6c9d2a1f-3e4b-4d6c-8f7a-8b9c0d1e2f3b"  # Entra group of TEAM_B
MAX = TeamsUser("29:1max-planck", "Max Planck", "7e3b9f21-0c4d-4e5f-9a6b-4c5d6e7f8a04", "max@contoso.example")
NOT_ADMIN = "Only facetag admins"


@dataclass
class OwnersScenario(TeamsScenario):
    graph: FakeGraph


@asynccontextmanager
async def owners_scenario(settings: Settings) -> AsyncIterator[OwnersScenario]:
    """The Teams harness of test_teams_scenarios plus a fake Graph (two members a page)."""
    async with (
        FakeIdentity(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT_ID) as identity,
        FakeConnector(identity) as connector,
        FakeGraph(identity, page_size=2) as graph,
    ):
        configured = teams_settings(settings, identity, connector)
        async with run_app(configured.model_copy(update={"microsoft_graph_url": graph.url})) as app:
            factory = ActivityFactory(connector.service_url, APP_ID, TENANT_ID)
            yield OwnersScenario(identity, connector, app, factory, graph)
        assert connector.rejected == [], connector.rejected
        assert graph.rejected == [], graph.rejected


def graph_member(user: TeamsUser, *, owner: bool = False) -> GraphMember:
    return GraphMember(user.aad_object_id, user.name, user.email, TENANT_ID, owner=owner)


def seed_team_a(s: OwnersScenario) -> None:
    """Team A: Ada and Lin are members, Grace and Max own it (Grace on Graph's second page)."""
    for user in (ADA, GRACE, LIN, MAX):
        s.connector.add_member(TEAM_ID, user.member(TENANT_ID))
    s.connector.add_team(TEAM_ID, GROUP_A, "General")
    for member in (
        graph_member(ADA),
        graph_member(MAX, owner=True),
        graph_member(LIN),
        graph_member(GRACE, owner=True),
    ):
        s.graph.add_member(GROUP_A, member)


def photo(index: int) -> bytes:
    image = Image.new("RGB", (320, 240), (40 + index * 50 % 200, 200 - index * 30 % 180, index * 17 % 256))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


async def share_in_team(
    s: TeamsScenario,
    data: bytes,
    root: str,
    *,
    team_id: str = TEAM_ID,
    channel_id: str = CHANNEL_ID,
    aad_group_id: str | None = None,
) -> None:
    url = s.connector.attachment_url(s.connector.add_attachment(data, "image/jpeg"))
    message = s.factory.channel_mention(
        "for the album",
        user=ADA,
        attachments=[{"contentType": "image/jpeg", "contentUrl": url}],
        root=root,
        team_id=team_id,
        channel_id=channel_id,
        aad_group_id=aad_group_id,
    )
    message["id"] = root
    assert (await s.post(message)).status == 202


async def decide(s: OwnersScenario, verb: str, media_id: uuid.UUID, user: TeamsUser) -> Json:
    return await s.invoke(s.factory.card_action(verb, {"media_id": str(media_id)}, user=user))


# --------------------------------------------------------------------------- scenarios


async def test_team_owners_moderate_their_teams_channels_only(settings: Settings) -> None:
    async with owners_scenario(settings) as s:
        seed_team_a(s)
        # Team B: Ada owns it, Grace is a member; its group id comes with the activity.
        s.connector.add_channel(TEAM_B, CHANNEL_B)
        s.connector.add_member(TEAM_B, ADA.member(TENANT_ID))
        s.connector.add_member(TEAM_B, GRACE.member(TENANT_ID))
        s.graph.add_member(GROUP_B, graph_member(ADA, owner=True))
        s.graph.add_member(GROUP_B, graph_member(GRACE))
        for user in (ADA, GRACE):
            s.connector.add_member(GROUP_CHAT_ID, user.member(TENANT_ID))

        await share_in_team(s, photo(1), "1700000000101")
        await share_in_team(s, photo(2), "1700000000102")
        await share_in_team(
            s, photo(3), "1700000000103", team_id=TEAM_B, channel_id=CHANNEL_B, aad_group_id=GROUP_B
        )
        pasted = s.connector.attachment_url(s.connector.add_attachment(photo(4), "image/jpeg"))
        assert (await s.post(s.factory.group_image_message(pasted, "prep", user=ADA))).status == 202
        own = s.factory.file_message(s.connector.add_download(photo(5), "mine.jpg"), "mine.jpg", user=ADA)
        assert (await s.post(own)).status == 202
        await s.app.idle()
        team_a = await media_in(s, CHANNEL_ID)
        [in_b] = await media_in(s, CHANNEL_B)
        [in_group] = await media_in(s, GROUP_CHAT_ID)
        [adas] = await media_in(s, personal_chat(s, ADA))
        assert len(team_a) == 2
        for media_id in (*team_a, in_b, in_group, adas):
            assert await status_of(s, media_id) == MediaStatus.pending

        # Grace owns team A (not in FACETAG_ADMINS): her pending list is its channel's media only.
        listed = card_of((await say(s, s.factory.personal_message("pending", user=GRACE))).activity)
        assert set(card_media(listed)) == team_a
        assert any("$skiptoken=" in r for r in s.graph.log.requests)  # Graph's second page was read
        assert s.connector.log.team_lookups == [TEAM_ID]  # team B's group id came with its activity
        assert set(found(await extension(s, GRACE, "is:pending"))) == team_a
        searched = await say(s, s.factory.personal_message("search is:pending", user=GRACE))
        assert set(card_media(card_of(searched.activity))) == team_a

        # Not team B's (she is only a member there), the group chat's, nor Ada's personal chat's.
        for other in (in_b, in_group, adas):
            refused = await decide(s, "media_approve", other, GRACE)
            assert refused["type"] == MESSAGE
            assert NOT_ADMIN in refused["value"]
            assert await status_of(s, other) == MediaStatus.pending

        # Ada owns team B: her list is team B's photo (the group id from channelData.team.aadGroupId).
        adas_list = card_of((await say(s, s.factory.personal_message("pending", user=ADA))).activity)
        assert card_media(adas_list) == [in_b]

        # Lin is a plain member of team A: no list, no search, no buttons.
        refused_list = await say(s, s.factory.personal_message("pending", user=LIN))
        assert NOT_ADMIN in refused_list.activity["text"]
        assert (await extension(s, LIN, "is:pending"))["type"] == "message"
        forged = await decide(s, "media_approve", next(iter(team_a)), LIN)
        assert NOT_ADMIN in forged["value"]

        # Grace approves one and rejects the other from her list.
        first, second = card_media(listed)
        [approve] = [a for a in card_actions(listed, "media_approve") if a["data"]["media_id"] == str(first)]
        answered = await s.invoke(s.factory.card_action("media_approve", approve["data"], user=GRACE))
        assert answered["type"] == CARD
        assert "Approved" in answered["value"]["body"][0]["text"]
        assert card_media(answered["value"]) == [second]
        await s.app.idle()
        assert await status_of(s, first) == MediaStatus.approved
        answered = await decide(s, "media_reject", second, GRACE)
        assert "Rejected" in answered["value"]["body"][0]["text"]
        assert card_media(answered["value"]) == []
        assert await status_of(s, second) is None

        # The approved photo is in the library for the team's members.
        forget_viewers(s)
        assert found(await extension(s, LIN, "")) == [first]


async def test_owners_are_members_while_graph_is_down(settings: Settings) -> None:
    async with owners_scenario(settings) as s:
        seed_team_a(s)
        await share_in_team(s, photo(6), "1700000000201")
        await s.app.idle()
        [pending] = await media_in(s, CHANNEL_ID)

        s.graph.down = True
        refused = await say(s, s.factory.personal_message("pending", user=GRACE))
        assert NOT_ADMIN in refused.activity["text"]
        assert (await extension(s, GRACE, "is:pending"))["type"] == "message"
        assert found(await extension(s, GRACE, "")) == []  # searching still works
        forged = await decide(s, "media_approve", pending, GRACE)
        assert NOT_ADMIN in forged["value"]
        assert await status_of(s, pending) == MediaStatus.pending
        assert s.graph.log.requests  # it was asked, and failed

        # Graph is back: nothing of the failure was cached.
        s.graph.down = False
        listed = card_of((await say(s, s.factory.personal_message("pending", user=GRACE))).activity)
        assert card_media(listed) == [pending]


# --------------------------------------------------------------------------- pieces (no app)


def _channel(team_id: str, service_url: str, aad_group_id: str | None = None) -> Address:
    activity = ActivityFactory(service_url, APP_ID, TENANT_ID).channel_mention(
        "hi", team_id=team_id, aad_group_id=aad_group_id
    )
    return address(activity)


async def test_owner_lookups_page_cache_and_fail_closed() -> None:
    async with (
        FakeIdentity(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT_ID) as identity,
        FakeConnector(identity) as connector,
        FakeGraph(identity, page_size=1) as graph,
    ):
        config = TeamsAuthConfig(
            app_id=APP_ID,
            app_password=APP_PASSWORD,
            tenant_id=TENANT_ID,
            authority=identity.authority,
            jwks_url=identity.jwks_url,
            graph_url=graph.url,
        )
        now = [0.0]
        bot = Connector(config)
        client = Graph(config, bot)
        owners = TeamOwners(bot, client, ttl=60.0, clock=lambda: now[0])
        try:
            connector.add_team(TEAM_ID, GROUP_A)
            for member in (graph_member(ADA), graph_member(GRACE, owner=True), graph_member(MAX, owner=True)):
                graph.add_member(GROUP_A, member)
            team_a = _channel(TEAM_ID, connector.service_url)
            assert await owners.of(team_a) == frozenset({GRACE.aad_object_id, MAX.aad_object_id})
            assert len(graph.log.requests) == 3  # one member a page
            assert await owners.of(team_a) == frozenset({GRACE.aad_object_id, MAX.aad_object_id})
            assert len(graph.log.requests) == 3  # cached
            assert connector.log.team_lookups == [TEAM_ID]

            # Graph down: unknown (None), not cached; a refusal (no RSC grant): no owners, cached.
            now[0] = 61.0
            graph.down = True
            assert await owners.of(team_a) is None
            assert await owners.of(team_a) is None
            graph.down = False
            graph.refused.add(GROUP_A)
            asked = len(graph.log.requests)
            assert await owners.of(team_a) == frozenset()
            assert await owners.of(team_a) == frozenset()
            assert len(graph.log.requests) == asked + 1

            # A team the connector knows nothing about, a chat: no owners, Graph not asked.
            asked = len(graph.log.requests)
            assert await owners.of(_channel(TEAM_B, connector.service_url)) == frozenset()
            chat = address(ActivityFactory(connector.service_url, APP_ID, TENANT_ID).personal_message("hi"))
            assert await owners.of(chat) == frozenset()
            assert len(graph.log.requests) == asked

            # The group id carried by the activity saves the connector call.
            graph.add_member(GROUP_B, graph_member(ADA, owner=True))
            team_c = _channel("19:team-c@thread.tacv2", connector.service_url, GROUP_B)
            assert await owners.of(team_c) == frozenset({ADA.aad_object_id})
            assert connector.log.team_lookups == [TEAM_ID, TEAM_B]
        finally:
            await bot.close()
        assert graph.rejected == []


async def test_graph_refuses_a_bot_framework_token() -> None:
    import aiohttp

    async with (
        FakeIdentity(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT_ID) as identity,
        FakeGraph(identity) as graph,
    ):
        async with aiohttp.ClientSession() as session:
            form = {
                "grant_type": "client_credentials",
                "client_id": APP_ID,
                "client_secret": APP_PASSWORD,
                "scope": "https://api.botframework.com/.default",
            }
            async with session.post(f"{identity.authority}/oauth2/v2.0/token", data=form) as response:
                token = (await response.json())["access_token"]
            url = f"{graph.url}teams/{GROUP_A}/members"
            async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 401
        assert [r.status for r in graph.rejected] == [401]


def test_manifest_asks_teams_for_their_members() -> None:
    manifest = render_manifest(
        load_settings(
            MICROSOFT_APP_ID=APP_ID,
            MICROSOFT_APP_PASSWORD=APP_PASSWORD,
            MICROSOFT_APP_TENANT_ID=TENANT_ID,
            FACETAG_PUBLIC_URL="https://photos.contoso.example",
        )
    )
    rsc = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert {"name": "TeamMember.Read.Group", "type": "Application"} in rsc
    assert manifest["webApplicationInfo"]["id"] == APP_ID


def test_graph_url_setting() -> None:
    assert load_settings(_env_file=None).microsoft_graph_url == "https://graph.microsoft.com/v1.0/"
    custom = load_settings(_env_file=None, MICROSOFT_GRAPH_URL="https://graph.microsoft.us/v1.0")
    assert custom.microsoft_graph_url == "https://graph.microsoft.us/v1.0/"
