"""Search and approval in Teams: the `search` / `pending` / `help` bot commands, the messaging
extension (`composeExtension/query`), and the card verbs search_more / media_approve / media_reject.

SDK-free: everything takes the activity's wire JSON and returns an `Answer` (a sentence, or a card
plus its summary) or the messaging-extension response body; `door.py` sends them.

Who sees what (never more than `handlers.search` allows the viewer):
  messaging extension, personal chat   every conversation the user is in (`TeamsViewers.get`)
  channel, group chat                  only media shared in that conversation — the answer is a
                                       message everybody there reads, so it shows nothing they
                                       could not already see there
  `pending` (personal chat only)       admins: pending media of every Teams conversation (they may
                                       approve anything); moderators and team owners: their
                                       channels they are in (`Viewer.moderates`)
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from bot.teams import activities
from bot.teams.activities import Address, CardAction, ExtensionQuery
from bot.teams.cards import Card
from bot.teams.results import (
    VERB_APPROVE,
    VERB_REJECT_MEDIA,
    VERB_SEARCH_MORE,
    extension_message,
    extension_result,
    help_text,
    results_card,
    summary,
    teams_text,
)
from bot.teams.viewers import TeamsViewers
from handlers import approval, roles, search
from handlers.context import Context
from handlers.ports import Actor
from handlers.query import QueryError, is_help, parse
from handlers.search import Viewer
from storage.models import Media, MediaStatus

log = logging.getLogger(__name__)

EXTENSION_COMMAND = "searchPhotos"
EXTENSION_BUDGET = 4.0  # seconds; Teams gives a messaging extension 5 s
MAX_EXTENSION_COUNT = 25
MAX_EXTENSION_SKIP = 500
PENDING_QUERY = "is:pending"
VERBS = frozenset({VERB_SEARCH_MORE, VERB_APPROVE, VERB_REJECT_MEDIA})
NOT_ADMIN = (
    "Only facetag admins, team owners and channel moderators can list, approve or reject pending media."
)
PENDING_ELSEWHERE = "Ask me for pending media in a personal chat with facetag."


@dataclass(frozen=True, slots=True)
class Answer:
    """What to say: a sentence, or a card (then `text` is its summary)."""

    text: str
    card: Card | None = None


def _here_name(activity: activities.Json, where: Address) -> str:
    conversation = activity.get("conversation")
    name = conversation.get("name") if isinstance(conversation, dict) else None
    if isinstance(name, str) and name:
        return name
    return "this chat" if where.conversation_type != "channel" else "this channel"


class TeamsCommands:
    def __init__(self, ctx: Context, viewers: TeamsViewers, *, app_id: str) -> None:
        self.ctx = ctx
        self.viewers = viewers
        self.app_id = app_id

    @property
    def public_media(self) -> bool:
        return self.ctx.settings.public_media

    # ------------------------------------------------------------------ viewers

    async def _viewer_for(self, activity: activities.Json, user_id: str) -> Viewer:
        """Everything the user may see in a personal chat; only this conversation anywhere else."""
        where = activities.address(activity)
        if where.conversation_type == "personal":
            return await self.viewers.get(user_id)
        return await self.viewers.here(
            user_id, activities.conversation_key(where), _here_name(activity, where)
        )

    # ------------------------------------------------------------------ messages

    async def message(self, activity: activities.Json) -> Answer | None:
        """A message without files: a command, help, or nothing (channel messages not for the bot)."""
        where = activities.address(activity)
        personal = where.conversation_type == "personal"
        if not personal and not activities.mentions_bot(activity, self.app_id):
            return None
        text = activities.command_text(activity, self.app_id)
        word, _, rest = text.partition(" ")
        verb = word.casefold()
        user_id = activities.user_id(activity.get("from") or {})
        if verb == "search":
            return await self.search(activity, user_id, rest.strip(), None)
        if verb == "pending":
            return await self.pending(activity, user_id)
        if verb == "help" or is_help(text) or personal:
            return Answer(help_text())
        return None

    async def search(self, activity: activities.Json, user_id: str, text: str, cursor: str | None) -> Answer:
        try:
            query = parse(text)
            viewer = await self._viewer_for(activity, user_id)
            personal = activities.address(activity).conversation_type == "personal"
            if query.pending and personal:
                viewer = await self.viewers.reviewer(viewer)
            page = await search.search(self.ctx, query, viewer, cursor=cursor)
        except QueryError as exc:
            return Answer(teams_text(str(exc)))
        card = results_card(
            page,
            query_text=text,
            public_media=self.public_media,
            moderate=query.pending and personal,
        )
        return Answer(summary(page.total, text), card)

    async def pending(self, activity: activities.Json, user_id: str) -> Answer:
        viewer = await self.viewers.get(user_id)  # moderates: named moderators and team owners
        if not viewer.is_admin and not viewer.moderates:
            return Answer(NOT_ADMIN)
        if activities.address(activity).conversation_type != "personal":
            return Answer(PENDING_ELSEWHERE)
        return await self.search(activity, user_id, PENDING_QUERY, None)

    # ------------------------------------------------------------------ card verbs

    async def card(self, action: CardAction, activity: activities.Json) -> Answer:
        if action.verb == VERB_SEARCH_MORE:
            q, cursor = action.data.get("q"), action.data.get("cursor")
            if not isinstance(q, str) or not isinstance(cursor, str) or not cursor:
                return Answer("This button is broken; run the search again.")
            return await self.search(activity, action.actor_id, q, cursor)
        try:
            media_id = uuid.UUID(str(action.data.get("media_id")))
        except ValueError:
            return Answer("This button does not name a photo or video.")
        return await self.moderate(activity, action, media_id)

    async def moderate(self, activity: activities.Json, action: CardAction, media_id: uuid.UUID) -> Answer:
        actor = Actor("teams", action.actor_id, action.actor_name)
        channels = await approval.channels_of(self.ctx, media_id=media_id, platform="teams")
        owned = await self.viewers.owned(action.actor_id, channels)
        if not await roles.can_moderate(
            self.ctx, actor, channel_ids=channels, platform_admin=False, moderates=owned
        ):
            return Answer(NOT_ADMIN)
        async with self.ctx.db.session() as session:
            media = await session.get(Media, media_id)
            name, status = (media.filename, media.status) if media else (None, None)
        what = f"“{name}”" if name else "The media"
        if status is None:
            note = "This media no longer exists."
        elif status != MediaStatus.pending:
            note = f"{what} is not pending any more ({status.value})."
        elif action.verb == VERB_APPROVE:
            await self.ctx.queue.defer(
                "approve",
                queueing_lock=f"approve:{media_id}",
                media_id=str(media_id),
                actor_id=action.actor_id,
            )
            note = f"Approved {what}; it moves to the library in a moment."
        else:
            try:
                await approval.reject(self.ctx, media_id=media_id, actor_id=action.actor_id, reason="")
            except approval.ApprovalError as exc:
                return Answer(str(exc))
            note = f"Rejected and removed {what}."
        log.info("teams: %s %s by %s", action.verb, media_id, action.actor_id)
        if activities.address(activity).conversation_type != "personal":
            return Answer(note)
        return await self._pending_after(activity, action.actor_id, note, leave_out=str(media_id))

    async def _pending_after(
        self, activity: activities.Json, user_id: str, note: str, *, leave_out: str
    ) -> Answer:
        """The pending list again, without the media just decided (its approval job may still run)."""
        viewer = await self.viewers.reviewer(await self.viewers.get(user_id))
        try:
            page = await search.search(self.ctx, parse(PENDING_QUERY), viewer)
        except QueryError:
            return Answer(note)
        card = results_card(
            page,
            query_text=PENDING_QUERY,
            public_media=self.public_media,
            moderate=True,
            status=note,
            leave_out=frozenset({leave_out}),
        )
        return Answer(note, card)

    # ------------------------------------------------------------------ messaging extension

    async def extension(self, activity: activities.Json) -> dict[str, Any]:
        """`composeExtension/query`: answered within `EXTENSION_BUDGET` seconds, whatever happens."""
        request = activities.extension_query(activity)
        if request.command_id != EXTENSION_COMMAND:
            return extension_message(f"Unknown search command {request.command_id!r}.")
        try:
            return await asyncio.wait_for(self._extension(request), EXTENSION_BUDGET)
        except TimeoutError:
            log.warning("teams: messaging-extension search took longer than %ss", EXTENSION_BUDGET)
            return extension_message("The search took too long; try again or narrow it.")

    async def _extension(self, request: ExtensionQuery) -> dict[str, Any]:
        count = min(max(request.count, 1), MAX_EXTENSION_COUNT)
        if request.skip >= MAX_EXTENSION_SKIP:
            return extension_result([], public_media=self.public_media)
        try:
            query = parse(request.text)
            viewer = await self.viewers.get(request.user_id)
            # Paging by skip/count over the handler's keyset pages: fetch skip+count and skip.
            page = await search.search(self.ctx, query, viewer, limit=request.skip + count)
        except QueryError as exc:
            return extension_message(teams_text(str(exc)))
        results = page.results[request.skip : request.skip + count]
        return extension_result(results, public_media=self.public_media)
