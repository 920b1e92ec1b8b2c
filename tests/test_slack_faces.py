"""Photos shared in Slack become faces, suggestions and confirmed people — over signed HTTP, real pixels."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select, text
from yarl import URL

from handlers.media import STORE_FAILED, ingest
from processing import images
from storage.embedded import S3Endpoint
from storage.models import Face, FaceState, Media, Sighting
from storage.queue import DEFAULT_MAX_ATTEMPTS, JobInfo, PermanentJobError
from storage.settings import Settings
from tests.support.proxy import CuttableProxy
from tests.support.slack import SlackScenario, face_photo, slack_scenario

OBAMA = "face_recognition/examples/knn_examples/train/obama/obama.jpg"
OBAMA_2 = "face_recognition/examples/knn_examples/train/obama/obama2.jpg"
OBAMA_3 = "face_recognition/examples/knn_examples/test/obama1.jpg"
BIDEN = "face_recognition/examples/knn_examples/train/biden/biden.jpg"
BIDEN_2 = "face_recognition/examples/knn_examples/train/biden/biden2.jpg"
STRANGER = "face_recognition/examples/knn_examples/train/kit_harington/john1.jpeg"
GROUP = "dlib/examples/faces/2008_002079.jpg"  # six faces


async def _identify(
    s: SlackScenario, reply_ts: str, channel: str, face_block: str, as_user: str, by: str
) -> None:
    reply = s.slack.ws.message(channel, reply_ts)
    face_id = face_block.removeprefix("face:")
    click = s.slack.payloads.block_actions(by, "face_identify", message=reply)
    # the builder picks the first face_identify element; make sure it is the face we want
    assert click.payload["actions"][0]["value"] == face_id
    assert (await s.send(click)).status == 200
    views = s.slack.calls("views.open")
    assert views and views[-1].ok
    view_id = views[-1].response["view"]["id"]
    submit = s.slack.payloads.view_submission(
        by, view_id, {"person": {"person_select": {"type": "users_select", "selected_user": as_user}}}
    )
    assert (await s.send(submit)).status == 200
    await s.app.idle()


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket-mode"])
async def test_naming_people_then_recognising_them(settings: Settings, socket_mode: bool) -> None:
    async with slack_scenario(settings, socket_mode=socket_mode) as s:
        alice = s.slack.add_user("alice", real_name="Alice Example")
        bob = s.slack.add_user("bob", real_name="Bob Example")
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("photos", members=[alice.id, bob.id, carol.id])

        first = await s.share(channel.id, carol.id, [("obama.jpg", face_photo(OBAMA))], text="offsite #Team")
        await s.app.idle()
        [reply] = s.replies(first)
        [block] = s.face_blocks(reply)
        assert "<@" not in block["text"]["text"]  # nobody known yet
        await _identify(s, reply.ts, channel.id, block["block_id"], alice.id, by=carol.id)
        [reply] = s.replies(first)
        [block] = s.face_blocks(reply)
        assert f"<@{alice.id}>" in block["text"]["text"] and "confirmed" in block["text"]["text"]

        second = await s.share(channel.id, carol.id, [("biden.jpg", face_photo(BIDEN))])
        await s.app.idle()
        [reply2] = s.replies(second)
        [block2] = s.face_blocks(reply2)
        await _identify(s, reply2.ts, channel.id, block2["block_id"], bob.id, by=carol.id)

        # New photos of both, and a stranger, in one message: one reply per media.
        third = await s.share(
            channel.id,
            carol.id,
            [
                ("obama2.jpg", face_photo(OBAMA_2)),
                ("biden2.jpg", face_photo(BIDEN_2)),
                ("stranger.jpg", face_photo(STRANGER)),
            ],
        )
        await s.app.idle()
        replies = s.replies(third)
        assert len(replies) == 3
        texts = [" ".join(b["text"]["text"] for b in s.face_blocks(r)) for r in replies]
        assert sum(f"<@{alice.id}>" in t for t in texts) == 1
        assert sum(f"<@{bob.id}>" in t for t in texts) == 1
        assert sum("<@" not in t for t in texts) == 1  # the stranger stays unknown

        # Confirm alice's suggestion: the reply is updated with who decided.
        alice_reply = next(r for r, t in zip(replies, texts, strict=True) if f"<@{alice.id}>" in t)
        click = s.slack.payloads.block_actions(bob.id, "face_confirm", message=alice_reply)
        assert (await s.send(click)).status == 200
        await s.app.idle()
        updated = s.slack.ws.message(channel.id, alice_reply.ts)
        [block] = s.face_blocks(updated)
        assert "confirmed by" in block["text"]["text"] and f"<@{bob.id}>" in block["text"]["text"]

        # Reject bob's suggestion: recorded, never suggested again for that face.
        bob_reply = next(r for r, t in zip(replies, texts, strict=True) if f"<@{bob.id}>" in t)
        face_id = s.face_blocks(bob_reply)[0]["block_id"].removeprefix("face:")
        click = s.slack.payloads.block_actions(alice.id, "face_reject", message=bob_reply)
        assert (await s.send(click)).status == 200
        await s.app.idle()
        updated = s.slack.ws.message(channel.id, bob_reply.ts)
        rejected_text = s.face_blocks(updated)[0]["text"]["text"]
        assert f"<@{bob.id}>" not in rejected_text
        assert f"<@{alice.id}> said no" in rejected_text, "the reply says who decided"
        async with s.app.ctx.db.session() as session:
            face = await session.get(Face, __import__("uuid").UUID(face_id))
            assert face is not None and face.state == FaceState.unknown and face.person_id is None
        from handlers.recognition import suggest_for_media

        assert face is not None
        await suggest_for_media(s.app.ctx, face.media_id)
        async with s.app.ctx.db.session() as session:
            again = await session.get(Face, face.id)
            assert again is not None and again.person_id is None

        # Hashtags in the sharing message became tags.
        from storage.models import Tag

        async with s.app.ctx.db.session() as session:
            tags = (await session.execute(select(Tag.tag))).scalars().all()
        assert "team" in tags


async def test_naming_one_face_of_a_cluster_suggests_that_person_on_the_others(settings: Settings) -> None:
    """Unknown faces are clustered as they come; naming one face later suggests that person on every
    earlier face of its cluster, and their replies are updated, while other people's faces stay unknown."""
    async with slack_scenario(settings) as s:
        alice = s.slack.add_user("alice", real_name="Alice Example")
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("photos", members=[alice.id, carol.id])
        shares = {}
        for name in (OBAMA, OBAMA_2, OBAMA_3, BIDEN):  # nobody is known yet
            shares[name] = await s.share(channel.id, carol.id, [("photo.jpg", face_photo(name))])
            await s.app.idle()
        face_ids = {}
        for name, message in shares.items():
            [reply] = s.replies(message)
            [block] = s.face_blocks(reply)
            assert "<@" not in block["text"]["text"]
            face_ids[name] = uuid.UUID(block["block_id"].removeprefix("face:"))
        async with s.app.ctx.db.session() as session:
            faces = {f.id: f for f in (await session.execute(select(Face))).scalars()}
        clusters = {name: faces[face_ids[name]].cluster_id for name in shares}
        assert clusters[OBAMA] is not None
        assert clusters[OBAMA] == clusters[OBAMA_2] == clusters[OBAMA_3] != clusters[BIDEN]

        [first] = s.replies(shares[OBAMA])
        await _identify(s, first.ts, channel.id, f"face:{face_ids[OBAMA]}", alice.id, by=carol.id)

        for name in (OBAMA_2, OBAMA_3):
            [reply] = s.replies(shares[name])
            [block] = s.face_blocks(reply)
            assert f"<@{alice.id}>" in block["text"]["text"], name
            buttons = {e["action_id"] for b in reply.blocks or [] for e in b.get("elements", [])}
            assert {"face_confirm", "face_reject"} <= buttons
        [reply] = s.replies(shares[BIDEN])
        assert "<@" not in s.face_blocks(reply)[0]["text"]["text"]
        async with s.app.ctx.db.session() as session:
            states = {f.id: (f.state, f.person_id) for f in (await session.execute(select(Face))).scalars()}
        person = states[face_ids[OBAMA]][1]
        assert states[face_ids[OBAMA]] == (FaceState.confirmed, person) and person is not None
        assert states[face_ids[OBAMA_2]] == states[face_ids[OBAMA_3]] == (FaceState.suggested, person)
        assert states[face_ids[BIDEN]] == (FaceState.unknown, None)


