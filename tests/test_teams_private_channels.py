"""Private channels in Teams — real app, real stack, with the Bot Framework identity, the connector and
Microsoft Graph faked locally (every token checked): what is shared in a private channel is found only
by the members of that channel (its own roster, not the team's), what is shared in a standard channel
by every member of the team, and a team owner moderates only the channels they are in."""

from __future__ import annotations

import uuid

from bot.teams.cards import MAX_CHOICES
from storage.models import MediaStatus
from storage.settings import Settings
from tests.fakes.teams import ADA, CHANNEL_ID, GRACE, TEAM_ID, TeamsMember, TeamsUser
from tests.support.slack import face_photo
from tests.test_teams_owners import MAX, NOT_ADMIN, decide, owners_scenario, photo, seed_team_a, share_in_team
from tests.test_teams_scenarios import (
    OBAMA,
    TENANT_ID,
    TeamsScenario,
    action,
    faces_of,
    teams_scenario,
    texts,
)
from tests.test_teams_search import (
    LIN,
    MESSAGE,
    approve_everything,
    card_media,
    card_of,
    extension,
    forget_viewers,
    found,
    media_in,
    say,
    status_of,
)

PRIVATE_ID = "19:private-leads@thread.tacv2"  # a private channel of TEAM_ID
ZOE = TeamsUser("29:1zoe-zhang", "Zoë Zhang", "0b7e2c4d-6f8a-4b1c-9d2e-3f4a5b6c7d08", "zoe@contoso.example")


async def share(s: TeamsScenario, data: bytes, root: str, channel_id: str) -> uuid.UUID:
    """Ada shares a photo in a channel of TEAM_ID; the media it became."""
    await share_in_team(s, data, root, channel_id=channel_id)
    await s.app.idle()
    [media_id] = await media_in(s, channel_id)
    return media_id


async def test_private_channel_media_is_found_by_its_members_only(settings: Settings) -> None:
    async with teams_scenario(settings) as s:
        for user in (ADA, GRACE, LIN):
            s.connector.add_member(TEAM_ID, user.member(TENANT_ID))
        s.connector.add_private_channel(TEAM_ID, PRIVATE_ID, [ADA.member(TENANT_ID), LIN.member(TENANT_ID)])
        in_standard = await share(s, photo(1), "1700000000301", CHANNEL_ID)
        in_private = await share(s, photo(2), "1700000000302", PRIVATE_ID)
        await approve_everything(s)

        # The messaging extension: Grace is in the team but not in the private channel.
        assert set(found(await extension(s, ADA, ""))) == {in_standard, in_private}
        assert set(found(await extension(s, LIN, ""))) == {in_standard, in_private}
        assert found(await extension(s, GRACE, "")) == [in_standard]

        # One roster read per channel, by the channel's own id (no reply-chain suffix), then cached.
        assert sorted(s.connector.log.roster_reads) == sorted([CHANNEL_ID, PRIVATE_ID])

        # The `search` command in a personal chat: the same rule.
        reply = await say(s, s.factory.personal_message("search", user=GRACE))
        assert card_media(card_of(reply.activity)) == [in_standard]
        reply = await say(s, s.factory.personal_message("search", user=LIN))
        assert set(card_media(card_of(reply.activity))) == {in_standard, in_private}

        # Grace is added to the private channel: after the cache, its photo is hers to find too.
        s.connector.add_member(PRIVATE_ID, GRACE.member(TENANT_ID))
        assert found(await extension(s, GRACE, "")) == [in_standard]  # cached for a minute
        forget_viewers(s)
        assert set(found(await extension(s, GRACE, ""))) == {in_standard, in_private}


async def test_big_team_rosters_are_read_page_by_page(settings: Settings) -> None:
    """Teams throttles the unpaged roster (five calls a minute, at most 10,000 members): rosters are
    read with `pagedmembers`, following continuation tokens, so the last page's members count too."""
    async with teams_scenario(settings) as s:
        s.connector.page_size_limit = 2  # Teams pages at 500; this team of 5 spans three pages
        s.connector.add_member(TEAM_ID, ADA.member(TENANT_ID))
        for n in range(3):
            s.connector.add_member(
                TEAM_ID,
                TeamsMember(f"29:1filler-{n}", f"Filler {n}", str(uuid.uuid4()), f"f{n}@contoso.example"),
            )
        s.connector.add_member(TEAM_ID, LIN.member(TENANT_ID))  # on the last page
        in_standard = await share(s, photo(5), "1700000000501", CHANNEL_ID)
        await approve_everything(s)

        assert found(await extension(s, LIN, "")) == [in_standard]
        assert found(await extension(s, GRACE, "")) == []  # not in the team
        assert s.connector.log.roster_reads == [CHANNEL_ID] * 3  # three pages, then cached


