"""Photos shared in Teams become faces, cards and people — real app, real stack, real pixels, with the
Bot Framework identity and connector faked locally (every token checked, every activity schema-validated)."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.teams.activities import shared_files
from bot.teams.cards import MAX_CARD_BYTES, card_size, media_card
from handlers.ports import FaceView, MediaView, PersonView
from storage.models import Face, FaceState, Media, Sighting
from storage.settings import Settings
from tests.fakes.teams import (
    ADA,
    CHANNEL_ID,
    GRACE,
    TEAM_ID,
    ActivityFactory,
    FakeConnector,
    FakeIdentity,
    SentActivity,
    validate_activity,
)
from tests.support.app import RunningApp, run_app
from tests.support.slack import face_photo

APP_ID = "3f2b8c1d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
TENANT_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
APP_PASSWORD = "fake-client-secret~not-a-real-one"
CARD = "application/vnd.microsoft.card.adaptive"

OBAMA = "face_recognition/examples/knn_examples/train/obama/obama.jpg"
OBAMA_2 = "face_recognition/examples/knn_examples/train/obama/obama2.jpg"
OBAMA_3 = "face_recognition/examples/knn_examples/test/obama1.jpg"
BIDEN = "face_recognition/examples/knn_examples/train/biden/biden.jpg"
GROUP = "dlib/examples/faces/2008_002079.jpg"  # six faces

Json = dict[str, Any]


# --------------------------------------------------------------------------- harness


@dataclass
class TeamsScenario:
    identity: FakeIdentity
    connector: FakeConnector
    app: RunningApp
    factory: ActivityFactory

    async def post(self, activity: Json, token: str | None = None) -> aiohttp.ClientResponse:
        validate_activity(activity)
        token = token or self.identity.mint(APP_ID, service_url=self.connector.service_url)
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                f"{self.app.url}/api/messages", json=activity, headers={"Authorization": f"Bearer {token}"}
            )
            await response.read()
            return response

    async def invoke(self, activity: Json) -> Json:
        response = await self.post(activity)
        assert response.status == 200, await response.text()
        body: Json = await response.json()
        return body

    def cards(self, reply_to: str) -> list[SentActivity]:
        """The bot's card replies to one message (first post of each)."""
        return [
            s
            for s in self.connector.sent
            if s.kind == "reply" and s.reply_to == reply_to and _card_of(s.activity) is not None
        ]

    def current(self, sent: SentActivity) -> Json:
        """The card of a posted activity after all updates."""
        latest = self.connector.activity(sent.conversation_id, sent.activity_id)
        assert latest is not None
        card = _card_of(latest)
        assert card is not None
        return card

    def in_channel(self, activity: Json, root: str) -> Json:
        """Move an activity (e.g. a card action) into the photos channel's reply chain."""
        activity["conversation"] = self.factory.channel_conversation(root)
        activity["channelData"] = {
            "tenant": {"id": TENANT_ID},
            "teamsChannelId": CHANNEL_ID,
            "teamsTeamId": TEAM_ID,
            "channel": {"id": CHANNEL_ID},
            "team": {"id": TEAM_ID},
        }
        return activity


def _card_of(activity: Json) -> Json | None:
    for attachment in activity.get("attachments") or []:
        if attachment.get("contentType") == CARD:
            content: Json = attachment["content"]
            return content
    return None


def teams_settings(settings: Settings, identity: FakeIdentity, connector: FakeConnector) -> Settings:
    host = connector.base_url.removeprefix("http://")
    return settings.model_copy(
        update={
            "microsoft_app_id": APP_ID,
            "microsoft_app_password": SecretStr(APP_PASSWORD),
            "microsoft_app_tenant_id": TENANT_ID,
            "microsoft_authority": identity.authority,
            "microsoft_jwks_url": identity.jwks_url,
            "teams_file_hosts": f"{host},*.sharepoint.com",
        }
    )


