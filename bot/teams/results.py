"""Search results for Teams: an Adaptive Card list (bot command, pending queue) and messaging-extension
results (thumbnail cards), from `handlers.search.SearchPage`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from bot.teams.cards import MAX_CARD_BYTES, VERSION, Card, _plain, card_size, segments_text
from handlers.query import COMMAND, HELP_TEXT
from handlers.search import ResultPerson, SearchPage, SearchResult

THUMBNAIL_CARD = "application/vnd.microsoft.card.thumbnail"
VERB_SEARCH_MORE = "search_more"
VERB_APPROVE = "media_approve"
VERB_REJECT_MEDIA = "media_reject"
TEAMS_COMMAND = "search"
HELP_INTRO = (
    "Share a photo or video here and I will find the faces in it and suggest who they are. "
    "Find photos with the Photos search of the compose box, or say `search` and a query. "
    "Admins: say `pending` (in this personal chat) to approve new media."
)


def teams_text(text: str) -> str:
    """Handler sentences name the Slack command; in Teams the command is `search`."""
    return text.replace(COMMAND, TEAMS_COMMAND)


def help_text() -> str:
    return HELP_INTRO + "\n\n" + teams_text(HELP_TEXT)


def _person(p: ResultPerson) -> str:
    when = f" ({segments_text(p.segments)})" if p.segments else ""
    return _plain(p.name) + ("" if p.confirmed else " (suggested)") + when


def people_line(r: SearchResult) -> str:
    people = ", ".join(_person(p) for p in r.people) or "nobody named yet"
    if r.unknown_faces:
        people += f" · {r.unknown_faces} unknown face{'s' if r.unknown_faces != 1 else ''}"
    return people


def title(r: SearchResult) -> str:
    name = _plain(r.filename) if r.filename else ("Video" if r.kind == "video" else "Photo")
    return name + (" (pending approval)" if r.status == "pending" else "")


def tags_line(r: SearchResult) -> str:
    return " ".join(f"#{t}" for t in r.tags)


def where_line(r: SearchResult) -> str:
    return _plain(r.channel_name) if r.channel_name else "a chat"


def _when(r: SearchResult) -> str:
    return (r.taken_at or r.shared_at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plain_date(r: SearchResult) -> str:
    return f"{(r.taken_at or r.shared_at).astimezone(UTC):%Y-%m-%d}"


def links(r: SearchResult, *, public_media: bool, thumbnail: bool = True) -> list[tuple[str, str]]:
    """(title, presigned URL): desktop size (poster for videos), original, and the thumbnail as a
    link unless it is shown as an image (FACETAG_PUBLIC_MEDIA)."""
    found: list[tuple[str, str]] = []
    if r.desktop_url:
        found.append(("Poster" if r.kind == "video" else "Desktop size", r.desktop_url))
    found.append(("Original", r.original_url))
    if thumbnail and r.thumb_url and not public_media:
        found.append(("Thumbnail", r.thumb_url))
    return found


# --------------------------------------------------------------------------- the card list


def _result_container(r: SearchResult, *, public_media: bool, moderate: bool, thumbnail: bool) -> Card:
    icon = "🎬" if r.kind == "video" else "🖼"
    items: list[Card] = [
        {"type": "TextBlock", "text": f"{icon} **{title(r)}**", "wrap": True},
        {"type": "TextBlock", "text": people_line(r), "wrap": True, "spacing": "None"},
    ]
    if r.tags:
        items.append(
            {"type": "TextBlock", "text": tags_line(r), "wrap": True, "spacing": "None", "isSubtle": True}
        )
    items.append(
        {
            "type": "TextBlock",
            "text": f"{where_line(r)} · {{{{DATE({_when(r)}, SHORT)}}}}",
            "wrap": True,
            "spacing": "None",
            "isSubtle": True,
        }
    )
    if public_media and r.thumb_url:
        items.append({"type": "Image", "url": r.thumb_url, "altText": title(r), "size": "Medium"})
    actions: list[Card] = [
        {"type": "Action.OpenUrl", "title": label, "url": url}
        for label, url in links(r, public_media=public_media, thumbnail=thumbnail)
    ]
    if moderate and r.status == "pending":
        data = {"media_id": str(r.media_id)}
        actions += [
            {
                "type": "Action.Execute",
                "title": "Approve",
                "verb": VERB_APPROVE,
                "style": "positive",
                "data": data,
            },
            {
                "type": "Action.Execute",
                "title": "Reject",
                "verb": VERB_REJECT_MEDIA,
                "style": "destructive",
                "data": data,
            },
        ]
    items.append({"type": "ActionSet", "actions": actions})
    return {"type": "Container", "id": f"media-{r.media_id}", "separator": True, "items": items}


def summary(total: int, query_text: str) -> str:
    if not total:
        return "Nothing found" + (f" for “{query_text}”" if query_text else "") + "."
    return f"{total} result{'s' if total != 1 else ''}" + (f" for “{query_text}”" if query_text else "")


def _results_card(
    results: Sequence[SearchResult],
    *,
    header: Sequence[str],
    query_text: str,
    next_cursor: str | None,
    public_media: bool,
    moderate: bool,
    thumbnail: bool,
) -> Card:
    body: list[Card] = [
        {"type": "TextBlock", "text": line, "wrap": True, "weight": "Bolder" if i == 0 else "Default"}
        for i, line in enumerate(header)
    ]
    body += [
        _result_container(r, public_media=public_media, moderate=moderate, thumbnail=thumbnail)
        for r in results
    ]
    card: Card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if next_cursor:
        card["actions"] = [
            {
                "type": "Action.Execute",
                "title": "Next 10",
                "verb": VERB_SEARCH_MORE,
                "data": {"q": query_text, "cursor": next_cursor},
            }
        ]
    return card


def results_card(
    page: SearchPage,
    *,
    query_text: str,
    public_media: bool,
    moderate: bool = False,
    status: str | None = None,
    leave_out: frozenset[str] = frozenset(),
    max_bytes: int = MAX_CARD_BYTES,
) -> Card:
    """One page of results: a summary line, notes, one container per media with its links (and
    Approve/Reject for pending media when `moderate`), and "Next 10" (`search_more`, {q, cursor})."""
    results = [r for r in page.results if str(r.media_id) not in leave_out]
    total = max(0, page.total - (len(page.results) - len(results)))
    header = [line for line in (status, summary(total, query_text)) if line]
    header += [teams_text(n) for n in page.notes]
    shown, thumbnail = len(results), True
    while True:
        cut = ["Some results did not fit here; narrow the search."] if shown < len(results) else []
        card = _results_card(
            results[:shown],
            header=[*header, *cut],
            query_text=query_text,
            next_cursor=page.next_cursor,
            public_media=public_media,
            moderate=moderate,
            thumbnail=thumbnail,
        )
        if card_size(card) <= max_bytes or shown <= 1:
            return card
        if thumbnail:
            thumbnail = False
        else:
            shown -= 1


# --------------------------------------------------------------------------- messaging extension


def _thumbnail_card(r: SearchResult, *, public_media: bool, buttons: bool) -> Card:
    """A ThumbnailCard with every field activity.schema.json lists as required (images and buttons
    may be empty); tapping it opens the desktop-size picture (or the original)."""
    text = " · ".join(x for x in (tags_line(r), where_line(r), plain_date(r)) if x)
    found = links(r, public_media=public_media)
    return {
        "title": title(r),
        "subtitle": people_line(r),
        "text": text,
        "images": [{"url": r.thumb_url, "alt": title(r)}] if public_media and r.thumb_url else [],
        "buttons": [{"type": "openUrl", "title": label, "value": url} for label, url in found]
        if buttons
        else [],
        "tap": {"type": "openUrl", "title": found[0][0], "value": found[0][1]},
    }


def extension_attachment(r: SearchResult, *, public_media: bool) -> Card:
    """One messaging-extension result: the card inserted into the message (with its links) and the
    smaller preview shown in the result list."""
    return {
        "contentType": THUMBNAIL_CARD,
        "content": _thumbnail_card(r, public_media=public_media, buttons=True),
        "preview": {
            "contentType": THUMBNAIL_CARD,
            "content": _thumbnail_card(r, public_media=public_media, buttons=False),
        },
    }


def extension_result(results: Sequence[SearchResult], *, public_media: bool) -> dict[str, Any]:
    return {
        "composeExtension": {
            "type": "result",
            "attachmentLayout": "list",
            "attachments": [extension_attachment(r, public_media=public_media) for r in results],
        }
    }


def extension_message(text: str) -> dict[str, Any]:
    return {"composeExtension": {"type": "message", "text": text}}
