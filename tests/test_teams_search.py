"""Search and approval in Teams — real app, real stack, real photos, with the Bot Framework identity
and connector faked locally: the messaging extension and the `search` command only find media shared
in conversations the user is in (rosters from the connector), paging, and admin approval."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import re
import uuid
from typing import Any, cast

import jsonschema  # type: ignore[import-untyped]
import pytest
from PIL import Image
from sqlalchemy import select

from bot.teams.activities import command_text, extension_query
from bot.teams.cards import MAX_CARD_BYTES, card_size
from bot.teams.results import results_card
from handlers import approval, roles
from handlers.ports import Actor
from handlers.search import ResultPerson, SearchPage, SearchResult
from storage.models import Media, MediaStatus, Sighting
from storage.settings import Settings
from tests.fakes.teams import (
    ACTIVITY_SCHEMA,
    ADA,
    CHANNEL_ID,
    GRACE,
    GROUP_CHAT_ID,
    TEAM_ID,
    SentActivity,
    TeamsUser,
)
from tests.support.slack import face_photo
from tests.test_teams_scenarios import (
    APP_ID,
    BIDEN,
    CARD,
    GROUP,
    OBAMA,
    OBAMA_2,
    TENANT_ID,
    TeamsScenario,
    teams_scenario,
)

Json = dict[str, Any]
MESSAGE = "application/vnd.microsoft.activity.message"
LIN = TeamsUser("29:1lin-chen", "Lin Chen", "5d2a7e10-9b3c-4f6d-8e1a-3b4c5d6e7f03", "lin@contoso.example")
_UUID = re.compile(r"/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/")


# --------------------------------------------------------------------------- helpers


@functools.cache
def _validator(definition: str) -> Any:
    schema = json.loads(ACTIVITY_SCHEMA.read_text(encoding="utf-8"))
    root = {"definitions": schema["definitions"], "$ref": f"#/definitions/{definition}"}
    return jsonschema.Draft7Validator(root)


def assert_valid(definition: str, value: Json) -> None:
    problems = [e.message for e in _validator(definition).iter_errors(value)]
    assert problems == [], problems


async def extension(s: TeamsScenario, user: TeamsUser, query: str, skip: int = 0, count: int = 25) -> Json:
    """A messaging-extension search; the answer's shape is checked on the way."""
    body = await s.invoke(s.factory.search_query(query, skip=skip, count=count, user=user))
    result: Json = body["composeExtension"]
    if result["type"] == "result":
        assert result["attachmentLayout"] == "list"
        for attachment in result["attachments"]:
            assert_valid("Attachment", {k: v for k, v in attachment.items() if k != "preview"})
            assert_valid("ThumbnailCard", attachment["content"])
            assert_valid("ThumbnailCard", attachment["preview"]["content"])
    return result


def found(result: Json) -> list[uuid.UUID]:
    """The media of a messaging-extension answer, in order (from their presigned Original links)."""
    ids = []
    for attachment in result["attachments"]:
        [original] = [b for b in attachment["content"]["buttons"] if b["title"] == "Original"]
        match = _UUID.search(original["value"])
        assert match is not None
        ids.append(uuid.UUID(match.group(1)))
    return ids


def card_media(card: Json) -> list[uuid.UUID]:
    return [
        uuid.UUID(b["id"].removeprefix("media-"))
        for b in card["body"]
        if b.get("type") == "Container" and str(b.get("id", "")).startswith("media-")
    ]


def card_actions(card: Json, verb: str) -> list[Json]:
    found_actions = [a for a in card.get("actions", []) if a.get("verb") == verb]
    for block in card["body"]:
        for item in block.get("items", []):
            if item.get("type") == "ActionSet":
                found_actions += [a for a in item["actions"] if a.get("verb") == verb]
    return found_actions


def reply_to(s: TeamsScenario, message: Json) -> SentActivity:
    [reply] = [x for x in s.connector.sent if x.reply_to == message["id"]]
    return reply


def card_of(activity: Json) -> Json:
    [attachment] = [a for a in activity.get("attachments") or [] if a["contentType"] == CARD]
    content: Json = attachment["content"]
    return content


async def say(s: TeamsScenario, message: Json) -> SentActivity:
    assert (await s.post(message)).status in (200, 202)
    return reply_to(s, message)