@asynccontextmanager
async def teams_scenario(settings: Settings) -> AsyncIterator[TeamsScenario]:
    async with (
        FakeIdentity(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT_ID) as identity,
        FakeConnector(identity) as connector,
        run_app(teams_settings(settings, identity, connector)) as app,
    ):
        factory = ActivityFactory(connector.service_url, APP_ID, TENANT_ID)
        yield TeamsScenario(identity, connector, app, factory)
        assert connector.rejected == [], connector.rejected


def faces_of(card: Json) -> list[Json]:
    return [
        b for b in card["body"] if b.get("type") == "Container" and str(b.get("id", "")).startswith("face-")
    ]


def texts(block: Json) -> str:
    return " ".join(i["text"] for i in block["items"] if i.get("type") == "TextBlock")


def actions(block: Json) -> list[Json]:
    found: list[Json] = []
    for item in block["items"]:
        if item.get("type") == "ActionSet":
            found.extend(item["actions"])
    return found


def action(block: Json, verb: str) -> Json:
    return next(a for a in actions(block) if a["verb"] == verb)


def mentioned(card: Json) -> set[str]:
    return {e["mentioned"]["id"] for e in card.get("msteams", {}).get("entities", [])}


# --------------------------------------------------------------------------- scenarios


async def test_inline_image_and_paperclip_file_become_cards(settings: Settings) -> None:
    async with teams_scenario(settings) as s:
        attachment_id = s.connector.add_attachment(face_photo(OBAMA), "image/jpeg", "obama.jpg")
        inline = s.factory.inline_image_message(
            s.connector.attachment_url(attachment_id), text="offsite #Team", content_type="image/jpeg"
        )
        assert (await s.post(inline)).status == 202
        paperclip = s.factory.file_message(
            s.connector.add_download(face_photo(BIDEN), "biden.jpg"), "biden.jpg"
        )
        assert (await s.post(paperclip)).status == 202
        await s.app.idle()

        # The inline image needed the bot token; the pre-authenticated downloadUrl got none.
        assert s.connector.log.attachment_fetches == [attachment_id]
        assert s.connector.log.download_headers
        assert all("Authorization" not in h for h in s.connector.log.download_headers)
        for message in (inline, paperclip):
            [sent] = s.cards(message["id"])
            assert sent.conversation_id == message["conversation"]["id"]
            assert sent.token_claims["appid"] == APP_ID
            card = s.current(sent)
            assert card["version"] == "1.5"
            assert card_size(card) < 28_000
            [face] = faces_of(card)
            assert "Unknown face" in texts(face)
            assert [a["verb"] for a in actions(face)] == ["face_identify"]
            images = [b for b in card["body"] if b.get("type") == "Image"]
            assert images
            assert images[0]["url"].startswith("data:image/jpeg;base64,")

        async with s.app.ctx.db.session() as session:
            rows = (await session.execute(select(Sighting).order_by(Sighting.created_at))).scalars().all()
            assert {r.file_id for r in rows} == {
                attachment_id,
                paperclip["attachments"][0]["content"]["uniqueId"],
            }
            assert all(r.platform == "teams" and r.user_id == ADA.aad_object_id for r in rows)
            assert (await session.execute(select(func.count()).select_from(Media))).scalar_one() == 2
            assert (await session.execute(select(func.count()).select_from(Face))).scalar_one() == 2

        # The same message delivered again is the same share.
        assert (await s.post(inline)).status == 202
        await s.app.idle()
        assert len(s.cards(inline["id"])) == 1


