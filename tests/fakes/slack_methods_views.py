"""views.open, views.update, views.publish; trigger ids expire after 3 s and work once."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from tests.fakes.slack_blocks import assign_block_ids, view_errors
from tests.fakes.slack_request import ApiRequest, Handler
from tests.fakes.slack_workspace import SlackError, View, invalid_arguments

_MAX_VIEW_BYTES = 250 * 1024


def _new_hash() -> str:
    return f"{int(time.time())}.{secrets.token_hex(4)}"


def _view_arg(req: ApiRequest, *, kind: str) -> dict[str, Any]:
    view = req.json_arg("view", error="invalid_arguments")
    if len(json.dumps(view)) > _MAX_VIEW_BYTES:
        raise SlackError("view_too_large")
    errors = view_errors(view, kind=kind, is_known_file=req.known_file)
    if errors:
        raise invalid_arguments(*errors)
    assert isinstance(view, dict)
    return {**view, "blocks": assign_block_ids(view.get("blocks", []))}


def _check_external_id(req: ApiRequest, payload: dict[str, Any], *, current: View | None) -> None:
    external_id = payload.get("external_id")
    if not external_id:
        return
    for view in req.ws.views.values():
        if view is not current and view.payload.get("external_id") == external_id:
            raise SlackError("duplicate_external_id")


def _exchange_trigger(req: ApiRequest) -> str:
    trigger_id = req.str_arg("trigger_id") or req.str_arg("interactivity_pointer")
    if not trigger_id:
        raise invalid_arguments("[ERROR] missing required field: trigger_id")
    trigger = req.ws.triggers.get(trigger_id)
    if trigger is None:
        raise SlackError("invalid_trigger_id")
    if trigger.used:
        raise SlackError("exchanged_trigger_id")
    if time.monotonic() - trigger.issued > req.ws.trigger_ttl:
        raise SlackError("expired_trigger_id")
    trigger.used = True
    return trigger.user_id


def _new_view(req: ApiRequest, payload: dict[str, Any], *, user_id: str) -> View:
    ws = req.ws
    view = View(
        id=ws.ids.new("V"),
        type=payload["type"],
        payload=payload,
        team_id=ws.team_id,
        app_id=ws.app_id,
        bot_id=ws.bot_id,
        hash=_new_hash(),
        user_id=user_id,
    )
    ws.views[view.id] = view
    return view


def views_open(req: ApiRequest) -> dict[str, Any]:
    payload = _view_arg(req, kind="modal")
    user_id = _exchange_trigger(req)
    _check_external_id(req, payload, current=None)
    view = _new_view(req, payload, user_id=user_id)
    return {"ok": True, "view": view.to_api()}


def views_update(req: ApiRequest) -> dict[str, Any]:
    view_id, external_id = req.str_arg("view_id"), req.str_arg("external_id")
    if not view_id and not external_id:
        raise invalid_arguments("[ERROR] either view_id or external_id is required")
    if view_id:
        view = req.ws.views.get(view_id)
    else:
        view = next((v for v in req.ws.views.values() if v.payload.get("external_id") == external_id), None)
    if view is None:
        raise SlackError("not_found")
    payload = _view_arg(req, kind=view.type)
    if req.has("hash") and req.str_arg("hash") != view.hash:
        raise SlackError("hash_conflict")
    _check_external_id(req, payload, current=view)
    view.payload, view.hash = payload, _new_hash()
    return {"ok": True, "view": view.to_api()}


def views_publish(req: ApiRequest) -> dict[str, Any]:
    if not req.ws.home_tab_enabled:
        raise SlackError("not_enabled")
    user_id = req.req_str("user_id")
    if user_id not in req.ws.users:
        raise invalid_arguments("[ERROR] invalid user_id [json-pointer:/user_id]")
    payload = _view_arg(req, kind="home")
    current = req.ws.views.get(req.ws.home_views.get(user_id, ""))
    if current is not None and req.has("hash") and req.str_arg("hash") != current.hash:
        raise SlackError("hash_conflict")
    _check_external_id(req, payload, current=current)
    if current is None:
        current = _new_view(req, payload, user_id=user_id)
        req.ws.home_views[user_id] = current.id
    else:
        current.payload, current.hash = payload, _new_hash()
    return {"ok": True, "view": current.to_api()}


HANDLERS: dict[str, Handler] = {
    "views.open": views_open,
    "views.update": views_update,
    "views.publish": views_publish,
}