async def test_two_faces_in_one_photo_are_never_the_same_person(settings: Settings) -> None:
    """Both faces of a collage of two photos of one man match him; only the closer one is suggested."""
    collage = Image.new("RGB", (1200, 600), "white")
    for i, name in enumerate((OBAMA_2, OBAMA_3)):
        with Image.open(io.BytesIO(face_photo(name))) as photo:
            cell = photo.convert("RGB")
        cell.thumbnail((600, 600))
        collage.paste(cell, (600 * i, 0))
    both = io.BytesIO()
    collage.save(both, format="JPEG", quality=90)
    async with slack_scenario(settings) as s:
        alice = s.slack.add_user("alice")
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("photos", members=[alice.id, carol.id])
        first = await s.share(channel.id, carol.id, [("obama.jpg", face_photo(OBAMA))])
        await s.app.idle()
        [reply] = s.replies(first)
        await _identify(s, reply.ts, channel.id, s.face_blocks(reply)[0]["block_id"], alice.id, by=carol.id)

        message = await s.share(channel.id, carol.id, [("both.jpg", both.getvalue())])
        await s.app.idle()
        [reply] = s.replies(message)
        blocks = s.face_blocks(reply)
        texts = [b["text"]["text"] for b in blocks]
        assert len(texts) == 2
        assert sum(f"<@{alice.id}>" in t for t in texts) == 1, texts

        # Naming the other face as him moves him there: still one face of his in the photo.
        other = next(b for b in blocks if f"<@{alice.id}>" not in b["text"]["text"])
        await _identify(s, reply.ts, channel.id, other["block_id"], alice.id, by=carol.id)
        [reply] = s.replies(message)
        now = {b["block_id"]: b["text"]["text"] for b in s.face_blocks(reply)}
        assert f"<@{alice.id}>" in now[other["block_id"]] and "confirmed" in now[other["block_id"]]
        assert sum(f"<@{alice.id}>" in t for t in now.values()) == 1, now