async def test_identify_suggest_confirm_reject_in_a_channel(settings: Settings) -> None:
    async with teams_scenario(settings) as s:
        s.connector.add_member(TEAM_ID, ADA.member(TENANT_ID))
        s.connector.add_member(TEAM_ID, GRACE.member(TENANT_ID))

        async def share(path: str, root: str) -> tuple[Json, SentActivity]:
            attachment_id = s.connector.add_attachment(face_photo(path), "image/jpeg")
            image = {"contentType": "image/jpeg", "contentUrl": s.connector.attachment_url(attachment_id)}
            message = s.factory.channel_mention("look", user=ADA, attachments=[image], root=root)
            message["id"] = root
            assert (await s.post(message)).status == 202
            await s.app.idle()
            [sent] = s.cards(message["id"])
            assert sent.conversation_id == f"{CHANNEL_ID};messageid={root}"  # in the reply chain
            return message, sent

        _, first = await share(OBAMA, "1700000000001")
        [face] = faces_of(s.current(first))
        who = action(face, "face_identify")

        # "Who is this?" answers with the roster in a ChoiceSet ...
        click = s.in_channel(
            s.factory.card_action("face_identify", who["data"], reply_to=first.activity_id), "1700000000001"
        )
        prompt = await s.invoke(click)
        assert prompt["statusCode"] == 200
        assert prompt["type"] == CARD
        [asking] = faces_of(prompt["value"])
        [choice] = [i for i in asking["items"] if i.get("type") == "Input.ChoiceSet"]
        assert choice["id"] == "person_select"
        assert {c["value"] for c in choice["choices"]} == {ADA.aad_object_id, GRACE.aad_object_id}
        submit = action(asking, "face_identify")

        # ... and submitting it names the face; the card comes back updated at once and in place.
        pick = s.factory.card_action(
            "face_identify",
            submit["data"],
            inputs={"person_select": GRACE.aad_object_id},
            reply_to=first.activity_id,
        )
        answered = await s.invoke(s.in_channel(pick, "1700000000001"))
        [named] = faces_of(answered["value"])
        assert "<at>Grace Hopper</at>" in texts(named)
        assert "confirmed" in texts(named)
        assert GRACE.aad_object_id in mentioned(answered["value"])
        await s.app.idle()
        assert any(x.kind == "update" and x.activity_id == first.activity_id for x in s.connector.sent)
        assert "confirmed" in texts(faces_of(s.current(first))[0])

        # A new photo of the same person gets her suggested.
        _, second = await share(OBAMA_2, "1700000000002")
        [suggested] = faces_of(s.current(second))
        assert "Is this <at>Grace Hopper</at>?" in texts(suggested)
        yes = action(suggested, "face_confirm")
        assert yes["data"]["aad_object_id"] == GRACE.aad_object_id
        answered = await s.invoke(
            s.in_channel(s.factory.card_action("face_confirm", yes["data"], user=GRACE), "1700000000002")
        )
        assert "confirmed" in texts(faces_of(answered["value"])[0])
        await s.app.idle()
        assert "confirmed" in texts(faces_of(s.current(second))[0])

        # And another one: rejecting the suggestion leaves the face unknown.
        _, third = await share(OBAMA_3, "1700000000003")
        [suggested] = faces_of(s.current(third))
        no = action(suggested, "face_reject")
        assert no["data"]["aad_object_id"] == GRACE.aad_object_id
        answered = await s.invoke(
            s.in_channel(s.factory.card_action("face_reject", no["data"]), "1700000000003")
        )
        assert "Unknown face" in texts(faces_of(answered["value"])[0])
        await s.app.idle()
        assert "Grace" not in texts(faces_of(s.current(third))[0])
        async with s.app.ctx.db.session() as session:
            face_row = await session.get(Face, uuid.UUID(no["data"]["face_id"]))
            assert face_row is not None
            assert face_row.state == FaceState.unknown

        # A stale card (suggesting someone no longer suggested) gets the fresh card, nothing changes.
        stale = await s.invoke(
            s.in_channel(s.factory.card_action("face_confirm", no["data"]), "1700000000003")
        )
        assert stale["type"] == CARD
        assert "Unknown face" in texts(faces_of(stale["value"])[0])


