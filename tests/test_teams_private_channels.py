"""Private channels in Teams — real app, real stack, with the Bot Framework identity, the connector and
Microsoft Graph faked locally (every token checked): what is shared in a private channel is found only
by the members of that channel (its own roster, not the team's), what is shared in a standard channel
by every member of the team, and a team owner moderates only the channels they are in."""

from __future__ import annotations

import uuid

import pytest

from storage.models import MediaStatus
from storage.settings import Settings
from tests.fakes.teams import ADA, CHANNEL_ID, GRACE, TEAM_ID, TeamsMember
from tests.test_teams_owners import MAX, NOT_ADMIN, decide, owners_scenario, photo, seed_team_a, share_in_team
from tests.test_teams_scenarios import TENANT_ID, TeamsScenario, teams_scenario
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

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")

PRIVATE_ID = "19:private-leads@thread.tacv2"  # a private channel of TEAM_ID


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
