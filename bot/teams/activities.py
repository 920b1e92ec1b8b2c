"""Teams activity payloads (plain JSON dicts) → the plain dataclasses of `handlers/`.

No SDK types here: the door dumps the SDK's `Activity` to its wire JSON and hands it over, so this
module is testable with the dicts Teams sends.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from handlers.ports import SharedFile

Json = Mapping[str, Any]

FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
REFERENCE = "reference"  # a file shared in a channel: its SharePoint URL (`contentUrl`)
PLATFORM = "teams"
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_IMG_SRC = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_ATTACHMENT_PATH = re.compile(r"/v3/attachments/([^/]+)/views/", re.IGNORECASE)
_THREAD = re.compile(r";messageid=(\d+)$")


def _dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Address:
    """Where a Teams activity came from and how to answer into the same place (reply chain included)."""

    service_url: str
    conversation_id: str
    conversation_type: str  # personal | groupChat | channel
    activity_id: str
    tenant_id: str
    bot_id: str
    bot_name: str
    team_id: str | None
    channel_id: str | None  # the Teams channel (19:…@thread.tacv2) for channel conversations
    aad_group_id: str | None = None  # the team's Entra group (channelData.team.aadGroupId), when sent

    @property
    def thread_root(self) -> str | None:
        """The reply chain's root message id in a channel (`…;messageid=<root>`), else None."""
        match = _THREAD.search(self.conversation_id)
        return match.group(1) if match else None

    @property
    def base_conversation(self) -> str:
        """The conversation without the `;messageid=` reply-chain suffix."""
        return _THREAD.sub("", self.conversation_id)

    def as_mapping(self) -> dict[str, object]:
        return {
            "service_url": self.service_url,
            "conversation_id": self.conversation_id,
            "conversation_type": self.conversation_type,
            "activity_id": self.activity_id,
            "tenant_id": self.tenant_id,
            "bot_id": self.bot_id,
            "bot_name": self.bot_name,
            "team_id": self.team_id,
            "channel_id": self.channel_id,
            "aad_group_id": self.aad_group_id,
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Address:
        team, channel, group = data.get("team_id"), data.get("channel_id"), data.get("aad_group_id")
        return cls(
            service_url=_str(data.get("service_url")),
            conversation_id=_str(data.get("conversation_id")),
            conversation_type=_str(data.get("conversation_type")),
            activity_id=_str(data.get("activity_id")),
            tenant_id=_str(data.get("tenant_id")),
            bot_id=_str(data.get("bot_id")),
            bot_name=_str(data.get("bot_name")),
            team_id=team if isinstance(team, str) else None,
            channel_id=channel if isinstance(channel, str) else None,
            aad_group_id=group if isinstance(group, str) and group else None,
        )


def address(activity: Json) -> Address:
    conversation = _dict(activity.get("conversation"))
    channel_data = _dict(activity.get("channelData"))
    recipient = _dict(activity.get("recipient"))
    team = _dict(channel_data.get("team")).get("id") or channel_data.get("teamsTeamId")
    group = _dict(channel_data.get("team")).get("aadGroupId")
    channel = _dict(channel_data.get("channel")).get("id") or channel_data.get("teamsChannelId")
    tenant = (
        _dict(channel_data.get("tenant")).get("id")
        or conversation.get("tenantId")
        or _dict(activity.get("from")).get("tenantId")
    )
    return Address(
        service_url=_str(activity.get("serviceUrl")),
        conversation_id=_str(conversation.get("id")),
        conversation_type=_str(conversation.get("conversationType")) or "personal",
        activity_id=_str(activity.get("id")),
        tenant_id=_str(tenant),
        bot_id=_str(recipient.get("id")),
        bot_name=_str(recipient.get("name")) or "facetag",
        team_id=str(team) if team else None,
        channel_id=str(channel) if channel else None,
        aad_group_id=str(group) if group else None,
    )


def user_id(account: Json) -> str:
    """Teams users are keyed by their Entra object id (the roster's `aadObjectId`), else the 29: id."""
    return _str(account.get("aadObjectId")) or _str(account.get("id"))


def is_from_bot(activity: Json, app_id: str) -> bool:
    sender = _str(_dict(activity.get("from")).get("id"))
    bot = _str(_dict(activity.get("recipient")).get("id"))
    return bool(sender) and (sender == bot or sender in {app_id, f"28:{app_id}"})


def plain_text(text: str) -> str:
    """The message text without bot mentions and HTML markup (hashtags are read from it)."""
    without = _MENTION.sub(" ", text)
    return " ".join(html.unescape(_TAG.sub(" ", without)).split())


def _attachment_key(url: str) -> str | None:
    match = _ATTACHMENT_PATH.search(urlsplit(url).path)
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class _Found:
    url: str
    needs_token: bool
    name: str | None
    content_type: str | None
    key: str
    via_graph: bool = False  # a SharePoint URL that Graph turns into a download link


def _found_files(activity: Json) -> list[_Found]:
    found: list[_Found] = []
    html_images: list[str] = []
    activity_id = _str(activity.get("id"))
    for index, raw in enumerate(activity.get("attachments") or []):
        attachment = _dict(raw)
        kind = _str(attachment.get("contentType")).lower()
        name = _str(attachment.get("name")) or None
        if kind == FILE_DOWNLOAD_INFO:
            content = _dict(attachment.get("content"))
            url = _str(content.get("downloadUrl"))
            unique = _str(content.get("uniqueId"))
            if url:
                found.append(_Found(url, False, name, None, unique or f"{activity_id}:{index}"))
        elif kind.startswith("image/"):
            url = _str(attachment.get("contentUrl"))
            if url:
                key = _attachment_key(url) or f"{activity_id}:{index}"
                found.append(_Found(url, True, name, kind, key))
        elif kind == REFERENCE:
            url = _str(attachment.get("contentUrl"))
            if urlsplit(url).scheme == "https":
                key = _str(attachment.get("id")) or f"{activity_id}:{index}"
                found.append(_Found(url, False, name, None, key, via_graph=True))
        elif kind == "text/html" and isinstance(attachment.get("content"), str):
            html_images.extend(_IMG_SRC.findall(attachment["content"]))
    if all(f.via_graph for f in found):
        # Channel messages carry pasted images only inside their HTML body (bot token required), also
        # next to files shared with them.
        for index, src in enumerate(dict.fromkeys(html.unescape(s) for s in html_images)):
            if urlsplit(src).scheme in {"http", "https"}:
                key = _attachment_key(src) or f"{activity_id}:html{index}"
                found.append(_Found(src, True, None, None, key))
    return found


def shared_files(activity: Json) -> list[SharedFile]:
    """A message activity: one SharedFile per image or file attached to it."""
    where = address(activity)
    sender = _dict(activity.get("from"))
    conversation = _dict(activity.get("conversation"))
    text = plain_text(_str(activity.get("text")))
    is_channel = where.conversation_type == "channel"
    files: list[SharedFile] = []
    for item in _found_files(activity):
        files.append(
            SharedFile(
                platform=PLATFORM,
                file_id=item.key,
                workspace_id=where.tenant_id,
                channel_id=(where.channel_id or where.base_conversation)
                if is_channel
                else where.conversation_id,
                user_id=user_id(sender),
                text=text,
                filename=item.name,
                message_ref=where.activity_id,
                thread_ref=where.thread_root or where.activity_id,
                channel_name=_str(conversation.get("name")) or None,
                channel_private=not is_channel,
                conversation={
                    **where.as_mapping(),
                    "download_url": item.url,
                    "download_needs_token": item.needs_token,
                    "download_via_graph": item.via_graph,
                    "content_type": item.content_type,
                    "name": item.name,
                },
            )
        )
    return files


@dataclass(frozen=True, slots=True)
class CardAction:
    """An `adaptiveCard/action` invoke (Action.Execute)."""

    verb: str
    face_id: str
    aad_object_id: str | None  # the person the card suggested, when any
    person_select: str | None  # the person picked in the card's Input.ChoiceSet, when submitted
    actor_id: str
    actor_name: str | None
    where: Address
    data: Json = field(default_factory=dict)  # the whole `data` (inputs merged), for non-face verbs


def card_action(activity: Json) -> CardAction | None:
    value = _dict(activity.get("value"))
    action = _dict(value.get("action"))
    if action.get("type") != "Action.Execute":
        return None
    data = _dict(action.get("data"))
    sender = _dict(activity.get("from"))
    picked = data.get("person_select")
    suggested = data.get("aad_object_id")
    return CardAction(
        verb=_str(action.get("verb")),
        face_id=_str(data.get("face_id")),
        aad_object_id=suggested if isinstance(suggested, str) and suggested else None,
        person_select=picked.strip() if isinstance(picked, str) and picked.strip() else None,
        actor_id=user_id(sender),
        actor_name=_str(sender.get("name")) or None,
        where=address(activity),
        data=data,
    )


def conversation_key(where: Address) -> str:
    """The id sightings of this conversation carry as `channel_id` (see `shared_files`)."""
    if where.conversation_type == "channel":
        return where.channel_id or where.base_conversation
    return where.conversation_id


def _bot_ids(activity: Json, app_id: str) -> set[str]:
    bot = _str(_dict(activity.get("recipient")).get("id"))
    return {i for i in (bot, app_id, f"28:{app_id}") if i}


def mentions_bot(activity: Json, app_id: str) -> bool:
    """True when a `mention` entity names the bot (channels and group chats need one for commands)."""
    bots = _bot_ids(activity, app_id)
    for raw in activity.get("entities") or []:
        entity = _dict(raw)
        if entity.get("type") == "mention" and _str(_dict(entity.get("mentioned")).get("id")) in bots:
            return True
    return False


_AT = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)