async def test_group_photo_card_and_someone_outside_the_roster(settings: Settings) -> None:
    async with teams_scenario(settings) as s:
        conversation = s.factory.personal_conversation(ADA)["id"]
        s.connector.add_member(conversation, ADA.member(TENANT_ID))
        url = s.connector.add_download(face_photo(GROUP), "group.jpg")
        message = s.factory.file_message(url, "group.jpg")
        assert (await s.post(message)).status == 202
        await s.app.idle()
        [sent] = s.cards(message["id"])
        card = s.current(sent)
        blocks = faces_of(card)
        assert len(blocks) >= 5
        assert card_size(card) < 28_000
        face_data = action(blocks[0], "face_identify")["data"]
        outsider = s.factory.card_action(
            "face_identify", face_data, inputs={"person_select": GRACE.aad_object_id}
        )
        refused = await s.invoke(outsider)
        assert refused["type"] == "application/vnd.microsoft.activity.message"
        assert "not a member" in refused["value"]
        [lookup] = s.connector.rejected  # the roster said so
        assert lookup.status == 404
        s.connector.rejected.clear()


async def test_plain_messages_get_help_and_own_messages_are_ignored(settings: Settings) -> None:
    async with teams_scenario(settings) as s:
        hello = s.factory.personal_message("hi")
        assert (await s.post(hello)).status == 202
        [reply] = [x for x in s.connector.sent if x.reply_to == hello["id"]]
        assert "photo" in reply.activity["text"]

        own = s.factory.inline_image_message(
            s.connector.attachment_url(s.connector.add_attachment(face_photo(OBAMA), "image/jpeg"))
        )
        own["from"] = {"id": f"28:{APP_ID}", "name": "facetag"}
        assert (await s.post(own)).status == 202
        await s.app.idle()
        async with s.app.ctx.db.session() as session:
            assert (await session.execute(select(func.count()).select_from(Sighting))).scalar_one() == 0


@pytest.mark.parametrize(
    ("case", "mint"),
    [
        ("wrong audience", {"audience": "00000000-0000-4000-8000-000000000000"}),
        ("wrong issuer", {"issuer": "https://sts.windows.net/evil/"}),
        ("expired", {"expires_in": -3600}),
        ("unknown key", {"kid": "not-in-the-jwks"}),
    ],
)
async def test_bad_tokens_are_refused_and_nothing_is_recorded(
    settings: Settings, case: str, mint: Json
) -> None:
    async with teams_scenario(settings) as s:
        audience = mint.pop("audience", APP_ID)
        token = s.identity.mint(audience, service_url=s.connector.service_url, **mint)
        attachment_id = s.connector.add_attachment(face_photo(OBAMA), "image/jpeg")
        message = s.factory.inline_image_message(s.connector.attachment_url(attachment_id))
        response = await s.post(message, token)
        assert response.status == 401, case
        async with s.app.ctx.db.session() as session:
            assert (await session.execute(select(func.count()).select_from(Sighting))).scalar_one() == 0
        assert s.connector.sent == []


# --------------------------------------------------------------------------- pieces (no stack)


def _jpeg(width: int, height: int) -> bytes:
    image = Image.effect_noise((width, height), 90).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def test_card_with_many_faces_stays_small_and_readable() -> None:
    people = [PersonView(uuid.uuid4(), f"Person {i}", None, str(uuid.uuid4())) for i in range(40)]
    faces = tuple(
        FaceView(
            uuid.uuid4(), i + 1, "suggested" if i % 2 else "unknown", people[i] if i % 2 else None, 0.8, None
        )
        for i in range(40)
    )
    view = MediaView(uuid.uuid4(), "photo", "pending", "crowd.jpg", faces, _jpeg(1600, 1200))
    card = media_card(view)
    assert card_size(card) <= MAX_CARD_BYTES
    assert len(faces_of(card)) <= 20
    assert "20 more faces" in card["body"][-1]["text"]
    assert all(a["type"] == "Action.Execute" for f in faces_of(card) for a in actions(f))
    json.dumps(card)  # plain JSON


