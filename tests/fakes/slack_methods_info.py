"""auth.test, users.info, users.conversations, conversations.members, conversations.info."""

from __future__ import annotations

from typing import Any

from tests.fakes.slack_request import ApiRequest, Handler, missing_scope, paginate
from tests.fakes.slack_spec import SCOPE_PREFIX_BY_TYPE
from tests.fakes.slack_workspace import SlackError


def auth_test(req: ApiRequest) -> dict[str, Any]:
    ws = req.ws
    return {
        "ok": True,
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": ws.team_name,
        "user": ws.bot_user.name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user.id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def users_info(req: ApiRequest) -> dict[str, Any]:
    return {"ok": True, "user": req.ws.user(req.req_str("user")).to_api()}


def users_conversations(req: ApiRequest) -> dict[str, Any]:
    types = [t.strip() for t in (req.str_arg("types") or "public_channel").split(",") if t.strip()]
    for kind in types:
        if kind not in SCOPE_PREFIX_BY_TYPE:
            raise SlackError("invalid_types")
        needed = f"{SCOPE_PREFIX_BY_TYPE[kind]}:read"
        if needed not in req.scopes:
            raise missing_scope([needed], req.scopes)
    user_id = req.str_arg("user") or req.user_id
    req.ws.user(user_id)
    exclude_archived = req.bool_arg("exclude_archived")
    found = [
        c
        for c in req.ws.channels.values()
        if c.type in types
        and user_id in c.members
        and (c.type == "public_channel" or req.user_id in c.members)
        and not (exclude_archived and c.is_archived)
    ]
    page, next_cursor = paginate(found, req, default_limit=100)
    channels = [c.to_api(req.ws.bot_user.id) for c in page]
    return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": next_cursor}}


def conversations_members(req: ApiRequest) -> dict[str, Any]:
    channel = req.visible_channel(req.req_str("channel"))
    page, next_cursor = paginate(list(channel.members), req, default_limit=100)
    return {"ok": True, "members": page, "response_metadata": {"next_cursor": next_cursor}}


def conversations_info(req: ApiRequest) -> dict[str, Any]:
    channel = req.visible_channel(req.req_str("channel"))
    data = channel.to_api(req.ws.bot_user.id)
    if not req.bool_arg("include_num_members"):
        data.pop("num_members", None)
    return {"ok": True, "channel": data}


HANDLERS: dict[str, Handler] = {
    "auth.test": auth_test,
    "users.info": users_info,
    "users.conversations": users_conversations,
    "conversations.members": conversations_members,
    "conversations.info": conversations_info,
}