def command_text(activity: Json, app_id: str) -> str:
    """The message text as a command: the bot's mention removed, other people's mentions as
    `@"Name"` (the query language's person term), HTML markup removed."""
    bots = _bot_ids(activity, app_id)
    bot_texts = {_str(_dict(activity.get("recipient")).get("name")).casefold()}
    for raw in activity.get("entities") or []:
        entity = _dict(raw)
        if entity.get("type") == "mention" and _str(_dict(entity.get("mentioned")).get("id")) in bots:
            bot_texts.add(_AT.sub(r"\1", _str(entity.get("text"))).strip().casefold())

    def person(match: re.Match[str]) -> str:
        name = " ".join(html.unescape(_TAG.sub(" ", match.group(1))).split())
        if not name or name.casefold() in bot_texts:
            return " "
        return ' @"' + name.replace('"', "") + '" '

    text = _AT.sub(person, _str(activity.get("text")))
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


@dataclass(frozen=True, slots=True)
class ExtensionQuery:
    """An `invoke` `composeExtension/query` (messaging-extension search)."""

    command_id: str
    text: str  # the `query` parameter ("" on the initial run)
    skip: int
    count: int
    user_id: str


def _int(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return default


def extension_query(activity: Json) -> ExtensionQuery:
    value = _dict(activity.get("value"))
    text = ""
    for raw in value.get("parameters") or []:
        parameter = _dict(raw)
        if parameter.get("name") == "query":
            text = _str(parameter.get("value")).strip()
    options = _dict(value.get("queryOptions"))
    return ExtensionQuery(
        command_id=_str(value.get("commandId")),
        text=text,
        skip=max(0, _int(options.get("skip"), 0)),
        count=max(0, _int(options.get("count"), 25)),
        user_id=user_id(_dict(activity.get("from"))),
    )
