"""The Teams door: Bot Framework token check (bot.teams.auth) → SDK turn → plain dataclasses → handlers.

Everything arrives at POST /api/messages:
  message                 images and files in it → `handlers.media.media_shared` (one per attachment)
                          otherwise the `search` / `pending` / `help` commands (bot.teams.commands)
  invoke adaptiveCard/action   Action.Execute face_confirm | face_reject | face_identify, answered
                          synchronously with the refreshed card (or the roster ChoiceSet for identify);
                          search_more | media_approve | media_reject (bot.teams.commands)
  invoke composeExtension/query   the messaging-extension search `searchPhotos`
  invoke application/search       typeahead in the identify ChoiceSet of a big roster (dataset `members`)
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from aiohttp import web
from microsoft_agents.activity import (
    Activity,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    Attachment,
    InvokeResponse,
)
from microsoft_agents.hosting.core import ActivityHandler, TurnContext
from sqlalchemy import select

from bot.teams import activities
from bot.teams.adapter import build_teams_adapter
from bot.teams.auth import MESSAGES_PATH, BotFrameworkTokenValidator, add_teams_routes
from bot.teams.cards import (
    CARD_CONTENT_TYPE,
    MEMBERS_DATASET,
    VERB_CONFIRM,
    VERB_IDENTIFY,
    VERB_REJECT,
    media_card,
)
from bot.teams.chat import TeamsChat
from bot.teams.commands import VERBS, Answer, TeamsCommands
from bot.teams.config import TeamsAuthConfig
from bot.teams.owners import TeamOwners
from bot.teams.viewers import TeamsViewers
from handlers import faces, media, views
from handlers.context import Context
from handlers.ports import Actor, FaceView
from storage.models import Face
from storage.settings import Settings

log = logging.getLogger(__name__)

MESSAGE_TYPE = "application/vnd.microsoft.activity.message"
ERROR_TYPE = "application/vnd.microsoft.error"
EXTENSION_QUERY = "composeExtension/query"
TYPEAHEAD = "application/search"
TYPEAHEAD_MAX = 15  # Teams shows at most 15 options
SEARCH_RESPONSE = "application/vnd.microsoft.search.searchResponse"


def _wire(turn_context: TurnContext) -> dict[str, Any]:
    """The SDK's Activity as the JSON Teams sent."""
    dumped: dict[str, Any] = turn_context.activity.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def _card_response(card: dict[str, Any]) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=card)


def _message_response(sentence: str) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=200, type=MESSAGE_TYPE, value=sentence)


def _error_response(status: int, code: str, message: str) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(
        status_code=status, type=ERROR_TYPE, value={"code": code, "message": message}
    )


def _answer_response(answer: Answer) -> AdaptiveCardInvokeResponse:
    return _card_response(answer.card) if answer.card is not None else _message_response(answer.text)


def _answer_activity(answer: Answer) -> Activity:
    if answer.card is None:
        return Activity(type="message", text=answer.text, text_format="markdown")
    return Activity(
        type="message",
        summary=answer.text,
        attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=answer.card)],
    )


