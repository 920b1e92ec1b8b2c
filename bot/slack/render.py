"""Block Kit for search results, App Home and the tag modal."""

from __future__ import annotations

import json
import uuid
from typing import Any

from bot.slack.blocks import segments_text
from handlers.home import Home, HomeItem
from handlers.search import ResultPerson, SearchPage, SearchResult, Viewer

Block = dict[str, Any]


def plain(text: str) -> list[Block]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]


def _person(p: ResultPerson) -> str:
    who = f"<@{p.user_id}>" if p.user_id else p.name
    when = f" ({segments_text(p.segments)})" if p.segments else ""
    return who + ("" if p.confirmed else " (suggested)") + when


def _date(r: SearchResult) -> str:
    when = r.taken_at or r.shared_at
    return f"<!date^{int(when.timestamp())}^{{date_short}}|{when:%Y-%m-%d}>"


def result_blocks(r: SearchResult, *, public_media: bool) -> list[Block]:
    people = ", ".join(_person(p) for p in r.people) or "nobody named yet"
    if r.unknown_faces:
        people += f" · {r.unknown_faces} unknown face{'s' if r.unknown_faces != 1 else ''}"
    tags = " ".join(f"#{t}" for t in r.tags)
    where = f"<#{r.channel_id}>" if r.channel_id else "a conversation"
    kind = "🎬" if r.kind == "video" else "🖼"
    links = [f"<{r.original_url}|original>"]
    if r.desktop_url:
        links.insert(0, f"<{r.desktop_url}|{'poster' if r.kind == 'video' else 'desktop size'}>")
    if r.thumb_url and not public_media:
        links.insert(0, f"<{r.thumb_url}|thumbnail>")
    name = r.filename or r.kind
    pending = " · *pending approval*" if r.status == "pending" else ""
    text = (
        f"{kind} *{name}*{pending}\n{people}\n"
        + (f"{tags}\n" if tags else "")
        + f"{where} · {_date(r)} · shared by <@{r.shared_by}>\n"
        + " · ".join(links)
    )
    section: Block = {
        "type": "section",
        "block_id": f"media:{r.media_id}",
        "text": {"type": "mrkdwn", "text": text[:3000]},
    }
    if public_media and r.thumb_url:
        section["accessory"] = {"type": "image", "image_url": r.thumb_url, "alt_text": name[:100]}
    return [section]


def search_results(
    page: SearchPage, *, query_text: str, cursor_for_next: str | None, public_media: bool
) -> tuple[str, list[Block]]:
    if not page.results:
        summary = "Nothing found" + (f" for “{query_text}”" if query_text else "") + "."
        return summary, plain(" ".join([summary, *page.notes]))
    summary = f"{page.total} result{'s' if page.total != 1 else ''}" + (
        f" for “{query_text}”" if query_text else ""
    )
    blocks: list[Block] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": summary}]}]
    for note in page.notes:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    for result in page.results:
        blocks += result_blocks(result, public_media=public_media)
        blocks.append({"type": "divider"})
    if cursor_for_next:
        blocks.append(
            {
                "type": "actions",
                "block_id": "search_paging",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Next 10"},
                        "action_id": "search_more",
                        "value": json.dumps({"q": query_text, "c": cursor_for_next})[:2000],
                    }
                ],
            }
        )
    return summary, blocks[:50]


def _item_text(item: HomeItem) -> str:
    faces = f"{item.faces} face{'s' if item.faces != 1 else ''}" if item.faces else "no faces"
    unknown = f", {item.unknown} unnamed" if item.unknown else ""
    return f"*{item.filename or item.kind}* in <#{item.channel_id}> · {faces}{unknown} · {item.status}"


def home_view(data: Home, viewer: Viewer) -> Block:
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "facetag"}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": (
                        f"{data.counts['photos']} photos · {data.counts['videos']} videos · "
                        f"{data.counts['people']} people · {data.counts['pending']} pending"
                    ),
                }
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Your recent uploads*"}},
    ]
    blocks += [_line(item) for item in data.uploads] or plain(
        "_Nothing yet: share a photo in a channel with facetag._"
    )
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Faces waiting for a name*"}})
    blocks += [_line(item) for item in data.awaiting_names] or plain("_All faces are named._")
    if data.pending is not None:
        blocks.append({"type": "divider"})
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Pending approval* ({len(data.pending)})"},
            }
        )
        for item in data.pending:
            blocks.append(_line(item))
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"moderate:{item.media_id}",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Approve"},
                            "style": "primary",
                            "action_id": "media_approve",
                            "value": str(item.media_id),
                        },
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Reject"},
                            "style": "danger",
                            "action_id": "media_reject",
                            "value": str(item.media_id),
                        },
                    ],
                }
            )
        if not data.pending:
            blocks += plain("_Nothing waiting._")
    return {"type": "home", "blocks": blocks[:100]}


def _line(item: HomeItem) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _item_text(item)[:3000]}}


def tag_modal(media_ids: list[uuid.UUID]) -> Block:
    if not media_ids:
        body = plain("This message did not share a photo or video facetag knows.")
        return {
            "type": "modal",
            "callback_id": "tag_media_none",
            "title": {"type": "plain_text", "text": "Tag this photo"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": body,
        }
    return {
        "type": "modal",
        "callback_id": "tag_media",
        "private_metadata": json.dumps([str(m) for m in media_ids]),
        "title": {"type": "plain_text", "text": "Tag this photo"},
        "submit": {"type": "plain_text", "text": "Add tags"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "tags",
                "label": {"type": "plain_text", "text": "Tags"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "tags_input",
                    "placeholder": {"type": "plain_text", "text": "#offsite #team"},
                },
            }
        ],
    }


def reject_modal(media_id: uuid.UUID) -> Block:
    return {
        "type": "modal",
        "callback_id": "media_reject",
        "private_metadata": str(media_id),
        "title": {"type": "plain_text", "text": "Reject this media"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "optional": True,
                "label": {"type": "plain_text", "text": "Why? (sent to the person who shared it)"},
                "element": {"type": "plain_text_input", "action_id": "reason_input", "multiline": True},
            }
        ],
    }
