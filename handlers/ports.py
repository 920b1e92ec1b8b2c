"""What the use cases need from a chat platform, and the plain data they exchange with it.

Each door (`bot/slack`, `bot/teams`) implements `ChatPort`; handlers never import a platform SDK.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file someone shared in a conversation, as a door saw it."""

    platform: str
    file_id: str  # unique per platform: the same id delivered twice is the same share
    workspace_id: str
    channel_id: str
    user_id: str
    text: str = ""
    filename: str | None = None
    message_ref: str | None = None  # the platform's id of the message that shared it
    thread_ref: str | None = None  # where replies go (Slack thread_ts, Teams reply-chain id)
    channel_name: str | None = None
    channel_private: bool = False
    conversation: Mapping[str, object] = field(default_factory=dict)  # door-specific reply address


@dataclass(frozen=True, slots=True)
class Sighting:
    """A stored share: where to download from and where to reply."""

    id: uuid.UUID
    media_id: uuid.UUID | None
    platform: str
    workspace_id: str
    channel_id: str
    user_id: str
    file_id: str
    text: str
    filename: str | None
    message_ref: str | None
    thread_ref: str | None
    reply_ref: str | None
    conversation: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """Where a door says the bytes are. Handlers fetch them (allow-list, size and type checks)."""

    url: str
    headers: Mapping[str, str]
    allowed_hosts: tuple[str, ...]
    size: int | None = None
    name: str | None = None
    mimetype: str | None = None
    access_hint: str = "the link may have expired, or the app lacks permission to read files"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who clicked, typed or asked."""

    platform: str
    user_id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PersonView:
    id: uuid.UUID
    name: str
    slack_user_id: str | None
    teams_aad_id: str | None


@dataclass(frozen=True, slots=True)
class FaceView:
    id: uuid.UUID
    ordinal: int  # 1-based number drawn on the annotated image
    state: str  # unknown | suggested | confirmed
    person: PersonView | None
    confidence: float | None  # 0..1 for suggestions
    decided_by: str | None
    segments: tuple[tuple[float, float], ...] = ()  # video: when this person appears


@dataclass(frozen=True, slots=True)
class MediaView:
    id: uuid.UUID
    kind: str  # photo | video
    status: str
    filename: str | None
    faces: tuple[FaceView, ...]
    annotated_jpeg: bytes | None  # the picture with numbered face boxes (small)
    duration_s: float | None = None


class UserFacingError(Exception):
    """Something the person who shared the file should read, as one plain sentence."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class ChatPort(Protocol):
    platform: str

    async def resolve_file(self, sighting: Sighting) -> RemoteFile:
        """Where to download the shared file from (may call the platform's API)."""
        ...

    async def publish_media(self, sighting: Sighting, view: MediaView) -> str | None:
        """Post the media's reply in the thread, or update it when `sighting.reply_ref` is set.

        Returns the reply's reference for later updates."""
        ...

    async def notify(self, sighting: Sighting, sentence: str) -> None:
        """Tell the conversation one plain sentence, in the thread of the share."""
        ...
