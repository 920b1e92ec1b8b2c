"""One parsed Web API call and the checks every method handler shares."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.slack_blocks import MESSAGE_MAX_BLOCKS, assign_block_ids, block_errors
from tests.fakes.slack_spec import SCOPE_PREFIX_BY_TYPE, method_spec
from tests.fakes.slack_state import Workspace
from tests.fakes.slack_workspace import Channel, SlackError


def missing_scope(needed: list[str] | tuple[str, ...], provided: set[str]) -> SlackError:
    return SlackError("missing_scope", needed=",".join(needed), provided=",".join(sorted(provided)))


@dataclass(slots=True)
class ApiRequest:
    ws: Workspace
    method: str
    args: dict[str, Any]
    scopes: set[str]
    user_id: str  # whom the token belongs to: the bot user

    # ---- arguments --------------------------------------------------------------------------

    def has(self, name: str) -> bool:
        return self.args.get(name) not in (None, "")

    def str_arg(self, name: str, default: str | None = None) -> str | None:
        value = self.args.get(name)
        return default if value is None else str(value)

    def req_str(self, name: str) -> str:
        value = self.str_arg(name)
        assert value is not None, f"{name} is required; the dispatcher checks it"
        return value

    def bool_arg(self, name: str) -> bool:
        value = self.args.get(name)
        return value is True or str(value).lower() in ("1", "true")

    def int_arg(self, name: str, default: int, *, error: str) -> int:
        value = self.args.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SlackError(error) from None

    def json_arg(self, name: str, *, error: str) -> Any:
        """An argument that is JSON: an object in a JSON body, a JSON-encoded string in a form."""
        value = self.args.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise SlackError(error) from None
        return value

    # ---- conversations ----------------------------------------------------------------------

    def require_conversation_scope(self, channel: Channel) -> None:
        spec = method_spec(self.method)
        if not spec.per_conversation_type:
            return
        prefix = SCOPE_PREFIX_BY_TYPE[channel.type]
        needed = [s for s in spec.bot_scopes if s.split(":", 1)[0] == prefix]
        if needed and not set(needed) & self.scopes:
            raise missing_scope(needed, self.scopes)

    def visible_channel(self, ref: str) -> Channel:
        """A conversation the bot can see: public ones, and the others it is a member of."""
        channel = self.ws.channel(ref)
        if channel.type != "public_channel" and self.user_id not in channel.members:
            raise SlackError("channel_not_found")
        self.require_conversation_scope(channel)
        return channel

    def post_target(self, ref: str) -> Channel:
        """Where chat.* posts go: a channel the bot is in, or a user id meaning the app's DM."""
        if ref in self.ws.users and ref != self.user_id:
            if not self.ws.messages_tab_enabled:
                raise SlackError("messages_tab_disabled")
            return self.ws.add_im(ref)
        channel = self.visible_channel(ref)
        if channel.is_archived:
            raise SlackError("is_archived")
        if self.user_id not in channel.members and "chat:write.public" not in self.scopes:
            raise SlackError("not_in_channel")
        return channel

    # ---- content ----------------------------------------------------------------------------

    def blocks(self, *, detailed: bool) -> list[dict[str, Any]] | None:
        """The `blocks` argument, validated against Block Kit limits (`invalid_blocks`)."""
        if not self.has("blocks"):
            return None
        blocks = self.json_arg("blocks", error="invalid_blocks_format")
        if not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        errors = block_errors(blocks, max_blocks=MESSAGE_MAX_BLOCKS, is_known_file=self.known_file)
        if errors:
            extra: dict[str, Any] = {"response_metadata": {"messages": errors}} if detailed else {}
            raise SlackError("invalid_blocks", **extra)
        return assign_block_ids(blocks)

    def known_file(self, ref: dict[str, Any]) -> bool:
        if "id" in ref:
            return ref["id"] in self.ws.files
        url = ref.get("url")
        return any(url in self.ws.file_urls(f) for f in self.ws.files.values())


def paginate(items: list[Any], req: ApiRequest, *, default_limit: int) -> tuple[list[Any], str]:
    """Slack cursor pagination: a page of items and the `next_cursor` ("" on the last page)."""
    limit = req.int_arg("limit", default_limit, error="invalid_limit")
    if limit < 1 or limit > 1000:
        raise SlackError("invalid_limit")
    cursor = req.str_arg("cursor") or ""
    offset = 0
    if cursor:
        try:
            offset = int(base64.b64decode(cursor).decode().removeprefix("offset:"))
        except ValueError:
            raise SlackError("invalid_cursor") from None
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    next_cursor = base64.b64encode(f"offset:{offset + limit}".encode()).decode() if more else ""
    return page, next_cursor


Handler = Callable[[ApiRequest], dict[str, Any]]
