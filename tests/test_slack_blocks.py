"""The thread reply's blocks stay within Block Kit's limits for any number of faces, and keep the
automation contract (`face:<id>` blocks, `face_actions:<id>`, the buttons' action ids and values)."""

from __future__ import annotations

import uuid

import pytest

from bot.slack.blocks import media_blocks
from handlers.ports import FaceView, MediaView, PersonView
from tests.fakes.slack_blocks import MESSAGE_MAX_BLOCKS, block_errors

ALICE = PersonView(id=uuid.uuid4(), name="Alice", slack_user_id="U0ALICE", teams_aad_id=None)
STATES = ("unknown", "suggested", "confirmed")


def view(count: int) -> MediaView:
    faces = tuple(
        FaceView(
            id=uuid.uuid4(),
            ordinal=i + 1,
            state=STATES[i % 3],
            person=None if i % 3 == 0 else ALICE,
            confidence=0.9 if i % 3 == 1 else None,
            decided_by="U0CAROL" if i % 3 == 2 else None,
        )
        for i in range(count)
    )
    return MediaView(
        id=uuid.uuid4(), kind="photo", status="pending", filename="p.jpg", faces=faces, annotated_jpeg=b""
    )


@pytest.mark.parametrize("count", [0, 1, 7, 24, 25, 47, 48, 120])
def test_every_face_count_fits_and_keeps_the_contract(count: int) -> None:
    media = view(count)
    text, blocks = media_blocks(media, image_file_id="F0PICTURE")
    assert text
    assert block_errors(blocks, max_blocks=MESSAGE_MAX_BLOCKS, is_known_file=lambda _: True) == []
    by_id = {b.get("block_id"): b for b in blocks}
    listed = [f for f in media.faces if f"face:{f.id}" in by_id]
    assert [f.ordinal for f in listed] == list(range(1, len(listed) + 1)), "faces listed in order"
    room = MESSAGE_MAX_BLOCKS - 2  # the summary and the numbered picture come first
    assert len(listed) == (count if count <= room else room - 1), "all, or all but a closing line's room"
    for face in listed:
        section = by_id[f"face:{face.id}"]
        actions = by_id.get(f"face_actions:{face.id}")
        buttons = actions["elements"] if actions else [section["accessory"]]
        assert {b["value"] for b in buttons} == {str(face.id)}
        assert {b["action_id"] for b in buttons} <= {"face_confirm", "face_reject", "face_identify"}
        if face.person is not None:
            assert "<@U0ALICE>" in section["text"]["text"]
    if count > len(listed):
        assert f"…and {count - len(listed)} more faces" in blocks[-1]["elements"][0]["text"]
    if count <= (MESSAGE_MAX_BLOCKS - 2) // 2:  # room for every face's own actions block
        assert all(f"face_actions:{f.id}" in by_id for f in media.faces)
