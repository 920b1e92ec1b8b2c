"""/photos search, visibility, paging, presigned links, approval and roles — over signed HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlalchemy import select

from handlers import approval, search
from handlers.query import encode_cursor, parse
from storage.models import Media, MediaStatus
from storage.settings import Settings
from tests.fakes.slack_workspace import Channel, User
from tests.support.slack import SlackScenario, face_photo, slack_scenario

PHOTOS = [
    "face_recognition/examples/knn_examples/train/alex_lacamoire/img1.jpg",
    "face_recognition/examples/knn_examples/train/biden/biden.jpg",
    "face_recognition/examples/knn_examples/train/biden/biden2.jpg",
    "face_recognition/examples/knn_examples/train/kit_harington/john1.jpeg",
    "face_recognition/examples/knn_examples/train/kit_harington/john2.jpeg",
    "face_recognition/examples/knn_examples/train/obama/obama.jpg",
    "face_recognition/examples/knn_examples/train/obama/obama2.jpg",
    "face_recognition/examples/knn_examples/train/rose_leslie/img1.jpg",
    "face_recognition/examples/knn_examples/train/rose_leslie/img2.jpg",
    "face_recognition/examples/knn_examples/test/alex_lacamoire1.jpg",
    "face_recognition/examples/knn_examples/test/obama1.jpg",
    "face_recognition/examples/knn_examples/test/johnsnow_test1.jpg",
    "openface/images/examples/adams.jpg",
]
SECRET_PHOTO = "openface/images/examples/carell.jpg"
_LINK = re.compile(r"<(http[^|>]+)\|original>")


async def photos(
    s: SlackScenario, user: User, channel: Channel, text: str = ""
) -> tuple[str, dict[str, Any]]:
    """Run /photos and return (response_url, the last answer posted to it)."""
    request = s.slack.payloads.slash_command(user, channel, text)
    assert (await s.send(request)).status == 200
    url = str(request.payload["response_url"])
    posts = s.slack.response_url_posts(url)
    assert posts, "no answer to /photos"
    return url, posts[-1]


def media_ids(answer: dict[str, Any]) -> list[str]:
    return [
        b["block_id"].split(":", 1)[1]
        for b in answer.get("blocks", [])
        if b.get("block_id", "").startswith("media:")
    ]


async def setup_library(s: SlackScenario) -> dict[str, Any]:
    admin = s.slack.add_user("admin", is_admin=True)
    alice = s.slack.add_user("alice")
    dave = s.slack.add_user("dave")
    bob = s.slack.add_user("bob")
    public = s.slack.add_channel("photos", members=[admin.id, alice.id])
    secret = s.slack.add_channel("secret", members=[admin.id, dave.id], private=True)
    for channel in (public, secret):
        request = s.slack.payloads.slash_command(
            admin, channel, f"settings <#{channel.id}|{channel.name}> auto-approve on"
        )
        assert (await s.send(request)).status == 200
    for i, path in enumerate(PHOTOS):
        await s.share(public.id, alice.id, [(f"p{i}.jpg", face_photo(path))], text=f"photo {i} #offsite")
    await s.share(secret.id, dave.id, [("secret.jpg", face_photo(SECRET_PHOTO))], text="#offsite secret")
    await s.app.idle()
    return {"admin": admin, "alice": alice, "dave": dave, "bob": bob, "public": public, "secret": secret}


async def test_search_visibility_paging_and_links(settings: Settings) -> None:
    async with slack_scenario(settings, presign_ttl_seconds=3) as s:
        lib = await setup_library(s)
        alice, dave, bob, public, secret = lib["alice"], lib["dave"], lib["bob"], lib["public"], lib["secret"]

        # alice sees the public photos, never the private channel's.
        url, first = await photos(s, alice, public, "#offsite")
        assert first["text"].startswith(f"{len(PHOTOS)} results")
        page1 = media_ids(first)
        assert len(page1) == 10
        s.slack.ws.channels  # noqa: B018 - the response_url message is what the user sees
        # Next 10: every result exactly once.
        more = next(b for b in first["blocks"] if b.get("block_id") == "search_paging")
        value = more["elements"][0]["value"]
        from tests.fakes.slack_payloads import SlackRequest

        click = s.slack.payloads._interactive(  # the ephemeral answer's button, as Slack sends it
            {
                "type": "block_actions",
                "user": {"id": alice.id, "name": "alice", "team_id": s.slack.team_id},
                "team": {"id": s.slack.team_id, "domain": "facetag-test"},
                "api_app_id": s.slack.app_id,
                "token": s.slack.ws.verification_token,
                "container": {"type": "message", "is_ephemeral": True},
                "trigger_id": s.slack.ws.issue_trigger(alice.id),
                "response_url": url,
                "actions": [
                    {
                        "type": "button",
                        "action_id": "search_more",
                        "block_id": "search_paging",
                        "value": value,
                        "action_ts": "1.0",
                        "text": {"type": "plain_text", "text": "Next 10"},
                    }
                ],
            }
        )
        assert isinstance(click, SlackRequest)
        assert (await s.send(click)).status == 200
        second = s.slack.response_url_posts(url)[-1]
        assert second["text"].startswith(f"{len(PHOTOS)} results")  # the total, not what is left
        page2 = media_ids(second)
        assert len(page2) == len(PHOTOS) - 10
        assert not set(page1) & set(page2)
        # A page link past the last page: no results, and still the total.
        viewer = search.Viewer("slack", alice.id, {public.id: public.name})
        past_end = encode_cursor(datetime(2000, 1, 1, tzinfo=UTC), str(uuid.UUID(int=1)))
        beyond = await search.search(s.app.ctx, parse("#offsite"), viewer, cursor=past_end)
        assert (beyond.results, beyond.total, beyond.next_cursor) == ((), len(PHOTOS), None)

        # dave sees only the private channel's photo; bob (in no channel) nothing at all.
        _, answer = await photos(s, dave, secret, "#offsite")
        assert len(media_ids(answer)) == 1
        dm = s.slack.add_im(bob.id)
        _, answer = await photos(s, bob, dm, "")
        assert media_ids(answer) == []
        _, answer = await photos(s, alice, public, "secret")
        assert media_ids(answer) == []

        # Links work before expiry, and the real SeaweedFS refuses them after.
        links = _LINK.findall(json.dumps(first["blocks"]).replace("\\u003c", "<").replace("\\u003e", ">"))
        assert links
        link = links[0].replace("&amp;", "&")
        async with aiohttp.ClientSession() as http:
            async with http.get(link) as response:
                assert response.status == 200
            await asyncio.sleep(4)
            async with http.get(link) as response:
                assert response.status == 403

        # A malformed query gets one line and an example.
        _, answer = await photos(s, alice, public, "colour:red")
        assert "Try: /photos" in answer["text"] and "\n" not in answer["text"]


async def test_roles_and_pending(settings: Settings) -> None:
    async with slack_scenario(settings) as s:
        admin = s.slack.add_user("admin", is_admin=True)
        alice = s.slack.add_user("alice")
        mod = s.slack.add_user("mod")
        channel = s.slack.add_channel("photos", members=[admin.id, alice.id, mod.id])
        await s.share(channel.id, alice.id, [("p.jpg", face_photo(PHOTOS[0]))])
        await s.app.idle()

        # Pending media is invisible to a normal search, and is:pending is for admins and moderators.
        _, answer = await photos(s, alice, channel, "")
        assert media_ids(answer) == []
        _, answer = await photos(s, alice, channel, "is:pending")
        assert "Only admins" in answer["text"]
        _, answer = await photos(s, alice, channel, f"settings <#{channel.id}|photos> auto-approve on")
        assert "Only facetag admins" in answer["text"]
        _, answer = await photos(s, alice, channel, f"moderators <#{channel.id}|photos> <@{alice.id}>")
        assert "Only facetag admins" in answer["text"]
        _, answer = await photos(s, admin, channel, "is:pending")
        assert len(media_ids(answer)) == 1

        # The admin names a moderator, who then sees the queue in App Home and approves.
        _, answer = await photos(s, admin, channel, f"moderators <#{channel.id}|photos> <@{mod.id}>")
        assert f"<@{mod.id}>" in answer["text"]
        assert (await s.send(s.slack.payloads.app_home_opened(alice))).status == 200
        home = s.slack.home_view(alice.id)
        assert home is not None and "media_approve" not in json.dumps(home)
        assert (await s.send(s.slack.payloads.app_home_opened(mod))).status == 200
        home = s.slack.home_view(mod.id)
        assert home is not None and "media_approve" in json.dumps(home)

        # alice clicking the moderator's button is refused; the moderator's click approves.
        refused = s.slack.payloads.block_actions(alice, "media_approve", view=home["id"])
        assert (await s.send(refused)).status == 200
        await s.app.idle()
        async with s.app.ctx.db.session() as session:
            [media] = (await session.execute(select(Media))).scalars().all()
            assert media.status == MediaStatus.pending
        click = s.slack.payloads.block_actions(mod, "media_approve", view=home["id"])
        assert (await s.send(click)).status == 200
        await s.app.idle()
        async with s.app.ctx.db.session() as session:
            media = (await session.execute(select(Media))).scalar_one()
            assert media.status == MediaStatus.approved
        ctx = s.app.ctx
        assert (
            await ctx.store.head(bucket=ctx.settings.bucket_approved, key=f"{media.id}/original") is not None
        )
        assert await ctx.store.list_keys(bucket=ctx.settings.bucket_pending, prefix=f"{media.id}/") == []
        _, answer = await photos(s, alice, channel, "")
        assert media_ids(answer) == [str(media.id)]


async def test_approval_survives_a_crash_between_copy_and_delete(settings: Settings) -> None:
    async with slack_scenario(settings) as s:
        alice = s.slack.add_user("alice")
        channel = s.slack.add_channel("photos", members=[alice.id])
        await s.share(channel.id, alice.id, [("p.jpg", face_photo(PHOTOS[1]))])
        await s.app.idle()
        ctx = s.app.ctx
        pending, approved = ctx.settings.bucket_pending, ctx.settings.bucket_approved
        async with ctx.db.session() as session:
            media_id: uuid.UUID = (await session.execute(select(Media.id))).scalar_one()
        keys = await ctx.store.list_keys(bucket=pending, prefix=f"{media_id}/")
        assert {k.rsplit("/", 1)[1] for k in keys} >= {"original", "thumb_h200.jpg", "desktop.jpg"}

        # Crash 1: the worker copied one object and died. The job runs again from the start.
        await ctx.store.copy(src_bucket=pending, key=keys[0], dst_bucket=approved)
        await ctx.queue.defer("approve", media_id=str(media_id), actor_id="U_ADMIN")
        await s.app.idle()
        assert sorted(await ctx.store.list_keys(bucket=approved, prefix=f"{media_id}/")) == sorted(keys)
        assert await ctx.store.list_keys(bucket=pending, prefix=f"{media_id}/") == []

        # Crash 2: recorded as approved but the pending copies are still there: a retry removes them.
        for key in keys:
            await ctx.store.copy(src_bucket=approved, key=key, dst_bucket=pending)
        assert await approval.approve(ctx, media_id=media_id, actor_id="U_ADMIN") is False
        assert await ctx.store.list_keys(bucket=pending, prefix=f"{media_id}/") == []
        assert sorted(await ctx.store.list_keys(bucket=approved, prefix=f"{media_id}/")) == sorted(keys)


async def test_tags_by_command_and_shortcut(settings: Settings) -> None:
    async with slack_scenario(settings) as s:
        alice = s.slack.add_user("alice")
        bob = s.slack.add_user("bob")
        channel = s.slack.add_channel("photos", members=[alice.id])
        message = await s.share(channel.id, alice.id, [("p.jpg", face_photo(PHOTOS[2]))], text="#Offsite")
        await s.app.idle()
        link = f"https://facetag-test.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
        _, answer = await photos(s, alice, channel, f"tag {link} #Café #team")
        assert "#café" in answer["text"] and "#offsite" in answer["text"] and "#team" in answer["text"]
        _, answer = await photos(s, alice, channel, f"untag {link} #TEAM")
        assert "#team" not in answer["text"]
        # bob is not in the channel: he cannot tag what he cannot see.
        dm = s.slack.add_im(bob.id)
        _, answer = await photos(s, bob, dm, f"tag {link} #x")
        assert "could not find" in answer["text"]

        shortcut = s.slack.payloads.message_shortcut(alice, message)
        assert (await s.send(shortcut)).status == 200
        view_id = s.slack.calls("views.open")[-1].response["view"]["id"]
        submit = s.slack.payloads.view_submission(alice, view_id, {"tags": {"tags_input": "#party, #Summer"}})
        assert (await s.send(submit)).status == 200
        _, answer = await photos(s, alice, channel, f"tag {link} #more")
        assert "#party" in answer["text"] and "#summer" in answer["text"]


async def test_admins_manage_api_tokens_from_slack(settings: Settings) -> None:
    async with slack_scenario(settings) as s:
        admin = s.slack.add_user("admin", is_admin=True)
        alice = s.slack.add_user("alice")
        channel = s.slack.add_channel("photos", members=[admin.id, alice.id])
        _, answer = await photos(s, alice, channel, "token create reports media:read")
        assert "Only facetag admins" in answer["text"]
        _, answer = await photos(s, admin, channel, f"token create reports media:read <#{channel.id}|photos>")
        secret = re.search(r"`(ft_[^`]+)`", answer["text"])
        token_id = re.search(r"\(([0-9a-f-]{36})\)", answer["text"])
        assert secret is not None and token_id is not None
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {secret[1]}"}) as http:
            async with http.get(f"{s.app.url}/api/v1/media") as response:
                assert response.status == 200
            _, answer = await photos(s, admin, channel, f"token revoke {token_id[1]}")
            assert "revoked" in answer["text"]
            async with http.get(f"{s.app.url}/api/v1/media") as response:
                assert response.status == 401


async def test_rejecting_asks_why_and_tells_the_uploader(settings: Settings) -> None:
    async with slack_scenario(settings) as s:
        admin = s.slack.add_user("admin", is_admin=True)
        alice = s.slack.add_user("alice")
        channel = s.slack.add_channel("photos", members=[admin.id, alice.id])
        message = await s.share(channel.id, alice.id, [("p.jpg", face_photo(PHOTOS[3]))])
        await s.app.idle()
        ctx = s.app.ctx
        async with ctx.db.session() as session:
            media_id = (await session.execute(select(Media.id))).scalar_one()
        assert (await s.send(s.slack.payloads.app_home_opened(admin))).status == 200
        home = s.slack.home_view(admin.id)
        assert home is not None
        click = s.slack.payloads.block_actions(admin, "media_reject", view=home["id"])
        assert (await s.send(click)).status == 200
        modal = s.slack.calls("views.open")[-1].response["view"]
        submit = s.slack.payloads.view_submission(
            admin, modal["id"], {"reason": {"reason_input": "not work related"}}
        )
        assert (await s.send(submit)).status == 200
        await s.app.idle()
        notes = [m.text for m in s.replies(message)]
        assert any("not work related" in text for text in notes), notes
        async with ctx.db.session() as session:
            assert (await session.execute(select(Media.id))).first() is None
        for bucket in ctx.settings.buckets:
            assert await ctx.store.list_keys(bucket=bucket, prefix=f"{media_id}/") == []
