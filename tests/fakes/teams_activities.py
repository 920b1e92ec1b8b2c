"""Builders for the activities Teams sends to the bot (each valid against activity.schema.json)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.fakes.teams_base import Json
from tests.fakes.teams_connector import CHANNEL_ID, TEAM_ID, TeamsMember

FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"

# --------------------------------------------------------------------------- activity builders


@dataclass(frozen=True, slots=True)
class TeamsUser:
    id: str = "29:1ada-lovelace"
    name: str = "Ada Lovelace"
    aad_object_id: str = "6f1c9c3e-8a51-4a0a-9c2b-1d4d5a6b7c01"
    email: str = "ada@contoso.example"

    def account(self) -> Json:
        return {"id": self.id, "name": self.name, "aadObjectId": self.aad_object_id}

    def member(self, tenant_id: str) -> TeamsMember:
        return TeamsMember(self.id, self.name, self.aad_object_id, self.email, tenant_id)


ADA = TeamsUser()
GRACE = TeamsUser(
    "29:1grace-hopper", "Grace Hopper", "0b7e4f2d-3c5a-4e6f-8a9b-2c3d4e5f6a02", "grace@contoso.example"
)

GROUP_CHAT_ID = "19:meeting-prep-chat@thread.v2"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ActivityFactory:
    """Teams-shaped activities addressed to the bot `app_id` from `service_url`."""

    service_url: str
    app_id: str
    tenant_id: str
    bot_name: str = "facetag"

    def _bot(self) -> Json:
        return {"id": f"28:{self.app_id}", "name": self.bot_name}

    def personal_conversation(self, user: TeamsUser = ADA) -> Json:
        return {"conversationType": "personal", "id": f"a:1{user.aad_object_id}", "tenantId": self.tenant_id}

    def channel_conversation(
        self, root_message_id: str = "1700000000000", channel_id: str = CHANNEL_ID
    ) -> Json:
        return {
            "isGroup": True,
            "conversationType": "channel",
            "id": f"{channel_id};messageid={root_message_id}",
            "name": "photos",
            "tenantId": self.tenant_id,
        }

    def group_conversation(self, chat_id: str = GROUP_CHAT_ID) -> Json:
        return {"isGroup": True, "conversationType": "groupChat", "id": chat_id, "tenantId": self.tenant_id}

    def group_image_message(
        self, content_url: str, text: str = "", user: TeamsUser = ADA, chat_id: str = GROUP_CHAT_ID
    ) -> Json:
        """An image pasted into a group chat, @mentioning the bot."""
        activity = self.inline_image_message(content_url, text, user, "image/jpeg")
        mention = f"<at>{self.bot_name}</at>"
        activity["conversation"] = self.group_conversation(chat_id)
        activity["text"] = f"{mention} {text}".strip()
        activity["entities"] = [{"type": "mention", "mentioned": self._bot(), "text": mention}]
        return activity

    def _base(self, kind: str, user: TeamsUser, conversation: Json, channel_data: Json | None = None) -> Json:
        data: Json = {"tenant": {"id": self.tenant_id}}
        data.update(channel_data or {})
        return {
            "type": kind,
            "id": str(uuid.uuid4().int % 10**13),
            "timestamp": _now(),
            "localTimestamp": _now(),
            "localTimezone": "Europe/Berlin",
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": user.account(),
            "conversation": conversation,
            "recipient": self._bot(),
            "locale": "en-US",
            "channelData": data,
        }

    def personal_message(self, text: str, user: TeamsUser = ADA) -> Json:
        activity = self._base("message", user, self.personal_conversation(user))
        activity.update({"text": text, "textFormat": "plain"})
        return activity

    def inline_image_message(
        self, content_url: str, text: str = "", user: TeamsUser = ADA, content_type: str = "image/png"
    ) -> Json:
        """An image pasted into the compose box (personal chat): contentUrl on the connector."""
        activity = self.personal_message(text, user)
        activity["attachments"] = [{"contentType": content_type, "contentUrl": content_url}]
        return activity

    def file_message(
        self,
        download_url: str,
        name: str = "photo.jpg",
        file_type: str = "jpg",
        user: TeamsUser = ADA,
        unique_id: str | None = None,
    ) -> Json:
        """A paperclip file in a personal chat (needs supportsFiles)."""
        activity = self.personal_message("", user)
        activity["attachments"] = [
            {
                "contentType": FILE_DOWNLOAD_INFO,
                "contentUrl": f"https://contoso-my.sharepoint.com/personal/ada/Documents/{name}",
                "name": name,
                "content": {
                    "downloadUrl": download_url,
                    "uniqueId": unique_id or str(uuid.uuid4()),
                    "fileType": file_type,
                },
            }
        ]
        return activity

    def channel_mention(
        self,
        text: str = "",
        user: TeamsUser = ADA,
        attachments: Sequence[Json] = (),
        root: str = "1700000000000",
        team_id: str = TEAM_ID,
        channel_id: str = CHANNEL_ID,
        aad_group_id: str | None = None,
    ) -> Json:
        """A channel message that @mentions the bot (what the bot sees without RSC); `aad_group_id`
        adds the team's Entra group to `channelData.team`, as Teams sometimes does."""
        mention = f"<at>{self.bot_name}</at>"
        team: Json = {"id": team_id}
        if aad_group_id:
            team["aadGroupId"] = aad_group_id
        channel_data = {
            "teamsChannelId": channel_id,
            "teamsTeamId": team_id,
            "channel": {"id": channel_id},
            "team": team,
        }
        activity = self._base("message", user, self.channel_conversation(root, channel_id), channel_data)
        activity.update(
            {
                "text": f"{mention} {text}".strip(),
                "textFormat": "plain",
                "entities": [{"type": "mention", "mentioned": self._bot(), "text": mention}],
            }
        )
        if attachments:
            activity["attachments"] = list(attachments)
        return activity

    def card_action(
        self,
        verb: str,
        data: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        user: TeamsUser = ADA,
        reply_to: str | None = None,
    ) -> Json:
        """An Adaptive Card Action.Execute click: invoke `adaptiveCard/action`; card inputs
        (e.g. Input.ChoiceSet `person_select`) arrive merged into `data`, as Teams does."""
        activity = self._base("invoke", user, self.personal_conversation(user))
        activity.update(
            {
                "name": "adaptiveCard/action",
                "value": {
                    "action": {"type": "Action.Execute", "verb": verb, "data": {**data, **(inputs or {})}},
                    "trigger": "manual",
                },
            }
        )
        if reply_to:
            activity["replyToId"] = reply_to
        return activity

    def typeahead(
        self, query: str, dataset: str, skip: int = 0, top: int = 15, user: TeamsUser = ADA
    ) -> Json:
        """Typing into an Input.ChoiceSet with `choices.data` (dynamic typeahead): invoke
        `application/search`; move it into a channel with `TeamsScenario.in_channel`."""
        activity = self._base("invoke", user, self.personal_conversation(user))
        activity.update(
            {
                "name": "application/search",
                "value": {"queryText": query, "queryOptions": {"skip": skip, "top": top}, "dataset": dataset},
            }
        )
        return activity

    def search_query(
        self,
        query: str,
        skip: int = 0,
        count: int = 25,
        user: TeamsUser = ADA,
        command_id: str = "searchPhotos",
        initial_run: bool = False,
    ) -> Json:
        """A messaging-extension search: invoke `composeExtension/query`."""
        parameters = [{"name": "initialRun", "value": "true"}] if initial_run else []
        parameters.append({"name": "query", "value": query})
        activity = self._base(
            "invoke", user, self.personal_conversation(user), {"source": {"name": "compose"}}
        )
        activity.update(
            {
                "name": "composeExtension/query",
                "value": {
                    "commandId": command_id,
                    "parameters": parameters,
                    "queryOptions": {"skip": skip, "count": count},
                },
            }
        )
        return activity