def test_image_is_recompressed_to_fit_or_left_out() -> None:
    view = MediaView(uuid.uuid4(), "photo", "pending", None, (), _jpeg(3000, 2000))
    card = media_card(view)
    [image] = [b for b in card["body"] if b["type"] == "Image"]
    data = base64.b64decode(image["url"].split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as small:
        assert small.width <= 800
    assert card_size(card) <= MAX_CARD_BYTES
    tiny = media_card(view, max_bytes=2_000)
    assert not [b for b in tiny["body"] if b["type"] == "Image"]


def test_channel_html_images_and_mentions_translate() -> None:
    factory = ActivityFactory("https://smba.trafficmanager.net/amer/", APP_ID, TENANT_ID)
    message = factory.channel_mention("party #Offsite", user=GRACE)
    src = "https://smba.trafficmanager.net/amer/v3/attachments/0-abc/views/original"
    message["attachments"] = [{"contentType": "text/html", "content": f'<p><img src="{src}" alt="x"></p>'}]
    [shared] = shared_files(message)
    assert shared.file_id == "0-abc"
    assert shared.text == "party #Offsite"
    assert shared.channel_id == CHANNEL_ID
    assert not shared.channel_private
    assert shared.thread_ref == "1700000000000"
    assert shared.user_id == GRACE.aad_object_id
    assert shared.conversation["download_needs_token"] is True

    # A file attached next to the pasted image: the SharePoint reference (Graph) and the image both.
    library = "https://contoso.sharepoint.com/sites/Photos/Shared%20Documents/General/team.jpg"
    message["attachments"].append(
        {"id": "f-1", "contentType": "reference", "contentUrl": library, "name": "team.jpg"}
    )
    file, pasted = shared_files(message)
    assert (file.file_id, file.filename, file.conversation["download_via_graph"]) == ("f-1", "team.jpg", True)
    assert (pasted.file_id, pasted.conversation["download_via_graph"]) == ("0-abc", False)
    message["attachments"][-1]["contentUrl"] = "http://intranet/team.jpg"  # only https links are files
    assert [f.file_id for f in shared_files(message)] == ["0-abc"]


async def test_resolve_file_sends_the_bot_token_only_where_it_belongs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.teams.chat import TeamsChat
    from bot.teams.config import TeamsAuthConfig
    from handlers.ports import Sighting as SightingView

    config = TeamsAuthConfig(
        app_id=APP_ID,
        app_password=APP_PASSWORD,
        tenant_id=TENANT_ID,
        authority="http://127.0.0.1:9",
        jwks_url="",
    )
    chat = TeamsChat(config, file_hosts=("*.sharepoint.com",))

    async def token() -> str:
        return "bot-token"

    monkeypatch.setattr(chat.connector, "token", token)
    message = ActivityFactory(
        "https://smba.trafficmanager.net/emea/", APP_ID, TENANT_ID
    ).inline_image_message("https://smba.trafficmanager.net/emea/v3/attachments/0-x/views/original")
    file_message = ActivityFactory("https://smba.trafficmanager.net/emea/", APP_ID, TENANT_ID).file_message(
        "https://contoso.sharepoint.com/download?x=1"
    )
    [inline], [paperclip] = shared_files(message), shared_files(file_message)

    def sighting(shared: Any) -> SightingView:
        return SightingView(
            uuid.uuid4(),
            None,
            "teams",
            "",
            "",
            "",
            shared.file_id,
            "",
            None,
            None,
            None,
            None,
            shared.conversation,
        )

    remote = await chat.resolve_file(sighting(inline))
    assert remote.headers == {"Authorization": "Bearer bot-token"}
    assert remote.allowed_hosts == ("*.sharepoint.com", "smba.trafficmanager.net")
    remote = await chat.resolve_file(sighting(paperclip))
    assert remote.headers == {}
    assert remote.allowed_hosts == ("*.sharepoint.com",)
    await chat.close()
