"""chat.postMessage, chat.update, chat.postEphemeral, chat.delete, reactions.add."""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.fakes.slack_request import ApiRequest, Handler
from tests.fakes.slack_workspace import Message, SlackError

_EMOJI_NAME = re.compile(r"^[a-z0-9_+'-]+(::skin-tone-[2-6])?$")


def _content(req: ApiRequest, *, detailed: bool) -> tuple[str, list[dict[str, Any]] | None, Any]:
    blocks = req.blocks(detailed=detailed)
    attachments = req.json_arg("attachments", error="invalid_attachments") if req.has("attachments") else None
    text = req.str_arg("text") or ""
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    return text, blocks, attachments


def post_message(req: ApiRequest) -> dict[str, Any]:
    channel = req.post_target(req.req_str("channel"))
    text, blocks, attachments = _content(req, detailed=True)
    thread_ts = req.str_arg("thread_ts") or None
    parent = next((m for m in req.ws.messages_in(channel.id) if m.ts == thread_ts), None)
    if parent is not None and parent.thread_ts:
        thread_ts = parent.thread_ts  # Slack files a reply to a reply under the thread's parent
    message = req.ws.post_message(channel.id, req.user_id, text, thread_ts=thread_ts, blocks=blocks, bot=True)
    message.attachments = attachments
    if req.has("metadata"):
        message.metadata = req.json_arg("metadata", error="invalid_metadata_format")
    return {"ok": True, "channel": channel.id, "ts": message.ts, "message": _public(req, message)}


def _public(req: ApiRequest, message: Message) -> dict[str, Any]:
    data = req.ws.message_to_api(message)
    data.pop("reactions", None)
    return data


def update(req: ApiRequest) -> dict[str, Any]:
    channel = req.visible_channel(req.req_str("channel"))
    message = req.ws.message(channel.id, req.req_str("ts"))
    if message.bot_id != req.ws.bot_id:
        raise SlackError("cant_update_message")
    blocks = req.blocks(detailed=True)
    text = req.str_arg("text")
    if not text and blocks is None and not req.has("attachments") and not message.text and not message.blocks:
        raise SlackError("no_text")
    message.history.append(req.ws.message_to_api(message))
    if text is not None:
        message.text = text
    if blocks is not None:
        message.blocks = blocks
    if req.has("attachments"):
        message.attachments = req.json_arg("attachments", error="invalid_attachments")
    message.edited = {"user": req.user_id, "ts": req.ws.ids.ts()}
    body = _public(req, message)
    for key in ("ts", "thread_ts", "parent_user_id", "subtype"):
        body.pop(key, None)  # chat.update answers the message's content, not where it sits
    return {"ok": True, "channel": channel.id, "ts": message.ts, "text": message.text, "message": body}


def post_ephemeral(req: ApiRequest) -> dict[str, Any]:
    channel = req.post_target(req.req_str("channel"))
    user = req.req_str("user")
    if user not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks, attachments = _content(req, detailed=False)
    message_ts = req.ws.ids.ts()
    entry = {
        "user": user,
        "text": text,
        "blocks": copy.deepcopy(blocks),
        "attachments": attachments,
        "thread_ts": req.str_arg("thread_ts"),
        "message_ts": message_ts,
    }
    req.ws.ephemerals.setdefault(channel.id, []).append(entry)
    return {"ok": True, "message_ts": message_ts}


def delete(req: ApiRequest) -> dict[str, Any]:
    channel = req.visible_channel(req.req_str("channel"))
    message = req.ws.message(channel.id, req.req_str("ts"))
    if message.bot_id != req.ws.bot_id:
        raise SlackError("cant_delete_message")
    message.deleted = True
    return {"ok": True, "channel": channel.id, "ts": message.ts}


def reactions_add(req: ApiRequest) -> dict[str, Any]:
    channel = req.visible_channel(req.req_str("channel"))
    if channel.is_archived:
        raise SlackError("is_archived")
    name = req.req_str("name").strip(":")
    if not _EMOJI_NAME.match(name):
        raise SlackError("invalid_name")
    if not re.fullmatch(r"\d+\.\d+", req.req_str("timestamp")):
        raise SlackError("bad_timestamp")
    message = req.ws.message(channel.id, req.req_str("timestamp"))
    users = message.reactions.setdefault(name, [])
    if req.user_id in users:
        raise SlackError("already_reacted")
    users.append(req.user_id)
    return {"ok": True}


HANDLERS: dict[str, Handler] = {
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.postEphemeral": post_ephemeral,
    "chat.delete": delete,
    "reactions.add": reactions_add,
}
