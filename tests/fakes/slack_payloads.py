"""What Slack sends the app: signed event, interactivity and slash-command requests.

Shapes follow the recorded fixtures in java-slack-sdk/events and app-backend; ids come from the
fake workspace, and builders that need it register state there (the shared message, the trigger id
a modal may be opened with, the response_url).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
import uuid
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from tests.fakes.slack_state import Workspace
from tests.fakes.slack_workspace import Channel, File, Message, User, View


def sign(signing_secret: str, body: bytes, timestamp: int | str | None = None) -> dict[str, str]:
    """X-Slack-Signature = v0=HMAC_SHA256(secret, "v0:{timestamp}:{body}"), and the timestamp."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(signing_secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass(frozen=True, slots=True)
class SlackRequest:
    """A request as Slack would POST it to the app's /slack/events."""

    payload: dict[str, Any]  # the event envelope, the interactivity payload, or the slash-command fields
    body: bytes
    content_type: str
    signing_secret: str
    retry_num: int | None = None
    retry_reason: str | None = None

    def headers(self, *, timestamp: int | str | None = None, secret: str | None = None) -> dict[str, str]:
        """Fresh signed headers; pass an old `timestamp` or a wrong `secret` to test rejection."""
        headers = {
            "Content-Type": self.content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        headers |= sign(secret or self.signing_secret, self.body, timestamp)
        if self.retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(self.retry_num)
            headers["X-Slack-Retry-Reason"] = self.retry_reason or "http_timeout"
        return headers

    def retry(self, num: int = 1, reason: str = "http_timeout") -> SlackRequest:
        """The same delivery again, as Slack retries it (same body, same event_id)."""
        return replace(self, retry_num=num, retry_reason=reason)


@dataclass(frozen=True, slots=True)
class Delivery:
    status: int
    text: str
    elapsed: float  # seconds until the app answered; Slack gives up after 3


async def deliver(url: str, request: SlackRequest, **header_overrides: Any) -> Delivery:
    """POST a built request to the app (e.g. http://127.0.0.1:3000/slack/events)."""
    headers = request.headers(**header_overrides)
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=request.body, headers=headers) as resp,
    ):
        text = await resp.text()
    return Delivery(status=resp.status, text=text, elapsed=time.monotonic() - started)