async def test_identify_in_a_team_bigger_than_the_choice_list_searches_as_you_type(
    settings: Settings,
) -> None:
    """The identify ChoiceSet lists the first MAX_CHOICES names; everyone else is found by typing
    (`choices.data`: Teams sends `application/search` invokes, answered from the cached roster)."""
    async with teams_scenario(settings) as s:
        s.connector.page_size_limit = 100  # 202 members: three roster pages
        s.connector.add_member(TEAM_ID, ADA.member(TENANT_ID))
        for n in range(MAX_CHOICES):
            member = TeamsMember(f"29:1m-{n}", f"Member {n:03d}", str(uuid.uuid4()), f"m{n}@contoso.example")
            s.connector.add_member(TEAM_ID, member)
        s.connector.add_member(TEAM_ID, ZOE.member(TENANT_ID))  # last alphabetically: not in the list
        await share(s, face_photo(OBAMA), "1700000000701", CHANNEL_ID)
        [sent] = s.cards("1700000000701")
        [face] = faces_of(s.current(sent))
        who = action(face, "face_identify")
        click = s.factory.card_action("face_identify", who["data"], reply_to=sent.activity_id)
        prompt = await s.invoke(s.in_channel(click, "1700000000701"))
        [asking] = faces_of(prompt["value"])
        [choice] = [i for i in asking["items"] if i.get("type") == "Input.ChoiceSet"]
        assert len(choice["choices"]) == MAX_CHOICES
        assert ZOE.aad_object_id not in {c["value"] for c in choice["choices"]}
        assert choice["choices.data"] == {"type": "Data.Query", "dataset": "members"}

        typed = await s.invoke(s.in_channel(s.factory.typeahead("zoë", "members", user=ADA), "1700000000701"))
        assert typed == {
            "type": "application/vnd.microsoft.search.searchResponse",
            "value": {"results": [{"title": ZOE.name, "value": ZOE.aad_object_id}]},
        }
        page = await s.invoke(
            s.in_channel(s.factory.typeahead("member 1", "members", skip=5, top=50), "1700000000701")
        )
        titles = [r["title"] for r in page["value"]["results"]]
        assert len(titles) == 15 and titles[0] == "Member 105"  # 100-199 match; at most 15 shown
        assert s.connector.log.roster_reads == [CHANNEL_ID] * 3  # read once (three pages), then cached

        pick = s.factory.card_action(
            "face_identify",
            action(asking, "face_identify")["data"],
            inputs={"person_select": ZOE.aad_object_id},
            reply_to=sent.activity_id,
        )
        answered = await s.invoke(s.in_channel(pick, "1700000000701"))
        assert f"<at>{ZOE.name}</at>" in texts(faces_of(answered["value"])[0])


async def test_team_owners_moderate_only_the_private_channels_they_are_in(settings: Settings) -> None:
    async with owners_scenario(settings) as s:
        seed_team_a(s)  # Ada, Grace, Lin and Max are in team A; Grace and Max own it
        s.connector.add_private_channel(TEAM_ID, PRIVATE_ID, [ADA.member(TENANT_ID), MAX.member(TENANT_ID)])
        in_standard = await share(s, photo(3), "1700000000401", CHANNEL_ID)
        in_private = await share(s, photo(4), "1700000000402", PRIVATE_ID)
        for media_id in (in_standard, in_private):
            assert await status_of(s, media_id) == MediaStatus.pending

        # Grace owns the team but is not in the private channel: its pending media is not hers.
        listed = card_of((await say(s, s.factory.personal_message("pending", user=GRACE))).activity)
        assert card_media(listed) == [in_standard]
        assert found(await extension(s, GRACE, "is:pending")) == [in_standard]
        forged = await decide(s, "media_approve", in_private, GRACE)
        assert forged["type"] == MESSAGE
        assert NOT_ADMIN in forged["value"]
        assert await status_of(s, in_private) == MediaStatus.pending

        # Max owns the team and is in the private channel: both, and he may decide.
        listed = card_of((await say(s, s.factory.personal_message("pending", user=MAX))).activity)
        assert set(card_media(listed)) == {in_standard, in_private}
        answered = await decide(s, "media_approve", in_private, MAX)
        assert "Approved" in answered["value"]["body"][0]["text"]
        await s.app.idle()
        assert await status_of(s, in_private) == MediaStatus.approved

        # Ada is in the private channel but owns nothing: no list, no buttons.
        refused = await say(s, s.factory.personal_message("pending", user=ADA))
        assert NOT_ADMIN in refused.activity["text"]
        forged = await decide(s, "media_approve", in_standard, ADA)
        assert NOT_ADMIN in forged["value"]

        # The approved private photo is found by the channel's members only.
        forget_viewers(s)
        assert found(await extension(s, MAX, "")) == [in_private]
        assert found(await extension(s, ADA, "")) == [in_private]
        assert found(await extension(s, GRACE, "")) == []