async def media_in(s: TeamsScenario, channel_id: str) -> set[uuid.UUID]:
    async with s.app.ctx.db.session() as session:
        rows = await session.execute(
            select(Sighting.media_id).where(Sighting.platform == "teams", Sighting.channel_id == channel_id)
        )
        return {m for m in rows.scalars() if m is not None}


async def status_of(s: TeamsScenario, media_id: uuid.UUID) -> MediaStatus | None:
    async with s.app.ctx.db.session() as session:
        media = await session.get(Media, media_id)
        return media.status if media else None


async def approve_everything(s: TeamsScenario) -> None:
    async with s.app.ctx.db.session() as session:
        pending = list(
            (await session.execute(select(Media.id).where(Media.status == MediaStatus.pending))).scalars()
        )
    for media_id in pending:
        await approval.approve(s.app.ctx, media_id=media_id, actor_id="test")


async def share_in_channel(s: TeamsScenario, photo: bytes, text: str, root: str) -> None:
    attachment_id = s.connector.add_attachment(photo, "image/jpeg")
    image = {"contentType": "image/jpeg", "contentUrl": s.connector.attachment_url(attachment_id)}
    message = s.factory.channel_mention(text, user=ADA, attachments=[image], root=root)
    message["id"] = root
    assert (await s.post(message)).status == 202


async def share_in_private(s: TeamsScenario, photo: bytes, name: str, user: TeamsUser) -> None:
    message = s.factory.file_message(s.connector.add_download(photo, name), name, user=user)
    assert (await s.post(message)).status == 202


def personal_chat(s: TeamsScenario, user: TeamsUser) -> str:
    conversation: str = s.factory.personal_conversation(user)["id"]
    return conversation


def forget_viewers(s: TeamsScenario) -> None:
    assert s.app.doors.teams is not None
    assert s.app.doors.teams.viewers is not None
    s.app.doors.teams.viewers.forget()


def _colour_jpeg(index: int) -> bytes:
    image = Image.new("RGB", (320, 240), (index * 20 % 256, 255 - index * 15 % 256, index * 7 % 256))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


# --------------------------------------------------------------------------- scenarios


async def test_search_only_finds_media_of_conversations_the_user_is_in(settings: Settings) -> None:
    async with teams_scenario(settings) as s:
        s.connector.add_member(TEAM_ID, ADA.member(TENANT_ID))  # Grace is not in the team (yet)
        s.connector.add_member(GROUP_CHAT_ID, ADA.member(TENANT_ID))
        s.connector.add_member(GROUP_CHAT_ID, GRACE.member(TENANT_ID))
        await share_in_channel(s, face_photo(OBAMA), "team photo #Offsite", "1700000000010")
        await share_in_private(s, face_photo(BIDEN), "biden.jpg", ADA)
        await share_in_private(s, face_photo(GROUP), "group.jpg", GRACE)
        pasted = s.connector.attachment_url(s.connector.add_attachment(face_photo(OBAMA_2), "image/jpeg"))
        assert (await s.post(s.factory.group_image_message(pasted, "prep", user=ADA))).status == 202
        await s.app.idle()
        await approve_everything(s)
        [in_channel] = await media_in(s, CHANNEL_ID)
        [adas] = await media_in(s, personal_chat(s, ADA))
        [graces] = await media_in(s, personal_chat(s, GRACE))
        [in_group] = await media_in(s, GROUP_CHAT_ID)

        # The messaging extension (initial run: empty query = everything the user may see).
        ada = await extension(s, ADA, "")
        assert set(found(ada)) == {in_channel, adas, in_group}
        grace = await extension(s, GRACE, "")
        assert set(found(grace)) == {graces, in_group}
        assert found(await extension(s, LIN, "")) == []  # in none of these conversations
        assert found(await extension(s, GRACE, "#offsite")) == []
        assert found(await extension(s, ADA, "#offsite")) == [in_channel]

        # The result cards: title, people, where and when; links only (no picture) without public media.
        [item] = [a for a in ada["attachments"] if found({"attachments": [a]}) == [in_channel]]
        content = item["content"]
        assert content["title"] == "Photo"
        assert "unknown face" in content["subtitle"]
        assert "#offsite" in content["text"]
        assert "photos" in content["text"]
        assert content["images"] == []
        assert [b["title"] for b in content["buttons"]] == ["Desktop size", "Original", "Thumbnail"]
        assert all(b["value"].startswith("http") for b in content["buttons"])

        # The `search` command in a personal chat: the same visibility, as an Adaptive Card list.
        reply = await say(s, s.factory.personal_message("search", user=GRACE))
        assert set(card_media(card_of(reply.activity))) == {graces, in_group}
        assert card_actions(card_of(reply.activity), "search_more") == []

        # Grace joins the team: after the cache, the channel's photo is hers to find too.
        s.connector.add_member(TEAM_ID, GRACE.member(TENANT_ID))
        assert set(found(await extension(s, GRACE, ""))) == {graces, in_group}  # cached for a minute
        forget_viewers(s)
        assert set(found(await extension(s, GRACE, ""))) == {in_channel, graces, in_group}

        # In the channel the answer is a message everybody there reads: only what was shared there.
        asked = s.factory.channel_mention("search", user=GRACE, root="1700000000011")
        reply = await say(s, asked)
        assert card_media(card_of(reply.activity)) == [in_channel]

        # Mistakes answer with one sentence in Teams words; other commands are refused.
        wrong = await extension(s, ADA, "after:someday")
        assert wrong["type"] == "message"
        assert "search" in wrong["text"]
        assert "/photos" not in wrong["text"]
        other = await s.invoke(s.factory.search_query("x", command_id="somethingElse"))
        assert other["composeExtension"]["type"] == "message"
        reply = await say(s, s.factory.personal_message("search after:someday", user=ADA))
        assert "/photos" not in reply.activity["text"]
        help_reply = await say(s, s.factory.personal_message("help", user=ADA))
        assert "is:pending" in help_reply.activity["text"]