async def test_group_photo_faces_each_get_a_block_and_the_bots_own_upload_is_ignored(
    settings: Settings,
) -> None:
    async with slack_scenario(settings) as s:
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("photos", members=[carol.id])
        message = await s.share(channel.id, carol.id, [("group.jpg", face_photo(GROUP))])
        await s.app.idle()
        [reply] = s.replies(message)
        blocks = s.face_blocks(reply)
        assert len(blocks) >= 5
        assert any(b.get("type") == "image" and "slack_file" in b for b in reply.blocks or [])
        actions = [b for b in reply.blocks or [] if str(b.get("block_id", "")).startswith("face_actions:")]
        assert {a["block_id"].split(":", 1)[1] for a in actions} == {
            b["block_id"].split(":", 1)[1] for b in blocks
        }
        assert len(reply.blocks or []) <= 50

        # The numbered picture the bot uploaded comes back as Slack's events for any upload
        # (`message/file_share` and `file_shared`, from the bot's user, which `auth.test` told it):
        # ignored.
        [picture] = [f for f in s.slack.ws.files.values() if f.user == s.slack.bot_user_id]
        assert picture.name.startswith("faces-")
        own = s.slack.payloads.file_upload(channel.id, s.slack.bot_user_id, [picture], thread_ts=message.ts)
        for request in own:
            assert (await s.send(request)).status == 200
        await s.app.idle()
        own_ts = own[0].payload["event"]["ts"]
        async with s.app.ctx.db.session() as session:
            assert (await session.execute(select(func.count()).select_from(Sighting))).scalar_one() == 1
        assert [d.file_id for d in s.slack.downloads if d.file_id == picture.id] == []
        assert [m.ts for m in s.replies(message) if m.ts != own_ts] == [reply.ts], "no reply to itself"