class SlackPayloads:
    def __init__(self, ws: Workspace, signing_secret: str) -> None:
        self.ws = ws
        self.signing_secret = signing_secret

    # ---- encodings --------------------------------------------------------------------------

    def _json(self, payload: dict[str, Any]) -> SlackRequest:
        body = json.dumps(payload).encode()
        return SlackRequest(payload, body, "application/json", self.signing_secret)

    def _form(self, fields: dict[str, str], payload: dict[str, Any]) -> SlackRequest:
        body = urllib.parse.urlencode(fields).encode()
        return SlackRequest(payload, body, "application/x-www-form-urlencoded", self.signing_secret)

    def _interactive(self, payload: dict[str, Any]) -> SlackRequest:
        return self._form({"payload": json.dumps(payload)}, payload)

    def event_callback(self, event: dict[str, Any]) -> SlackRequest:
        ws = self.ws
        envelope = {
            "token": ws.verification_token,
            "team_id": ws.team_id,
            "context_team_id": ws.team_id,
            "context_enterprise_id": None,
            "api_app_id": ws.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.team_id,
                    "user_id": ws.bot_user.id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }
        return self._json(envelope)

    def url_verification(
        self, challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    ) -> SlackRequest:
        return self._json(
            {"token": self.ws.verification_token, "challenge": challenge, "type": "url_verification"}
        )

    # ---- events -----------------------------------------------------------------------------

    def message(
        self,
        channel: Channel | str,
        user: User | str,
        text: str = "",
        *,
        files: list[File] | list[str] | tuple[File | str, ...] = (),
        thread_ts: str | None = None,
    ) -> SlackRequest:
        """A user's message, stored in the workspace; with `files` it is a `file_share` message."""
        ws = self.ws
        conv = ws.channel(_id(channel))
        stored = ws.post_message(conv.id, _id(user), text, thread_ts=thread_ts, files=[_id(f) for f in files])
        event = ws.message_to_api(stored)
        event.update({"channel": conv.id, "event_ts": stored.ts, "channel_type": conv.event_channel_type})
        if files:  # as recorded: file_share messages carry no team and no client_msg_id
            event.pop("team")
            event["display_as_bot"] = False
        else:
            event["client_msg_id"] = str(uuid.uuid4())
        return self.event_callback(event)

    def file_shared(
        self, file: File | str, channel: Channel | str, user: User | str | None = None
    ) -> SlackRequest:
        file_obj = self.ws.file(_id(file))
        event = {
            "type": "file_shared",
            "file_id": file_obj.id,
            "user_id": _id(user) if user is not None else file_obj.user,
            "file": {"id": file_obj.id},
            "channel_id": _id(channel),
            "event_ts": self.ws.ids.ts(),
        }
        return self.event_callback(event)

    def file_upload(
        self,
        channel: Channel | str,
        user: User | str,
        files: list[File],
        text: str = "",
        thread_ts: str | None = None,
    ) -> list[SlackRequest]:
        """What one upload produces: the `file_share` message and one `file_shared` per file."""
        requests = [self.message(channel, user, text, files=files, thread_ts=thread_ts)]
        requests += [self.file_shared(f, channel, user) for f in files]
        return requests

    def app_home_opened(self, user: User | str, tab: str = "home") -> SlackRequest:
        user_id = _id(user)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.ws.add_im(user_id).id,
            "tab": tab,
            "event_ts": self.ws.ids.ts(),
        }
        view_id = self.ws.home_views.get(user_id)
        if view_id is not None:
            event["view"] = self.ws.views[view_id].to_api()
        return self.event_callback(event)

    def member_joined_channel(
        self, channel: Channel | str, user: User | str, inviter: User | str | None = None
    ) -> SlackRequest:
        """Someone (the bot, too) joined: the workspace is updated and the event built."""
        conv = self.ws.channel(_id(channel))
        self.ws.join(conv.id, _id(user))
        event = {
            "type": "member_joined_channel",
            "user": _id(user),
            "channel": conv.id,
            "channel_type": "C" if conv.type == "public_channel" else "G",
            "team": self.ws.team_id,
            "event_ts": self.ws.ids.ts(),
        }
        if inviter is not None:
            event["inviter"] = _id(inviter)
        return self.event_callback(event)

    # ---- interactivity ----------------------------------------------------------------------

    def _team(self) -> dict[str, Any]:
        return {"id": self.ws.team_id, "domain": self.ws.team_domain}

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.ws.user(user_id)
        return {"id": user.id, "username": user.name, "name": user.name, "team_id": self.ws.team_id}

    def _base(self, kind: str, user_id: str) -> dict[str, Any]:
        return {
            "type": kind,
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.ws.app_id,
            "token": self.ws.verification_token,
            "trigger_id": self.ws.issue_trigger(user_id),
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def block_actions(
        self,
        user: User | str,
        action_id: str,
        *,
        message: Message | None = None,
        view: View | dict[str, Any] | str | None = None,
        selected: str | None = None,
    ) -> SlackRequest:
        """A click on the element `action_id` of a stored bot message, or of a modal / App Home view.
        The element must exist; `selected` picks an option value of a select / overflow."""
        user_id = _id(user)
        payload = self._base("block_actions", user_id)
        if message is not None:
            stored = self.ws.message(message.channel, message.ts)
            blocks = stored.blocks or []
            payload["container"] = {
                "type": "message",
                "message_ts": stored.ts,
                "channel_id": stored.channel,
                "is_ephemeral": False,
            }
            if stored.thread_ts:
                payload["container"]["thread_ts"] = stored.thread_ts
            payload["channel"] = {"id": stored.channel, "name": self.ws.channels[stored.channel].name}
            payload["message"] = self.ws.message_to_api(stored)
            payload["response_url"] = self.ws.issue_response_url(stored.channel, user_id, stored.ts)
        elif view is not None:
            stored_view = self.ws.views[view if isinstance(view, str) else _id(view)]
            blocks = stored_view.payload.get("blocks", [])
            payload["container"] = {"type": "view", "view_id": stored_view.id}
            payload["view"] = stored_view.to_api()
        else:
            raise ValueError("block_actions needs the message or the view that was clicked")
        block, element = _find_element(blocks, action_id)
        payload["actions"] = [_action(block, element, selected, self.ws.ids.ts())]
        payload["state"] = {"values": {}}
        return self._interactive(payload)

    def view_submission(
        self, user: User | str, view: View | dict[str, Any] | str, values: dict[str, Any]
    ) -> SlackRequest:
        """Submit a modal. `values`: {block_id: {action_id: value}}; a str value fills a text input."""
        stored = self.ws.views[view if isinstance(view, str) else _id(view)]
        inputs = {b.get("block_id"): b for b in stored.payload.get("blocks", []) if b.get("type") == "input"}
        state: dict[str, Any] = {}
        for block_id, by_action in values.items():
            block = inputs.get(block_id)
            if block is None:
                raise ValueError(f"no input block {block_id!r} in view {stored.id}")
            for action_id, value in by_action.items():
                element = block.get("element", {})
                if element.get("action_id") != action_id:
                    raise ValueError(f"input block {block_id!r} has no element {action_id!r}")
                entry = {"type": element.get("type"), "value": value} if isinstance(value, str) else value
                state.setdefault(block_id, {})[action_id] = entry
        stored.state = state
        payload = self._base("view_submission", _id(user))
        payload["view"] = stored.to_api()
        return self._interactive(payload)

    def message_shortcut(
        self, user: User | str, message: Message, callback_id: str = "tag_media"
    ) -> SlackRequest:
        """ "Tag this photo" on a message (the message's own channel)."""
        user_id = _id(user)
        stored = self.ws.message(message.channel, message.ts)
        channel = self.ws.channels[stored.channel]
        payload = {
            "type": "message_action",
            "token": self.ws.verification_token,
            "action_ts": self.ws.ids.ts(),
            "team": self._team(),
            "user": {"id": user_id, "name": self.ws.user(user_id).name, "team_id": self.ws.team_id},
            "channel": {"id": channel.id, "name": channel.name if channel.type != "im" else "directmessage"},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self.ws.issue_trigger(user_id),
            "response_url": self.ws.issue_response_url(channel.id, user_id),
            "message_ts": stored.ts,
            "message": self.ws.message_to_api(stored),
        }
        return self._interactive(payload)

    def slash_command(
        self, user: User | str, channel: Channel | str, text: str = "", command: str = "/photos"
    ) -> SlackRequest:
        user_id = _id(user)
        conv = self.ws.channel(_id(channel))
        fields = {
            "token": self.ws.verification_token,
            "team_id": self.ws.team_id,
            "team_domain": self.ws.team_domain,
            "channel_id": conv.id,
            "channel_name": "directmessage" if conv.type == "im" else conv.name,
            "user_id": user_id,
            "user_name": self.ws.user(user_id).name,
            "command": command,
            "text": text,
            "api_app_id": self.ws.app_id,
            "is_enterprise_install": "false",
            "response_url": self.ws.issue_response_url(conv.id, user_id),
            "trigger_id": self.ws.issue_trigger(user_id),
        }
        return self._form(fields, dict(fields))


def _id(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return str(obj["id"])
    return str(obj.id)


def _find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for block in blocks:
        candidates = [*block.get("elements", []), block.get("accessory"), block.get("element")]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block, element
    raise ValueError(f"no element with action_id {action_id!r} in these blocks")


def _action(
    block: dict[str, Any], element: dict[str, Any], selected: str | None, action_ts: str
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "action_id": element["action_id"],
        "block_id": block.get("block_id", ""),
        "type": element["type"],
        "action_ts": action_ts,
    }
    for key in ("text", "value", "style"):
        if key in element:
            action[key] = copy.deepcopy(element[key])
    if selected is not None:
        option = next((o for o in element.get("options", []) if o.get("value") == selected), None)
        if option is None:
            raise ValueError(f"element {element['action_id']!r} has no option {selected!r}")
        action["selected_option"] = copy.deepcopy(option)
    return action