async def test_paging_in_the_extension_and_the_search_card(settings: Settings) -> None:
    async with teams_scenario(settings) as s:
        await roles.set_auto_approve(
            s.app.ctx,
            actor=Actor("teams", ADA.aad_object_id),
            platform_admin=True,
            channel_id=personal_chat(s, ADA),
            enabled=True,
        )
        for index in range(12):
            await share_in_private(s, _colour_jpeg(index), f"colour-{index:02d}.jpg", ADA)
        await s.app.idle()
        everything = await media_in(s, personal_chat(s, ADA))
        assert len(everything) == 12
        assert all([await status_of(s, m) == MediaStatus.approved for m in everything])

        pages = [found(await extension(s, ADA, "", skip=skip, count=5)) for skip in (0, 5, 10, 15)]
        assert [len(p) for p in pages] == [5, 5, 2, 0]
        assert set().union(*pages) == everything
        assert len([m for p in pages for m in p]) == 12  # no repeats

        reply = await say(s, s.factory.personal_message("search colour", user=ADA))
        first = card_of(reply.activity)
        assert len(card_media(first)) == 10
        assert "12 results" in first["body"][0]["text"]
        [more] = card_actions(first, "search_more")
        assert more["title"] == "Next 10"
        assert more["data"]["q"] == "colour"
        answered = await s.invoke(s.factory.card_action("search_more", more["data"], user=ADA))
        assert answered["type"] == CARD
        second = answered["value"]
        assert len(card_media(second)) == 2
        assert set(card_media(first)) | set(card_media(second)) == everything
        assert card_actions(second, "search_more") == []

        # Grace (not in Ada's chat) pressing a forwarded "Next 10" sees nothing of Ada's.
        answered = await s.invoke(s.factory.card_action("search_more", more["data"], user=GRACE))
        assert card_media(answered["value"]) == []