async def test_duplicate_deliveries_process_the_file_once(settings: Settings) -> None:
    async with slack_scenario(settings) as s:
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("photos", members=[carol.id])
        file = s.slack.add_file(carol.id, "obama.jpg", face_photo(OBAMA))
        requests = s.slack.payloads.file_upload(channel.id, carol.id, [file])
        for request in requests:
            assert (await s.send(request)).status == 200
        assert (await s.send(requests[0].retry(1))).status == 200
        assert (await s.send(requests[1].retry(2, "http_error"))).status == 200
        await s.app.idle()
        async with s.app.ctx.db.session() as session:
            assert (await session.execute(select(func.count()).select_from(Sighting))).scalar_one() == 1
            assert (await session.execute(select(func.count()).select_from(Media))).scalar_one() == 1
        assert len([d for d in s.slack.downloads if d.authorized]) == 1
        ts = requests[0].payload["event"]["ts"]
        message = s.slack.ws.message(channel.id, ts)
        assert len(s.replies(message)) == 1

        # The same bytes shared again in another message: one media, two sightings, two replies.
        again = await s.share(channel.id, carol.id, [("copy.jpg", face_photo(OBAMA))])
        await s.app.idle()
        async with s.app.ctx.db.session() as session:
            assert (await session.execute(select(func.count()).select_from(Sighting))).scalar_one() == 2
            assert (await session.execute(select(func.count()).select_from(Media))).scalar_one() == 1
        assert len(s.replies(again)) == 1

        # New bytes shared in two messages at once: one media, and each message gets its reply
        # (whichever ingest registers second waits for, or follows, the one processing the bytes).
        both = await asyncio.gather(
            *(s.share(channel.id, carol.id, [(f"same{i}.jpg", face_photo(BIDEN))]) for i in range(2))
        )
        await s.app.idle()
        async with s.app.ctx.db.session() as session:
            assert (await session.execute(select(func.count()).select_from(Sighting))).scalar_one() == 4
            assert (await session.execute(select(func.count()).select_from(Media))).scalar_one() == 2
        assert [len(s.replies(m)) for m in both] == [1, 1]


