"""The fake workspace's state and the population helpers tests call."""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.slack_workspace import (
    Channel,
    ConversationType,
    File,
    Ids,
    Message,
    Share,
    SlackError,
    Trigger,
    User,
    View,
    pretty_type,
)


@dataclass(slots=True)
class PendingUpload:
    file_id: str
    filename: str
    length: int
    data: bytes | None = None


@dataclass(slots=True)
class ResponseUrl:
    id: str
    channel: str
    user: str
    issued: float
    message_ts: str | None = None  # the message an interaction came from (replace_original / delete_original)
    posts: list[dict[str, Any]] = field(default_factory=list)


class Workspace:
    """Users, conversations, files, messages and views of one Slack team with the app installed."""

    def __init__(self, *, team_id: str, team_domain: str, bot_scopes: set[str]) -> None:
        self.ids = Ids()
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_domain.replace("-", " ").title()
        self.app_id = "A0FACETAG01"
        self.bot_id = "B0FACETAG01"
        self.bot_user = User(
            id="U0FACETAG01", name="facetag", real_name="facetag", team_id=team_id, is_bot=True
        )
        self.bot_token = "xoxb-1234567890-1234567890123-fakebottokenfacetag0001"
        self.bot_scopes = bot_scopes
        self.verification_token = "fakeverificationtoken0001"
        self.home_tab_enabled = True
        self.messages_tab_enabled = True
        self.users: dict[str, User] = {self.bot_user.id: self.bot_user}
        self.channels: dict[str, Channel] = {}
        self.files: dict[str, File] = {}
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: dict[str, list[dict[str, Any]]] = {}
        self.views: dict[str, View] = {}
        self.home_views: dict[str, str] = {}  # user id -> view id
        self.triggers: dict[str, Trigger] = {}
        self.trigger_ttl = 3.0
        self.uploads: dict[str, PendingUpload] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.base_url = ""  # http://127.0.0.1:<port>, set when the server starts

    # ---- population -------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        *,
        real_name: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        email: str | None = None,
        user_id: str | None = None,
    ) -> User:
        user = User(
            id=user_id or self.ids.new("U"),
            name=name,
            real_name=real_name or name.title(),
            team_id=self.team_id,
            is_admin=is_admin or is_owner,
            is_owner=is_owner,
            is_bot=is_bot,
            email=email,
        )
        self.users[user.id] = user
        return user

    def add_channel(
        self,
        name: str,
        *,
        members: list[str] | tuple[str, ...] = (),
        private: bool = False,
        bot_member: bool = True,
        channel_id: str | None = None,
    ) -> Channel:
        kind: ConversationType = "private_channel" if private else "public_channel"
        all_members = [*members, *([self.bot_user.id] if bot_member else [])]
        creator = all_members[0] if all_members else self.bot_user.id
        channel = Channel(
            id=channel_id or self.ids.new("C"), name=name, type=kind, members=all_members, creator=creator
        )
        self.channels[channel.id] = channel
        return channel

    def add_im(self, user_id: str) -> Channel:
        """The app's direct-message conversation with a user (the App Home "Messages" tab)."""
        for channel in self.channels.values():
            if channel.type == "im" and channel.user == user_id:
                return channel
        self.user(user_id)
        channel = Channel(
            id=self.ids.new("D"),
            name=user_id,
            type="im",
            members=[user_id, self.bot_user.id],
            creator=user_id,
            user=user_id,
        )
        self.channels[channel.id] = channel
        return channel

    def add_mpim(self, members: list[str], *, bot_member: bool = True) -> Channel:
        all_members = [*members, *([self.bot_user.id] if bot_member else [])]
        names = "--".join(self.user(m).name for m in members)
        channel = Channel(
            id=self.ids.new("G"), name=f"mpdm-{names}-1", type="mpim", members=all_members, creator=members[0]
        )
        self.channels[channel.id] = channel
        return channel

    def join(self, channel_id: str, user_id: str) -> None:
        channel = self.channel(channel_id)
        if user_id not in channel.members:
            channel.members.append(user_id)

    def leave(self, channel_id: str, user_id: str) -> None:
        channel = self.channel(channel_id)
        if user_id in channel.members:
            channel.members.remove(user_id)

    def add_file(
        self,
        user_id: str,
        name: str,
        data: bytes,
        *,
        mimetype: str | None = None,
        title: str | None = None,
    ) -> File:
        """A file a user uploaded; share it with `post_message(..., files=[file.id])` or a payload builder."""
        self.user(user_id)
        file = File(
            id=self.ids.new("F"),
            name=name,
            title=title or name,
            mimetype=mimetype or File.guess_mimetype(name),
            user=user_id,
            data=data,
            created=int(time.time()),
        )
        self.files[file.id] = file
        return file

    def post_message(
        self,
        channel_id: str,
        user_id: str,
        text: str = "",
        *,
        thread_ts: str | None = None,
        files: list[str] | tuple[str, ...] = (),
        blocks: list[dict[str, Any]] | None = None,
        subtype: str | None = None,
        bot: bool = False,
    ) -> Message:
        """Store a message as if posted (by a user, or by the app when `bot`); files get shared."""
        channel = self.channel(channel_id)
        message = Message(
            channel=channel.id,
            ts=self.ids.ts(),
            user=user_id,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            subtype=subtype or ("file_share" if files and not bot else None),
            bot_id=self.bot_id if bot else None,
            app_id=self.app_id if bot else None,
            files=list(files),
        )
        for file_id in files:
            self.file(file_id).shares.append(Share(channel=channel.id, ts=message.ts, thread_ts=thread_ts))
        self.messages.setdefault(channel.id, []).append(message)
        return message

    def issue_trigger(self, user_id: str) -> str:
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        trigger = Trigger(id=trigger_id, user_id=user_id, issued=time.monotonic())
        self.triggers[trigger.id] = trigger
        return trigger.id

    def issue_response_url(self, channel_id: str, user_id: str, message_ts: str | None = None) -> str:
        url_id = self.ids.new("R")
        self.response_urls[url_id] = ResponseUrl(
            id=url_id, channel=channel_id, user=user_id, issued=time.monotonic(), message_ts=message_ts
        )
        return f"{self.base_url}/commands/{url_id}"

    # ---- look-ups ---------------------------------------------------------------------------

    def user(self, user_id: str) -> User:
        try:
            return self.users[user_id]
        except KeyError:
            raise SlackError("user_not_found") from None

    def channel(self, ref: str) -> Channel:
        """By id or by name (`#photos` or `photos`); an unknown one is `channel_not_found`."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        for channel in self.channels.values():
            if channel.type in ("public_channel", "private_channel") and channel.name == name:
                return channel
        raise SlackError("channel_not_found")

    def file(self, file_id: str) -> File:
        try:
            return self.files[file_id]
        except KeyError:
            raise SlackError("file_not_found") from None

    def message(self, channel_id: str, ts: str) -> Message:
        for message in self.messages.get(channel_id, []):
            if message.ts == ts and not message.deleted:
                return message
        raise SlackError("message_not_found")

    def messages_in(self, channel_id: str, thread_ts: str | None = None) -> list[Message]:
        found = [m for m in self.messages.get(channel_id, []) if not m.deleted]
        if thread_ts is not None:
            found = [m for m in found if m.ts == thread_ts or m.thread_ts == thread_ts]
        return found

    # ---- API renderings ---------------------------------------------------------------------

    def file_urls(self, file: File) -> tuple[str, str]:
        base = f"{self.base_url}/files-pri/{self.team_id}-{file.id}"
        return f"{base}/{file.name}", f"{base}/download/{file.name}"

    def file_to_api(self, file: File, *, with_shares: bool = True) -> dict[str, Any]:
        url_private, url_download = self.file_urls(file)
        channels = sorted({s.channel for s in file.shares})
        kinds = {c: self.channels[c].type for c in channels}
        data: dict[str, Any] = {
            "id": file.id,
            "created": file.created,
            "timestamp": file.created,
            "name": file.name,
            "title": file.title,
            "mimetype": file.mimetype,
            "filetype": file.filetype,
            "pretty_type": pretty_type(file.filetype),
            "user": file.user,
            "user_team": self.team_id,
            "editable": False,
            "size": len(file.data),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": any(k == "public_channel" for k in kinds.values()),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": url_private,
            "url_private_download": url_download,
            "permalink": f"https://{self.team_domain}.slack.com/files/{file.user}/{file.id}/{file.name}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{file.id}-0000000000",
            "file_access": "visible",
            "media_display_type": "unknown",
            "has_rich_preview": False,
            "comments_count": 0,
            "is_starred": False,
        }
        if with_shares:
            data["channels"] = [c for c, k in kinds.items() if k == "public_channel"]
            data["groups"] = [c for c, k in kinds.items() if k in ("private_channel", "mpim")]
            data["ims"] = [c for c, k in kinds.items() if k == "im"]
            data["has_more_shares"] = False
            data["shares"] = self._shares_to_api(file)
        return data

    def _shares_to_api(self, file: File) -> dict[str, Any]:
        shares: dict[str, Any] = {}
        for share in file.shares:
            channel = self.channels[share.channel]
            visibility = "public" if channel.type == "public_channel" else "private"
            entry: dict[str, Any] = {
                "reply_users": [],
                "reply_users_count": 0,
                "reply_count": 0,
                "ts": share.ts,
                "channel_name": channel.name,
                "team_id": self.team_id,
                "share_user_id": file.user,
                "source": "UNKNOWN",
            }
            if share.thread_ts:
                entry["thread_ts"] = share.thread_ts
            shares.setdefault(visibility, {}).setdefault(channel.id, []).append(entry)
        return shares

    def bot_profile(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "deleted": False,
            "name": self.bot_user.name,
            "updated": 1_700_000_000,
            "app_id": self.app_id,
            "icons": {
                "image_36": "https://avatars.invalid/bot_36.png",
                "image_48": "https://avatars.invalid/bot_48.png",
            },
            "team_id": self.team_id,
        }

    def message_to_api(self, message: Message) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": "message",
            "text": message.text,
            "user": message.user,
            "ts": message.ts,
        }
        data["team"] = self.team_id
        if message.subtype:
            data["subtype"] = message.subtype
        if message.bot_id:
            data["bot_id"] = message.bot_id
            data["app_id"] = message.app_id
            data["bot_profile"] = self.bot_profile()
        if message.blocks is not None:
            data["blocks"] = copy.deepcopy(message.blocks)
        if message.attachments:
            data["attachments"] = copy.deepcopy(message.attachments)
        if message.thread_ts:
            data["thread_ts"] = message.thread_ts
            parent = next(
                (m for m in self.messages.get(message.channel, []) if m.ts == message.thread_ts), None
            )
            if parent is not None:
                data["parent_user_id"] = parent.user
        if message.files:
            data["files"] = [self.file_to_api(self.files[f], with_shares=False) for f in message.files]
            data["upload"] = message.bot_id is not None
        if message.edited:
            data["edited"] = dict(message.edited)
        if message.reactions:
            data["reactions"] = [
                {"name": n, "users": list(u), "count": len(u)} for n, u in message.reactions.items()
            ]
        if message.metadata is not None:
            data["metadata"] = copy.deepcopy(message.metadata)
        return data