async def test_only_admins_list_and_decide_pending_media(settings: Settings) -> None:
    async with teams_scenario(settings.model_copy(update={"admins": ADA.aad_object_id})) as s:
        s.connector.add_member(TEAM_ID, ADA.member(TENANT_ID))
        s.connector.add_member(TEAM_ID, GRACE.member(TENANT_ID))
        await share_in_private(s, face_photo(BIDEN), "biden.jpg", GRACE)
        await share_in_private(s, face_photo(OBAMA), "obama.jpg", GRACE)
        await s.app.idle()
        [biden] = [m for m in await media_in(s, personal_chat(s, GRACE)) if await _named(s, m, "biden.jpg")]
        [obama] = [m for m in await media_in(s, personal_chat(s, GRACE)) if await _named(s, m, "obama.jpg")]
        assert await status_of(s, biden) == MediaStatus.pending

        # Not an admin: one sentence, for the command and for a forged button alike.
        refused = await say(s, s.factory.personal_message("pending", user=GRACE))
        assert "Only facetag admins" in refused.activity["text"]
        forged = await s.invoke(s.factory.card_action("media_approve", {"media_id": str(biden)}, user=GRACE))
        assert forged["type"] == MESSAGE
        assert "Only facetag admins" in forged["value"]
        pending_search = await extension(s, GRACE, "is:pending")
        assert pending_search["type"] == "message"

        # The admin's pending list covers every conversation, with Approve / Reject.
        listed = await say(s, s.factory.personal_message("pending", user=ADA))
        card = card_of(listed.activity)
        assert set(card_media(card)) == {biden, obama}
        [approve] = [a for a in card_actions(card, "media_approve") if a["data"]["media_id"] == str(biden)]
        [reject] = [a for a in card_actions(card, "media_reject") if a["data"]["media_id"] == str(obama)]

        # Approve: the answer is the list without it; the approval job moves it to the approved bucket.
        answered = await s.invoke(s.factory.card_action("media_approve", approve["data"], user=ADA))
        assert answered["type"] == CARD
        assert "Approved" in answered["value"]["body"][0]["text"]
        assert card_media(answered["value"]) == [obama]
        await s.app.idle()
        assert await status_of(s, biden) == MediaStatus.approved
        ctx = s.app.ctx
        assert await ctx.store.head(bucket=ctx.settings.bucket_approved, key=f"{biden}/original") is not None
        assert await ctx.store.head(bucket=ctx.settings.bucket_pending, key=f"{biden}/original") is None

        # Reject: gone, and Grace is told in her chat.
        answered = await s.invoke(s.factory.card_action("media_reject", reject["data"], user=ADA))
        assert "Rejected" in answered["value"]["body"][0]["text"]
        assert card_media(answered["value"]) == []
        assert await status_of(s, obama) is None
        told = [x for x in s.connector.sent if "not added to the photo library" in x.activity.get("text", "")]
        assert [x.conversation_id for x in told] == [personal_chat(s, GRACE)]

        # Approving again says so; pending lists are not shown in channels.
        again = await s.invoke(s.factory.card_action("media_approve", approve["data"], user=ADA))
        assert "not pending" in again["value"]["body"][0]["text"]
        in_channel = await say(s, s.factory.channel_mention("pending", user=ADA, root="1700000000020"))
        assert "personal chat" in in_channel.activity["text"]

        # The approved photo is now found by its uploader.
        forget_viewers(s)
        assert found(await extension(s, GRACE, "")) == [biden]


async def _named(s: TeamsScenario, media_id: uuid.UUID, filename: str) -> bool:
    async with s.app.ctx.db.session() as session:
        media = await session.get(Media, media_id)
        return media is not None and media.filename == filename


# --------------------------------------------------------------------------- pieces (no stack)


def test_command_text_keeps_people_and_drops_the_bot() -> None:
    activity: Json = {
        "text": "<at>facetag</at> search <at>Grace Hopper</at> #offsite",
        "recipient": {"id": f"28:{APP_ID}", "name": "facetag"},
        "entities": [
            {"type": "mention", "text": "<at>facetag</at>", "mentioned": {"id": f"28:{APP_ID}"}},
            {"type": "mention", "text": "<at>Grace Hopper</at>", "mentioned": {"id": GRACE.id}},
        ],
    }
    assert command_text(activity, APP_ID) == 'search @"Grace Hopper" #offsite'


def test_extension_query_reads_parameters_and_paging() -> None:
    activity: Json = {
        "from": ADA.account(),
        "value": {
            "commandId": "searchPhotos",
            "parameters": [{"name": "initialRun", "value": "true"}, {"name": "query", "value": " @ada "}],
            "queryOptions": {"skip": "25", "count": 25},
        },
    }
    query = extension_query(activity)
    assert (query.command_id, query.text, query.skip, query.count) == ("searchPhotos", "@ada", 25, 25)
    assert query.user_id == ADA.aad_object_id


