"""The in-memory workspace behind the fake Slack: users, conversations, files, messages, views."""

from __future__ import annotations

import copy
import itertools
import mimetypes
import time
from dataclasses import dataclass, field
from typing import Any, Literal

ConversationType = Literal["public_channel", "private_channel", "im", "mpim"]

_PRETTY_TYPES = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "heic": "HEIC", "webp": "WebP"}
_PRETTY_TYPES |= {"mp4": "MPEG 4 Video", "mov": "QuickTime Movie", "txt": "Plain Text", "pdf": "PDF"}


class SlackError(Exception):
    """A Web API error answer: HTTP 200, `ok: false`, `error: code`, plus any extra keys."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def invalid_arguments(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": list(messages)})


@dataclass(slots=True)
class User:
    id: str
    name: str
    real_name: str
    team_id: str
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    tz: str = "Europe/Berlin"
    email: str | None = None

    def to_api(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.name,
            "display_name_normalized": self.name,
            "avatar_hash": "g0000000000",
            "image_72": f"https://avatars.invalid/{self.id}_72.png",
            "image_192": f"https://avatars.invalid/{self.id}_192.png",
            "team": self.team_id,
        }
        if self.email:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
        }


@dataclass(slots=True)
class Channel:
    id: str
    name: str
    type: ConversationType
    members: list[str]
    creator: str
    created: int = 1_700_000_000
    is_archived: bool = False
    user: str | None = None  # the other party of an im

    @property
    def event_channel_type(self) -> str:
        """The `channel_type` of message events: channel, group, im, mpim."""
        return {"public_channel": "channel", "private_channel": "group", "im": "im", "mpim": "mpim"}[
            self.type
        ]

    def to_api(self, bot_user_id: str) -> dict[str, Any]:
        if self.type == "im":
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.user,
                "is_archived": False,
            }
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": self.type == "public_channel",
            "is_group": self.type == "private_channel",
            "is_im": False,
            "is_mpim": self.type == "mpim",
            "is_private": self.type != "public_channel",
            "created": self.created,
            "is_archived": self.is_archived,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": "",
            "creator": self.creator,
            "is_member": bot_user_id in self.members,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
            "num_members": len(self.members),
        }


@dataclass(slots=True)
class Share:
    channel: str
    ts: str
    thread_ts: str | None


@dataclass(slots=True)
class File:
    id: str
    name: str
    title: str
    mimetype: str
    user: str
    data: bytes
    created: int
    shares: list[Share] = field(default_factory=list)

    @property
    def filetype(self) -> str:
        return self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary"

    @staticmethod
    def guess_mimetype(name: str) -> str:
        return mimetypes.guess_type(name)[0] or "application/octet-stream"


@dataclass(slots=True)
class Message:
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    subtype: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    files: list[str] = field(default_factory=list)
    edited: dict[str, str] | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier versions, oldest first
    metadata: dict[str, Any] | None = None


@dataclass(slots=True)
class View:
    id: str
    type: str
    payload: dict[str, Any]  # what the app sent: title, blocks, callback_id, private_metadata, ...
    team_id: str
    app_id: str
    bot_id: str
    hash: str
    user_id: str | None = None  # home tab owner, or who a modal was opened for
    root_view_id: str | None = None
    previous_view_id: str | None = None
    state: dict[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        p = self.payload
        view: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "type": self.type,
            "blocks": copy.deepcopy(p.get("blocks", [])),
            "private_metadata": p.get("private_metadata", ""),
            "callback_id": p.get("callback_id", ""),
            "state": {"values": copy.deepcopy(self.state)},
            "hash": self.hash,
            "clear_on_close": bool(p.get("clear_on_close", False)),
            "notify_on_close": bool(p.get("notify_on_close", False)),
            "root_view_id": self.root_view_id or self.id,
            "previous_view_id": self.previous_view_id,
            "app_id": self.app_id,
            "external_id": p.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        for key in ("title", "submit", "close"):
            if key in p:
                view[key] = copy.deepcopy(p[key])
        return view


@dataclass(slots=True)
class Trigger:
    id: str
    user_id: str
    issued: float
    used: bool = False


class Ids:
    """Slack-shaped ids (`U0000000001`) and message timestamps that always increase."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._ts_counter = itertools.count(1)
        self._base = int(time.time())

    def new(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter):010X}"

    def ts(self) -> str:
        n = next(self._ts_counter)
        return f"{self._base + n // 1_000_000}.{n % 1_000_000:06d}"


def pretty_type(filetype: str) -> str:
    return _PRETTY_TYPES.get(filetype, filetype.upper())