class FacetagAgent(ActivityHandler):
    """Translates Teams activities into handler calls."""

    def __init__(
        self, ctx: Context, chat: TeamsChat, app_id: str, commands: TeamsCommands, viewers: TeamsViewers
    ) -> None:
        self.ctx = ctx
        self.chat = chat
        self.app_id = app_id
        self.commands = commands
        self.viewers = viewers

    async def on_message_activity(self, turn_context: TurnContext) -> None:  # type: ignore[override]
        activity = _wire(turn_context)
        if activities.is_from_bot(activity, self.app_id):
            return
        shared = activities.shared_files(activity)
        for item in shared:
            await media.media_shared(self.ctx, item)
        if shared:
            return
        answer = await self.commands.message(activity)
        if answer is not None:
            await turn_context.send_activity(_answer_activity(answer))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:  # type: ignore[override]
        if turn_context.activity.name == EXTENSION_QUERY:
            body = await self.commands.extension(_wire(turn_context))
            return InvokeResponse(status=200, body=body)
        if turn_context.activity.name == TYPEAHEAD:
            return InvokeResponse(status=200, body=await self._typeahead(_wire(turn_context)))
        response: InvokeResponse | None = await super().on_invoke_activity(turn_context)
        return response

    async def on_adaptive_card_invoke(  # type: ignore[override]
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        activity = _wire(turn_context)
        action = activities.card_action(activity)
        if action is None:
            return _error_response(400, "NotSupported", "Only Action.Execute is supported.")
        if action.verb in VERBS:
            return _answer_response(await self.commands.card(action, activity))
        face_id = _uuid(action.face_id)
        if face_id is None:
            return _error_response(400, "BadRequest", "The card action has no valid face_id.")
        actor = Actor("teams", action.actor_id, action.actor_name)
        try:
            if action.verb == VERB_CONFIRM:
                stale = await self._stale(face_id, action.aad_object_id)
                if stale is not None:
                    return stale
                decision = await faces.confirm(self.ctx, face_id=face_id, actor=actor)
            elif action.verb == VERB_REJECT:
                stale = await self._stale(face_id, action.aad_object_id)
                if stale is not None:
                    return stale
                decision = await faces.reject(self.ctx, face_id=face_id, actor=actor)
            elif action.verb == VERB_IDENTIFY:
                if action.person_select is None:
                    return await self._identify_prompt(face_id, action.where)
                member = await self.chat.connector.member(action.where, action.person_select)
                if member is None:
                    return _message_response("That person is not a member of this team or chat.")
                decision = await faces.identify(
                    self.ctx,
                    face_id=face_id,
                    platform="teams",
                    user_id=member.aad_object_id,
                    name=member.name,
                    actor=actor,
                )
            else:
                return _error_response(400, "NotSupported", f"Unknown verb {action.verb!r}.")
        except faces.FaceDecisionError as exc:
            return _message_response(str(exc))
        view = await views.media_view(self.ctx, decision.media_id)
        if view is None:
            return _message_response("This photo no longer exists.")
        return _card_response(media_card(view))

    async def _media_of(self, face_id: uuid.UUID) -> uuid.UUID | None:
        async with self.ctx.db.session() as session:
            found: uuid.UUID | None = (
                await session.execute(select(Face.media_id).where(Face.id == face_id))
            ).scalar_one_or_none()
        return found

    async def _stale(self, face_id: uuid.UUID, shown: str | None) -> AdaptiveCardInvokeResponse | None:
        """The refreshed card when the clicked card suggested someone who is no longer suggested."""
        if shown is None:
            return None
        media_id = await self._media_of(face_id)
        view = await views.media_view(self.ctx, media_id) if media_id else None
        if view is None:
            return _message_response("This face no longer exists (the photo may have been removed).")
        face: FaceView | None = next((f for f in view.faces if f.id == face_id), None)
        current = face.person.teams_aad_id if face and face.person else None
        return None if current == shown else _card_response(media_card(view))

    async def _identify_prompt(
        self, face_id: uuid.UUID, where: activities.Address
    ) -> AdaptiveCardInvokeResponse:
        media_id = await self._media_of(face_id)
        view = await views.media_view(self.ctx, media_id) if media_id else None
        if view is None:
            return _message_response("This face no longer exists (the photo may have been removed).")
        members = await self.viewers.members(where)
        if not members:
            return _message_response("I could not read who is in this conversation; try again later.")
        return _card_response(media_card(view, identify=str(face_id), members=members))

    async def _typeahead(self, activity: dict[str, Any]) -> dict[str, Any]:
        """Roster members whose name contains the typed text (case-insensitive), a page at a time."""
        raw_value = activity.get("value")
        value: dict[str, Any] = raw_value if isinstance(raw_value, dict) else {}
        raw_options = value.get("queryOptions")
        options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
        results: list[dict[str, str]] = []
        if value.get("dataset") == MEMBERS_DATASET:
            text = str(value.get("queryText") or "").casefold().strip()
            skip = max(0, _int(options.get("skip"), 0))
            top = min(max(1, _int(options.get("top"), TYPEAHEAD_MAX)), TYPEAHEAD_MAX)
            members = await self.viewers.members(activities.address(activity))
            found = sorted((m for m in members if text in m.name.casefold()), key=lambda m: m.name.casefold())
            results = [{"title": m.name, "value": m.aad_object_id} for m in found[skip : skip + top]]
        return {"type": SEARCH_RESPONSE, "value": {"results": results}}


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class TeamsDoor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = TeamsAuthConfig.from_settings(settings)
        self.chat = TeamsChat(self.config, file_hosts=settings.teams_file_host_list)
        self.adapter = build_teams_adapter(self.config)
        self.validator = BotFrameworkTokenValidator(self.config)
        self.viewers: TeamsViewers | None = None  # built with the Context, in add_routes

    @property
    def listening(self) -> list[str]:
        """Where the Bot Connector reaches this door, as `add_routes` sets it up."""
        return [f"teams: POST {MESSAGES_PATH}"]

    def add_routes(self, app: web.Application, ctx: Context) -> None:
        owners = TeamOwners(self.chat.connector, self.chat.graph)
        self.viewers = TeamsViewers(ctx, self.chat.connector, owners=owners)
        commands = TeamsCommands(ctx, self.viewers, app_id=self.config.app_id)
        agent = FacetagAgent(ctx, self.chat, self.config.app_id, commands, self.viewers)
        add_teams_routes(app, self.adapter, agent, self.validator)

    async def close(self) -> None:
        if self.viewers is not None:
            await self.viewers.close()
        await self.chat.close()