def test_result_card_stays_under_the_size_limit() -> None:
    from datetime import UTC, datetime

    def result(i: int) -> SearchResult:
        url = "https://s3.example/facetag-approved/" + "x" * 900
        return SearchResult(
            media_id=uuid.uuid4(),
            kind="photo",
            status="approved",
            filename=f"photo-{i}.jpg",
            channel_id=CHANNEL_ID,
            channel_name="photos",
            shared_by=ADA.aad_object_id,
            shared_at=datetime.now(UTC),
            taken_at=None,
            people=tuple(ResultPerson(f"Person {j}", None, True) for j in range(30)),
            unknown_faces=2,
            tags=("offsite",),
            thumb_url=url,
            desktop_url=url,
            original_url=url,
        )

    page = SearchPage(results=tuple(result(i) for i in range(10)), total=40, next_cursor="abc")
    card = results_card(page, query_text="", public_media=False)
    assert card_size(card) <= MAX_CARD_BYTES
    assert "did not fit" in json.dumps(card)
    assert card["actions"][0]["data"] == {"q": "", "cursor": "abc"}


async def test_a_roster_read_that_misses_the_deadline_is_cached_for_the_next_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.teams import viewers as viewers_module
    from bot.teams.activities import Address
    from bot.teams.cards import Member
    from bot.teams.connector import Connector
    from bot.teams.viewers import TeamsViewers, _Conversation
    from handlers.context import Context
    from handlers.search import Viewer

    calls: list[str] = []
    release = asyncio.Event()

    class SlowConnector:  # a team so big that paging through it outlasts one search
        async def members(self, where: Address) -> list[Member]:
            calls.append(where.base_conversation)
            await release.wait()
            return [Member(ADA.aad_object_id, ADA.name)]

    monkeypatch.setattr(viewers_module, "ROSTER_TIMEOUT", 0.05)
    viewers = TeamsViewers(cast(Context, None), cast(Connector, SlowConnector()))
    team = Address("https://smba.example/amer/", CHANNEL_ID, "channel", "1", TENANT_ID, "", "", TEAM_ID, None)

    async def conversations(user_id: str) -> tuple[dict[str, str], list[_Conversation]]:
        return {}, [_Conversation(CHANNEL_ID, "photos", team)]

    async def viewer(user_id: str, channels: dict[str, str]) -> Viewer:
        return Viewer("teams", user_id, channels)

    monkeypatch.setattr(viewers, "_conversations", conversations)
    monkeypatch.setattr(viewers, "_viewer", viewer)
    first, second = await asyncio.gather(viewers.get(ADA.aad_object_id), viewers.get(GRACE.aad_object_id))
    assert dict(first.channels) == dict(second.channels) == {}  # fail closed while the read goes on
    release.set()
    await asyncio.sleep(0.01)
    assert dict((await viewers.get(ADA.aad_object_id)).channels) == {CHANNEL_ID: "photos"}
    assert dict((await viewers.get(GRACE.aad_object_id)).channels) == {}
    assert calls == [CHANNEL_ID]  # one read, shared by both searches and kept for the next ones

    # A read still running when the app stops is cancelled, not left behind.
    viewers.forget()
    release.clear()
    await viewers.get(LIN.aad_object_id)
    [pending] = viewers._reads.values()
    await viewers.close()
    assert pending.cancelled()


async def test_unreadable_rosters_hide_their_conversations_and_are_not_cached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.teams.activities import Address
    from bot.teams.connector import Connector, TeamsTransientError
    from bot.teams.viewers import TeamsViewers, _Conversation
    from handlers.context import Context
    from handlers.search import Viewer

    calls: list[str] = []

    class FlakyConnector:
        async def members(self, where: Address) -> list[Any]:
            calls.append(where.team_id or where.base_conversation)
            raise TeamsTransientError("GET members: 503")

    viewers = TeamsViewers(cast(Context, None), cast(Connector, FlakyConnector()))
    team = Address("https://smba.example/amer/", CHANNEL_ID, "channel", "1", TENANT_ID, "", "", TEAM_ID, None)

    async def conversations(user_id: str) -> tuple[dict[str, str], list[_Conversation]]:
        return {"a:1own": "own chat"}, [_Conversation(CHANNEL_ID, "photos", team)]

    async def viewer(user_id: str, channels: dict[str, str]) -> Viewer:
        return Viewer("teams", user_id, channels)

    monkeypatch.setattr(viewers, "_conversations", conversations)
    monkeypatch.setattr(viewers, "_viewer", viewer)
    first = await viewers.get(ADA.aad_object_id)
    assert dict(first.channels) == {"a:1own": "own chat"}  # fail closed
    await viewers.get(ADA.aad_object_id)
    assert calls == [TEAM_ID, TEAM_ID]  # not cached after a failure
