"""Block Kit rendering of handler views, within Slack's limits."""

from __future__ import annotations

from typing import Any

from handlers.ports import FaceView, MediaView

Block = dict[str, Any]

MAX_BLOCKS = 50
SECTION_TEXT = 3000
BUTTON_TEXT = 75


def _fmt_time(seconds: float) -> str:
    whole = int(seconds)
    return (
        f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
        if whole >= 3600
        else f"{whole // 60}:{whole % 60:02d}"
    )


def segments_text(segments: tuple[tuple[float, float], ...]) -> str:
    return ", ".join(f"{_fmt_time(a)}–{_fmt_time(b)}" for a, b in segments)


def who(face: FaceView) -> str:
    if face.person is None:
        return "Unknown"
    if face.person.slack_user_id:
        return f"<@{face.person.slack_user_id}>"
    return face.person.name


def face_line(face: FaceView) -> str:
    when = f" · {segments_text(face.segments)}" if face.segments else ""
    if face.state == "confirmed":
        by = f" (confirmed by <@{face.decided_by}>)" if face.decided_by else " (confirmed)"
        return f"*{face.ordinal}.* ✅ {who(face)}{by}{when}"
    if face.state == "suggested":
        pct = f", {face.confidence:.0%} sure" if face.confidence is not None else ""
        return f"*{face.ordinal}.* Is this {who(face)}? (suggested{pct}){when}"
    rejected = f" (<@{face.decided_by}> said no to the suggestion)" if face.decided_by else ""
    return f"*{face.ordinal}.* Unknown face{rejected}{when}"


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:BUTTON_TEXT], "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def face_buttons(face: FaceView) -> list[Block]:
    value = str(face.id)
    if face.state == "suggested":
        return [
            _button("Yes, confirm", "face_confirm", value, "primary"),
            _button("No, not them", "face_reject", value),
            _button("Who is this?", "face_identify", value),
        ]
    if face.state == "confirmed":
        return [_button("Not them", "face_reject", value), _button("Who is this?", "face_identify", value)]
    return [_button("Who is this?", "face_identify", value)]


def _summary(view: MediaView) -> str:
    noun = "video" if view.kind == "video" else "photo"
    if not view.faces:
        return f"No faces found in this {noun}."
    named = sum(1 for f in view.faces if f.state == "confirmed")
    suggested = sum(1 for f in view.faces if f.state == "suggested")
    count = (
        f"{len(view.faces)} face{'s' if len(view.faces) != 1 else ''}"
        if view.kind == "photo"
        else (f"{len(view.faces)} {'people' if len(view.faces) != 1 else 'person'}")
    )
    parts = [f"Found {count} in this {noun}"]
    if named:
        parts.append(f"{named} confirmed")
    if suggested:
        parts.append(f"{suggested} suggested")
    return ", ".join(parts) + "."


def media_blocks(view: MediaView, *, image_file_id: str | None) -> tuple[str, list[Block]]:
    """The reply for one media: summary, the numbered picture, then one block per face with buttons.

    Faces get a section and an actions block each while they fit in 50 blocks; beyond that a
    face gets one section with its most useful button, and past 50 a closing line counts the rest."""
    text = _summary(view)
    status = " Pending approval." if view.status == "pending" else ""
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": text + status}}]
    if image_file_id:
        blocks.append(
            {
                "type": "image",
                "slack_file": {"id": image_file_id},
                "alt_text": "The picture with a number on each face",
            }
        )
    room = MAX_BLOCKS - len(blocks)
    faces = list(view.faces)
    if len(faces) > room:  # not every face gets a block: keep one for the closing line
        room -= 1
    shown = faces[:room]
    full = max(0, room - len(shown))  # faces that can have two blocks
    order = sorted(shown, key=lambda f: (f.state != "suggested", f.ordinal))
    two_block = {f.id for f in order[:full]}
    for face in shown:
        section: Block = {
            "type": "section",
            "block_id": f"face:{face.id}",
            "text": {"type": "mrkdwn", "text": face_line(face)[:SECTION_TEXT]},
        }
        buttons = face_buttons(face)
        if face.id in two_block:
            blocks.append(section)
            blocks.append({"type": "actions", "block_id": f"face_actions:{face.id}", "elements": buttons})
        else:
            section["accessory"] = buttons[0]
            blocks.append(section)
    if len(faces) > len(shown):
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"…and {len(faces) - len(shown)} more faces not listed here."}
                ],
            }
        )
    return text, blocks


def identify_modal(*, face_id: str, ordinal: int | None, image_file_id: str | None) -> Block:
    blocks: list[Block] = []
    if image_file_id:
        blocks.append(
            {"type": "image", "slack_file": {"id": image_file_id}, "alt_text": "The faces, numbered"}
        )
    label = f"Who is face {ordinal}?" if ordinal else "Who is this?"
    blocks.append(
        {
            "type": "input",
            "block_id": "person",
            "label": {"type": "plain_text", "text": label},
            "element": {
                "type": "users_select",
                "action_id": "person_select",
                "placeholder": {"type": "plain_text", "text": "Pick a person"},
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": "face_identify",
        "private_metadata": face_id,
        "title": {"type": "plain_text", "text": "Who is this?"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }
