"""Videos shared in Slack: who appears when, confirmed like photo faces, found by search (real stack)."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any, cast

import av
import pytest
from PIL import Image
from sqlalchemy import select, text

from processing.results import DESKTOP_NAME, THUMB_NAME
from storage.models import Face, FaceState, Media, MediaKind, MediaStatus
from storage.settings import Settings
from tests.fakes.slack_workspace import Message
from tests.support.shared import FACES
from tests.support.slack import SlackScenario, face_photo, slack_scenario

TALKING_HEAD = "sadtalker/examples/ref_video/WDA_AlexandriaOcasioCortez_000.mp4"  # 8 s, one person
CROWD = "facenet-pytorch/examples/video.mp4"  # 4.2 s, pedestrians walking toward the camera


def still_of(relative: str, *, at_s: float = 1.0) -> bytes:
    """A real frame of a clip as a JPEG: "the photo" of the person in it."""
    with av.open(str(FACES / relative)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= at_s:
                image: Image.Image = cast(Any, frame).to_image()
                break
        else:
            raise AssertionError("clip shorter than expected")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


async def _identify(s: SlackScenario, reply: Message, *, as_user: str, by: str) -> str:
    [block] = s.face_blocks(reply)
    click = s.slack.payloads.block_actions(by, "face_identify", message=reply)
    assert click.payload["actions"][0]["value"] == block["block_id"].removeprefix("face:")
    assert (await s.send(click)).status == 200
    view_id = s.slack.calls("views.open")[-1].response["view"]["id"]
    submit = s.slack.payloads.view_submission(
        by, view_id, {"person": {"person_select": {"type": "users_select", "selected_user": as_user}}}
    )
    assert (await s.send(submit)).status == 200
    await s.app.idle()
    return str(block["block_id"]).removeprefix("face:")


async def _photos(s: SlackScenario, user: str, channel: str, query: str) -> dict[str, Any]:
    request = s.slack.payloads.slash_command(user, channel, query)
    assert (await s.send(request)).status == 200
    posts = s.slack.response_url_posts(str(request.payload["response_url"]))
    assert posts, "no answer to /photos"
    return posts[-1]


async def _approve_all(s: SlackScenario, admin: str) -> None:
    for _ in range(5):
        assert (await s.send(s.slack.payloads.app_home_opened(admin))).status == 200
        home = s.slack.home_view(admin)
        assert home is not None
        if "media_approve" not in json.dumps(home):
            return
        assert (
            await s.send(s.slack.payloads.block_actions(admin, "media_approve", view=home["id"]))
        ).status == 200
        await s.app.idle()
    raise AssertionError("media still pending")


async def _faces_of(s: SlackScenario, media_id: uuid.UUID) -> list[Face]:
    async with s.app.ctx.db.session() as session:
        rows = await session.execute(select(Face).where(Face.media_id == media_id).order_by(Face.ordinal))
        return list(rows.scalars())


async def _media_of(s: SlackScenario, filename: str) -> Media:
    async with s.app.ctx.db.session() as session:
        return (await session.execute(select(Media).where(Media.filename == filename))).scalar_one()


async def test_person_named_from_a_photo_is_recognised_in_a_video_and_found_by_search(
    settings: Settings,
) -> None:
    async with slack_scenario(settings) as s:
        admin = s.slack.add_user("admin", is_admin=True)
        alice = s.slack.add_user("alice", real_name="Alice Example")
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("videos", members=[admin.id, alice.id, carol.id])

        # The photo: a still of the talking head, named through "Who is this?".
        photo = await s.share(channel.id, carol.id, [("still.jpg", still_of(TALKING_HEAD))])
        await s.app.idle()
        [photo_reply] = s.replies(photo)
        await _identify(s, photo_reply, as_user=alice.id, by=carol.id)

        # The video: alice is suggested, over (almost) the whole clip.
        data = (FACES / TALKING_HEAD).read_bytes()
        shared = await s.share(channel.id, carol.id, [("talk.mp4", data)], text="#interview")
        await s.app.idle()
        [reply] = s.replies(shared)
        media = await _media_of(s, "talk.mp4")
        assert media.kind == MediaKind.video and media.status == MediaStatus.pending
        assert media.duration_s == pytest.approx(8.0, abs=0.1)
        faces = await _faces_of(s, media.id)
        assert len(faces) == 1, [f.segments for f in faces]  # one person, not one face per frame
        [face] = faces
        assert face.state == FaceState.suggested
        covered = sum(b - a for a, b in face.segments or [])
        assert covered >= 0.9 * 8.0, face.segments
        [block] = s.face_blocks(reply)
        line = block["text"]["text"]
        assert f"<@{alice.id}>" in line and "0:00–0:0" in line, line
        assert any(b.get("type") == "image" and "slack_file" in b for b in reply.blocks or [])
        for rendition in (THUMB_NAME, DESKTOP_NAME):
            jpeg = await s.app.ctx.store.get_bytes(bucket=media.bucket or "", key=f"{media.id}/{rendition}")
            with Image.open(io.BytesIO(jpeg)) as poster:
                assert poster.format == "JPEG"
                if rendition == THUMB_NAME:
                    assert poster.height == 200

        # Confirm the track: it trains the recogniser like a photo face.
        click = s.slack.payloads.block_actions(alice.id, "face_confirm", message=reply)
        assert click.payload["actions"][0]["value"] == str(face.id)
        assert (await s.send(click)).status == 200
        await s.app.idle()
        updated = s.slack.ws.message(channel.id, reply.ts)
        [block] = s.face_blocks(updated)
        assert "confirmed by" in block["text"]["text"] and f"<@{alice.id}>" in block["text"]["text"]
        [face] = await _faces_of(s, media.id)
        assert face.state == FaceState.confirmed and face.person_id is not None

        # The admin approves what is pending (the still and the video) from App Home.
        await _approve_all(s, admin.id)

        # Search: the video with her time ranges and presigned links; photos are left out.
        answer = await _photos(s, carol.id, channel.id, f"type:video <@{alice.id}|alice>")
        results = [b for b in answer["blocks"] if str(b.get("block_id", "")).startswith("media:")]
        assert [b["block_id"] for b in results] == [f"media:{media.id}"], answer
        result_text = results[0]["text"]["text"]
        assert f"<@{alice.id}>" in result_text and "(0:00–0:0" in result_text, result_text
        assert "X-Amz-Signature=" in result_text and "|original>" in result_text


async def test_crowd_clip_yields_a_few_people_not_one_per_frame(settings: Settings) -> None:
    async with slack_scenario(settings) as s:
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("videos", members=[carol.id])
        shared = await s.share(channel.id, carol.id, [("crowd.mp4", (FACES / CROWD).read_bytes())])
        await s.app.idle()
        media = await _media_of(s, "crowd.mp4")
        faces = await _faces_of(s, media.id)
        info: dict[str, Any] = dict(media.info or {})
        detections, sampled = int(info["detections"]), int(info["sampled_frames"])
        assert len(faces) >= 3, len(faces)
        assert len(faces) * 3 <= detections, (len(faces), detections)  # tracks, not detections
        assert len(faces) < sampled
        assert all(f.segments for f in faces)
        [reply] = s.replies(shared)
        blocks = s.face_blocks(reply)
        assert len(blocks) == len(faces) and len(reply.blocks or []) <= 50
        assert f"Found {len(faces)} people in this video" in reply.text


def _truncated(relative: str, fraction: float) -> bytes:
    data = (FACES / relative).read_bytes()
    return data[: int(len(data) * fraction)]


async def test_truncated_and_disguised_files_get_one_sentence_and_no_retries(
    settings: Settings, tmp_path: Path
) -> None:
    async with slack_scenario(settings) as s:
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("videos", members=[carol.id])
        cut = await s.share(channel.id, carol.id, [("cut.mp4", _truncated(CROWD, 0.3))])
        cut_head = await s.share(channel.id, carol.id, [("cut2.mp4", _truncated(TALKING_HEAD, 0.3))])
        disguised = await s.share(channel.id, carol.id, [("clip.mp4", b"not a video at all\n" * 200)])
        photo_as_video = await s.share(
            channel.id, carol.id, [("clip.mov", face_photo("face_recognition/examples/obama-480p.jpg"))]
        )
        await s.app.idle()
        for message, words in (
            (cut, ("damaged", "incomplete")),
            (cut_head, ("damaged", "incomplete")),
            (disguised, ("type of file",)),
        ):
            [reply] = s.replies(message)
            assert any(w in reply.text for w in words), reply.text
            assert "Traceback" not in reply.text and "\n" not in reply.text.strip()
            assert not reply.blocks or not s.face_blocks(reply)
        # Bytes decide, not the name: a JPEG called .mov is a photo.
        [reply] = s.replies(photo_as_video)
        assert "photo" in reply.text and len(s.face_blocks(reply)) == 1

        async with s.app.ctx.db.session() as session:
            jobs = (
                await session.execute(
                    text(
                        "SELECT task_name, status::text, attempts FROM procrastinate_jobs "
                        "WHERE task_name IN ('ingest', 'process')"
                    )
                )
            ).all()
            failed_media = (
                (await session.execute(select(Media).where(Media.status == MediaStatus.failed)))
                .scalars()
                .all()
            )
        failed = [(name, status, attempts) for name, status, attempts in jobs if status == "failed"]
        # cut.mp4 and cut2.mp4 fail while processing, clip.mp4 while downloading; all three in their
        # ingest job (new media are processed there), each once, never retried.
        assert sorted(name for name, _, _ in failed) == ["ingest", "ingest", "ingest"], jobs
        assert all(attempts == 1 for _, _, attempts in failed), jobs
        assert {m.filename for m in failed_media} == {"cut.mp4", "cut2.mp4"}
        assert all(m.error and "\n" not in m.error for m in failed_media)
        notifies = [
            c
            for c in s.slack.calls("chat.postMessage")
            if c.args.get("thread_ts") in {cut.ts, cut_head.ts, disguised.ts}
        ]
        assert len(notifies) == 3