async def test_a_pixel_process_dying_mid_ingest_loses_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New media are processed inside their ingest job; when that fails on the way (here the pixel
    process dies once), the retried ingest hands the stored original to a `process` job."""
    async with slack_scenario(settings) as s:
        real_run = s.app.ctx.pixels.run
        deaths: list[str] = []

        async def dies_once(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            if not deaths:
                deaths.append(str(fn))
                raise BrokenProcessPool("a pixel process died")
            return await real_run(fn, *args, **kwargs)

        monkeypatch.setattr(s.app.ctx.pixels, "run", dies_once)
        dana = s.slack.add_user("dana")
        channel = s.slack.add_channel("photos", members=[dana.id])
        message = await s.share(channel.id, dana.id, [("obama.jpg", face_photo(OBAMA))])
        await s.app.idle(within=60)
        assert deaths
        [reply] = s.replies(message)
        assert len(s.face_blocks(reply)) == 1
        async with s.app.ctx.db.session() as session:
            [media] = (await session.execute(select(Media))).scalars().all()
            assert media.status.value == "pending"
            jobs = (
                await session.execute(
                    text("SELECT task_name, status::text, attempts FROM procrastinate_jobs")
                )
            ).all()
        assert ("ingest", "succeeded", 2) in {tuple(j) for j in jobs}, jobs
        assert ("process", "succeeded", 1) in {tuple(j) for j in jobs}, jobs


async def test_a_slack_outage_delays_the_reply_and_loses_nothing(settings: Settings) -> None:
    """files.info, the file download and the reply's chat.postMessage each fail once with a 5xx: the
    jobs retry with backoff, and the photo is stored once, processed once and replied to once."""
    async with slack_scenario(settings) as s:
        erin = s.slack.add_user("erin")
        channel = s.slack.add_channel("photos", members=[erin.id])
        s.slack.fail_next("files.info", status=503)
        s.slack.fail_next("files-pri", status=500)
        s.slack.fail_next("chat.postMessage", status=503)
        message = await s.share(channel.id, erin.id, [("obama.jpg", face_photo(OBAMA))])
        await s.app.idle(within=90)

        [reply] = s.replies(message)
        assert len(s.face_blocks(reply)) == 1
        for method in ("files.info", "chat.postMessage"):
            assert [c.status for c in s.slack.calls(method)][:2] == [503, 200], method
        assert [d.status for d in s.slack.downloads] == [500, 200]
        async with s.app.ctx.db.session() as session:
            [media] = (await session.execute(select(Media))).scalars().all()
            faces = (await session.execute(select(func.count()).select_from(Face))).scalar_one()
            jobs = (
                await session.execute(text("SELECT task_name, status::text FROM procrastinate_jobs"))
            ).all()
        assert faces == 1
        assert {tuple(j) for j in jobs} == {("ingest", "succeeded"), ("reply", "succeeded")}, jobs
        keys = await s.app.ctx.store.list_keys(bucket=settings.bucket_pending, prefix=f"{media.id}/")
        assert f"{media.id}/original" in keys


async def _ingest_failed(s: SlackScenario) -> bool:
    """An ingest job has run and failed at least once (procrastinate counts finished runs)."""
    async with s.app.ctx.db.session() as session:
        attempts = await session.scalar(
            text("SELECT max(attempts) FROM procrastinate_jobs WHERE task_name = 'ingest'")
        )
    return bool(attempts)


async def test_an_s3_outage_delays_the_reply_and_loses_nothing(settings: Settings, s3: S3Endpoint) -> None:
    """The object store goes away as a photo is shared: the ingest fails and is retried with backoff;
    once S3 is back the photo is stored, processed and replied to once, and failed tries left nothing."""
    async with (
        CuttableProxy(target_host="127.0.0.1", target_port=URL(s3.url).port or 80) as proxy,
        slack_scenario(settings, s3_endpoint_url=f"http://127.0.0.1:{proxy.port}") as s,
    ):
        finn = s.slack.add_user("finn")
        channel = s.slack.add_channel("photos", members=[finn.id])
        before = set(await s.app.ctx.store.list_keys(bucket=settings.bucket_pending))
        proxy.cut()
        message = await s.share(channel.id, finn.id, [("obama.jpg", face_photo(OBAMA))])

        await s.app.until(lambda: _ingest_failed(s), within=60)
        assert proxy.cut_connections > 0 and s.replies(message) == []
        proxy.restore()
        await s.app.idle(within=90)

        [reply] = s.replies(message)
        assert len(s.face_blocks(reply)) == 1
        async with s.app.ctx.db.session() as session:
            [media] = (await session.execute(select(Media))).scalars().all()
        assert media.status.value == "pending"
        added = set(await s.app.ctx.store.list_keys(bucket=settings.bucket_pending)) - before
        assert f"{media.id}/original" in added
        assert {key.split("/")[0] for key in added} == {str(media.id)}, "nothing left by failed tries"


async def test_s3_down_through_the_last_try_tells_the_thread_once(settings: Settings, s3: S3Endpoint) -> None:
    async with (
        CuttableProxy(target_host="127.0.0.1", target_port=URL(s3.url).port or 80) as proxy,
        slack_scenario(settings, s3_endpoint_url=f"http://127.0.0.1:{proxy.port}") as s,
    ):
        gina = s.slack.add_user("gina")
        channel = s.slack.add_channel("photos", members=[gina.id])
        proxy.cut()
        message = await s.share(channel.id, gina.id, [("obama.jpg", face_photo(OBAMA))])
        await s.app.until(lambda: _ingest_failed(s), within=60)
        assert s.replies(message) == [], "a try that is not the last says nothing"

        async with s.app.ctx.db.session() as session:
            sighting_id = str(await session.scalar(select(Sighting.id)))
        last = JobInfo(
            id=0, task="ingest", attempt=DEFAULT_MAX_ATTEMPTS - 1, max_attempts=DEFAULT_MAX_ATTEMPTS
        )
        for _ in range(2):  # the last try, and any run after it
            with pytest.raises(PermanentJobError):
                await ingest(s.app.ctx, last, sighting_id=sighting_id)
        [reply] = s.replies(message)
        assert reply.text == STORE_FAILED


async def test_a_heic_photo_shared_in_a_dm_is_answered_there(settings: Settings) -> None:
    """An iPhone photo (HEIC) sent to the bot in a direct message: renditions, the face, a reply."""
    images.enable_heif()
    with Image.open(io.BytesIO(face_photo(OBAMA))) as photo:
        heic = io.BytesIO()
        photo.convert("RGB").save(heic, format="HEIF", quality=80)
    async with slack_scenario(settings) as s:
        dana = s.slack.add_user("dana")
        dm = s.slack.add_im(dana.id)
        message = await s.share(dm.id, dana.id, [("IMG_0001.HEIC", heic.getvalue())])
        await s.app.idle()
        [reply] = s.replies(message)
        assert reply.channel == dm.id and len(s.face_blocks(reply)) == 1
        async with s.app.ctx.db.session() as session:
            [media] = (await session.execute(select(Media))).scalars().all()
        thumb = await s.app.ctx.store.get_bytes(
            bucket=settings.bucket_pending, key=f"{media.id}/thumb_h200.jpg"
        )
        with Image.open(io.BytesIO(thumb)) as rendition:
            assert rendition.format == "JPEG" and rendition.height == 200


async def test_forged_and_stale_signatures_are_refused(settings: Settings) -> None:
    async with slack_scenario(settings) as s:
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("photos", members=[carol.id])
        file = s.slack.add_file(carol.id, "obama.jpg", face_photo(OBAMA))
        request = s.slack.payloads.message(channel.id, carol.id, "hi", files=[file])
        forged = await s.send(request, secret="not-the-signing-secret")
        stale = await s.send(request, timestamp=int(time.time()) - 600)
        assert forged.status == 401 and stale.status == 401
        async with s.app.ctx.db.session() as session:
            assert (await session.execute(select(func.count()).select_from(Sighting))).scalar_one() == 0


async def test_bad_files_get_one_plain_sentence(settings: Settings) -> None:
    async with slack_scenario(settings, max_upload_bytes=200_000) as s:
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("photos", members=[carol.id])
        text_file = await s.share(
            channel.id, carol.id, [("notes.txt", b"just some text, not a photo\n" * 10)]
        )
        corrupt = await s.share(channel.id, carol.id, [("broken.jpg", face_photo(OBAMA)[:3000])])
        big = await s.share(channel.id, carol.id, [("big.jpg", face_photo(GROUP) + b"\0" * 300_000)])
        await s.app.idle()
        s.slack.fail_next("files.info", error="file_deleted", times=2)  # file_shared asks too
        gone = await s.share(channel.id, carol.id, [("gone.jpg", face_photo(GROUP))])
        await s.app.idle()
        cases = ((text_file, "type of file"), (corrupt, "damaged"), (big, "larger"), (gone, "deleted"))
        for message, words in cases:
            [reply] = s.replies(message)
            assert words in reply.text, reply.text
            assert "Traceback" not in reply.text and "\n" not in reply.text.strip()
        async with s.app.ctx.db.session() as session:
            jobs = (
                await session.execute(text("SELECT status::text, attempts FROM procrastinate_jobs"))
            ).all()
        assert {tuple(j) for j in jobs} == {("failed", 1)}, "each failed at once, for good"


async def test_missing_files_read_scope_is_reported(settings: Settings) -> None:
    async with slack_scenario(settings) as s:
        s.slack.bot_scopes.discard("files:read")
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("photos", members=[carol.id])
        message = await s.share(channel.id, carol.id, [("obama.jpg", face_photo(OBAMA))])
        await s.app.idle()
        [reply] = s.replies(message)
        assert "files:read" in reply.text
