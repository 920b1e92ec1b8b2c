"""Adaptive Card (v1.5) rendering of handler views, within Teams' size limits.

A Teams message (card included) must stay under ~28 KB, so the card is built without the picture
first, then the annotated picture is re-encoded as small as needed to fit the space left (or dropped).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from handlers.ports import FaceView, MediaView

Card = dict[str, Any]

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
VERSION = "1.5"
MAX_CARD_BYTES = 26_000  # the whole activity must stay under Teams' ~28 KB
FULL_FACES = 20  # faces shown with their buttons; the rest are summarised
MAX_CHOICES = 200
MAX_LISTED = 60  # faces beyond FULL_FACES named in the closing line
_IMAGE_STEPS = ((800, 70), (640, 60), (480, 55), (360, 50), (280, 45), (200, 40))
_DATA_URI = "data:image/jpeg;base64,"

VERB_CONFIRM = "face_confirm"
VERB_REJECT = "face_reject"
VERB_IDENTIFY = "face_identify"
PERSON_INPUT = "person_select"
MEMBERS_DATASET = "members"  # the identify ChoiceSet's typeahead (`application/search`) over the roster


@dataclass(frozen=True, slots=True)
class Member:
    """A roster entry the identify ChoiceSet offers."""

    aad_object_id: str
    name: str


def _fmt_time(seconds: float) -> str:
    whole = int(seconds)
    if whole >= 3600:
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return f"{whole // 60}:{whole % 60:02d}"


def segments_text(segments: tuple[tuple[float, float], ...]) -> str:
    return ", ".join(f"{_fmt_time(a)}–{_fmt_time(b)}" for a, b in segments)


def _plain(text: str) -> str:
    """Names and file names go into TextBlocks as they are, minus what could forge an `<at>` mention."""
    return text.replace("<", "").replace(">", "")


class _Mentions:
    """Teams mentions in a card: `<at>Name</at>` in the text plus an msteams entity per person."""

    def __init__(self) -> None:
        self.entities: list[Card] = []
        self._seen: set[str] = set()

    def who(self, face: FaceView) -> str:
        if face.person is None:
            return "an unknown person"
        name = _plain(face.person.name)
        if face.person.teams_aad_id:
            text = f"<at>{name}</at>"
            if face.person.teams_aad_id not in self._seen:
                self._seen.add(face.person.teams_aad_id)
                self.entities.append(
                    {
                        "type": "mention",
                        "text": text,
                        "mentioned": {"id": face.person.teams_aad_id, "name": name},
                    }
                )
            return text
        return _plain(name)


def summary(view: MediaView) -> str:
    noun = "video" if view.kind == "video" else "photo"
    if not view.faces:
        return f"No faces found in this {noun}."
    n = len(view.faces)
    count = (
        f"{n} face{'s' if n != 1 else ''}"
        if view.kind != "video"
        else f"{n} {'people' if n != 1 else 'person'}"
    )
    parts = [f"Found {count} in this {noun}"]
    named = sum(1 for f in view.faces if f.state == "confirmed")
    suggested = sum(1 for f in view.faces if f.state == "suggested")
    if named:
        parts.append(f"{named} confirmed")
    if suggested:
        parts.append(f"{suggested} suggested")
    return ", ".join(parts) + "."


def face_text(face: FaceView, mentions: _Mentions) -> str:
    if face.state == "confirmed":
        return f"**{face.ordinal}.** ✅ {mentions.who(face)} (confirmed)"
    if face.state == "suggested":
        pct = f", {face.confidence:.0%} sure" if face.confidence is not None else ""
        return f"**{face.ordinal}.** Is this {mentions.who(face)}? (suggested{pct})"
    said_no = " (the suggestion was rejected)" if face.decided_by else ""
    return f"**{face.ordinal}.** Unknown face{said_no}"


def _execute(title: str, verb: str, face: FaceView, style: str | None = None) -> Card:
    data: Card = {"face_id": str(face.id)}
    if face.person is not None and face.person.teams_aad_id:
        data["aad_object_id"] = face.person.teams_aad_id
    action: Card = {"type": "Action.Execute", "title": title, "verb": verb, "data": data}
    if style:
        action["style"] = style
    return action


def face_actions(face: FaceView) -> list[Card]:
    if face.state == "suggested":
        return [
            _execute("Yes", VERB_CONFIRM, face, "positive"),
            _execute("No", VERB_REJECT, face),
            _execute("Who is this?", VERB_IDENTIFY, face),
        ]
    if face.state == "confirmed":
        return [_execute("Not them", VERB_REJECT, face), _execute("Who is this?", VERB_IDENTIFY, face)]
    return [_execute("Who is this?", VERB_IDENTIFY, face)]


def identify_items(face: FaceView, members: Sequence[Member]) -> list[Card]:
    """The ChoiceSet of roster members and the submit button, in place of a face's buttons. A roster
    longer than `MAX_CHOICES` lists its first names and searches the rest as the user types
    (dynamic typeahead: Teams sends `application/search` invokes for `MEMBERS_DATASET`)."""
    ordered = sorted(members, key=lambda m: m.name.lower())
    choice_set: Card = {
        "type": "Input.ChoiceSet",
        "id": PERSON_INPUT,
        "label": f"Who is face {face.ordinal}?",
        "style": "filtered",
        "isRequired": True,
        "errorMessage": "Pick a person.",
        "placeholder": "Pick a person" if len(ordered) <= MAX_CHOICES else "Type a name",
        "choices": [{"title": m.name, "value": m.aad_object_id} for m in ordered[:MAX_CHOICES]],
    }
    if len(ordered) > MAX_CHOICES:
        choice_set["choices.data"] = {"type": "Data.Query", "dataset": MEMBERS_DATASET}
    return [
        choice_set,
        {
            "type": "ActionSet",
            "actions": [
                {
                    "type": "Action.Execute",
                    "title": "Save",
                    "verb": VERB_IDENTIFY,
                    "style": "positive",
                    "data": {"face_id": str(face.id)},
                }
            ],
        },
    ]


def _face_container(
    face: FaceView, mentions: _Mentions, identify: str | None, members: Sequence[Member]
) -> Card:
    items: list[Card] = [{"type": "TextBlock", "text": face_text(face, mentions), "wrap": True}]
    if face.segments:
        items.append(
            {
                "type": "TextBlock",
                "text": f"On screen {segments_text(face.segments)}",
                "isSubtle": True,
                "spacing": "None",
                "wrap": True,
            }
        )
    if identify == str(face.id):
        items.extend(identify_items(face, members))
    else:
        items.append({"type": "ActionSet", "actions": face_actions(face)})
    return {"type": "Container", "id": f"face-{face.ordinal}", "separator": True, "items": items}


def _pick_full(faces: Sequence[FaceView], limit: int, identify: str | None) -> set[str]:
    """Which faces get buttons: the one being identified, then suggestions, unknowns, confirmed."""
    rank = {"suggested": 0, "unknown": 1, "confirmed": 2}
    order = sorted(faces, key=lambda f: (str(f.id) != identify, rank.get(f.state, 3), f.ordinal))
    return {str(f.id) for f in order[:limit]}


def _rest_line(rest: Sequence[FaceView], mentions: _Mentions) -> Card:
    listed = ", ".join(
        f"{f.ordinal}. {mentions.who(f) if f.person else 'unknown'}" for f in rest[:MAX_LISTED]
    )
    more = f" and {len(rest) - MAX_LISTED} more" if len(rest) > MAX_LISTED else ""
    return {
        "type": "TextBlock",
        "text": f"{len(rest)} more faces without buttons here: {listed}{more}.",
        "isSubtle": True,
        "wrap": True,
        "separator": True,
    }


def _card(
    view: MediaView,
    *,
    full: int,
    identify: str | None,
    members: Sequence[Member],
    image_url: str | None,
) -> Card:
    mentions = _Mentions()
    status = " Pending approval." if view.status == "pending" else ""
    body: list[Card] = [
        {"type": "TextBlock", "text": summary(view) + status, "wrap": True, "weight": "Bolder"}
    ]
    if view.filename:
        body.append(
            {
                "type": "TextBlock",
                "text": _plain(view.filename),
                "isSubtle": True,
                "spacing": "None",
                "wrap": True,
            }
        )
    if image_url:
        body.append(
            {
                "type": "Image",
                "url": image_url,
                "altText": "The picture with a number on each face",
                "size": "Stretch",
            }
        )
    shown = _pick_full(view.faces, full, identify)
    rest = [f for f in view.faces if str(f.id) not in shown]
    body.extend(_face_container(f, mentions, identify, members) for f in view.faces if str(f.id) in shown)
    if rest:
        body.append(_rest_line(rest, mentions))
    card: Card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if mentions.entities:
        card["msteams"]["entities"] = mentions.entities
    return card


def card_size(card: Card) -> int:
    return len(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode())


def fit_image(jpeg: bytes, budget: int) -> str | None:
    """A `data:` URI of the picture no longer than `budget` characters, or None if it cannot fit."""
    if len(_DATA_URI) + (len(jpeg) + 2) // 3 * 4 <= budget and len(jpeg) <= 20_000:
        return _DATA_URI + base64.b64encode(jpeg).decode()
    # Only for pictures too big to send as they are: Pillow costs the web process ~15 MB.
    from PIL import Image

    try:
        with Image.open(io.BytesIO(jpeg)) as opened:
            image = opened.convert("RGB")
    except (OSError, ValueError):
        return None
    for width, quality in _IMAGE_STEPS:
        small = image.copy()
        small.thumbnail((width, width * 4))
        out = io.BytesIO()
        small.save(out, format="JPEG", quality=quality, optimize=True)
        data = out.getvalue()
        if len(_DATA_URI) + (len(data) + 2) // 3 * 4 <= budget:
            return _DATA_URI + base64.b64encode(data).decode()
    return None


def media_card(
    view: MediaView,
    *,
    identify: str | None = None,
    members: Sequence[Member] = (),
    max_bytes: int = MAX_CARD_BYTES,
) -> Card:
    """The card for one media: summary, the numbered picture, one container per face with buttons.

    `identify` (a face id) replaces that face's buttons with the roster ChoiceSet and a Save button."""
    full = min(FULL_FACES, len(view.faces))
    card = _card(view, full=full, identify=identify, members=members, image_url=None)
    while card_size(card) > max_bytes and full > 1:
        full = max(1, full // 2)
        card = _card(view, full=full, identify=identify, members=members, image_url=None)
    if view.annotated_jpeg is None:
        return card
    # The image element adds its JSON wrapper besides the URI itself.
    budget = max_bytes - card_size(card) - 150
    url = fit_image(view.annotated_jpeg, budget) if budget > 2_000 else None
    if url is None:
        return card
    return _card(view, full=full, identify=identify, members=members, image_url=url)


def attachment(card: Card) -> Card:
    return {"contentType": CARD_CONTENT_TYPE, "content": card}
