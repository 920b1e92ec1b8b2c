"""The /photos slash command, App Home, approval buttons and the "Tag this photo" shortcut."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import render
from bot.slack.members import is_workspace_admin, member_channels
from handlers import approval, home, roles, search, tagging, tokens
from handlers.context import Context
from handlers.ports import Actor
from handlers.query import HELP_TEXT, QueryError, is_help, parse

if TYPE_CHECKING:
    from bot.slack.door import SlackDoor

log = logging.getLogger(__name__)

Body = dict[str, Any]

VIEWER_TTL = 60.0
NOT_A_MODERATOR = "Only admins and this channel's moderators can approve or reject media."
_LINK = re.compile(r"/archives/(?P<channel>[A-Z0-9]+)/p(?P<ts>\d{16})(?:\?thread_ts=(?P<thread>[\d.]+))?")
_CHANNEL = re.compile(r"^<#(?P<id>[A-Z0-9]+)(?:\|[^>]*)?>$")
_USER = re.compile(r"^<@(?P<id>[A-Z0-9]+)(?:\|[^>]*)?>$")


class Viewers:
    """Who a Slack user is and which conversations they are in, cached briefly."""

    def __init__(self, client: AsyncWebClient, ctx: Context) -> None:
        self.client = client
        self.ctx = ctx
        self._cache: dict[str, tuple[float, search.Viewer]] = {}

    async def platform_admin(self, user_id: str) -> bool:
        try:
            return await is_workspace_admin(self.client, user_id)
        except SlackApiError:
            return False

    async def get(self, user_id: str) -> search.Viewer:
        cached = self._cache.get(user_id)
        if cached and time.monotonic() - cached[0] < VIEWER_TTL:
            return cached[1]
        channels = await member_channels(self.client, user_id)
        actor = Actor("slack", user_id)
        viewer = search.Viewer(
            platform="slack",
            user_id=user_id,
            channels=channels,
            is_admin=roles.is_admin(self.ctx, actor, platform_admin=await self.platform_admin(user_id)),
            moderates=await roles.moderated_channels(self.ctx, actor),
        )
        self._cache[user_id] = (time.monotonic(), viewer)
        return viewer

    def forget(self) -> None:
        self._cache.clear()


def _media_ref(text: str) -> tuple[uuid.UUID | None, tuple[str, list[str]] | None]:
    """A media id, or a message link as (channel, [ts, thread_ts])."""
    text = text.strip("<>").split("|", 1)[0]
    try:
        return uuid.UUID(text), None
    except ValueError:
        pass
    match = _LINK.search(text)
    if match is None:
        return None, None
    digits = match["ts"]
    ts = f"{digits[:10]}.{digits[10:]}"
    return None, (match["channel"], [ts, match["thread"] or ""])


def register_commands(door: SlackDoor, ctx: Context) -> None:
    bolt, client = door.bolt, door.client
    viewers = Viewers(client, ctx)

    async def run_search(user_id: str, text: str, cursor: str | None) -> tuple[str, list[Body]]:
        viewer = await viewers.get(user_id)
        try:
            query = parse(text)
            page = await search.search(ctx, query, viewer, cursor=cursor)
        except QueryError as exc:
            return str(exc), render.plain(str(exc))
        return render.search_results(
            page, query_text=text, cursor_for_next=page.next_cursor, public_media=ctx.settings.public_media
        )

    @bolt.command("/photos")
    async def on_photos(ack: AsyncAck, command: Body, respond: AsyncRespond) -> None:
        await ack()
        text = str(command.get("text", "")).strip()
        user_id = str(command.get("user_id"))
        word, _, rest = text.partition(" ")
        verb = word.casefold()
        try:
            if is_help(text):
                await respond(text=HELP_TEXT, response_type="ephemeral")
            elif verb in {"tag", "untag"}:
                await respond(text=await tag_command(user_id, verb, rest), response_type="ephemeral")
            elif verb == "moderators":
                await respond(text=await moderators_command(user_id, rest), response_type="ephemeral")
            elif verb == "settings":
                await respond(text=await settings_command(user_id, rest), response_type="ephemeral")
            elif verb == "token":
                await respond(text=await token_command(user_id, rest), response_type="ephemeral")
            else:
                summary, blocks = await run_search(user_id, text, None)
                await respond(text=summary, blocks=blocks, response_type="ephemeral")
        except (roles.NotAllowed, tagging.TaggingError, approval.ApprovalError, tokens.TokenError) as exc:
            await respond(text=str(exc), response_type="ephemeral")

    @bolt.action("search_more")
    async def on_more(ack: AsyncAck, body: Body, action: Body, respond: AsyncRespond) -> None:
        await ack()
        state = json.loads(str(action.get("value") or "{}"))
        summary, blocks = await run_search(str(body["user"]["id"]), str(state.get("q", "")), state.get("c"))
        await respond(text=summary, blocks=blocks, response_type="ephemeral", replace_original=True)

    async def tag_command(user_id: str, verb: str, rest: str) -> str:
        parts = rest.split()
        if not parts:
            return "Say which media and which tags, like: /photos tag <message link> #offsite #team"
        media_ids = await resolve_media(parts[0])
        if not media_ids:
            return "I could not find a photo or video for that; paste the message link or the media id."
        tags = tagging.clean_tags(parts[1:])
        viewer = await viewers.get(user_id)
        actor = Actor("slack", user_id)
        result: list[str] = []
        for media_id in media_ids:
            if not await tagging.can_see(ctx, media_id=media_id, viewer=viewer):
                return "I could not find a photo or video for that; paste the message link or the media id."
            if verb == "tag":
                result = await tagging.add_tags(ctx, media_id=media_id, tags=tags, actor=actor)
            else:
                result = await tagging.remove_tags(ctx, media_id=media_id, tags=tags, actor=actor)
        shown = " ".join(f"#{t}" for t in result) or "no tags"
        return f"Tags now: {shown}"

    async def resolve_media(ref: str) -> list[uuid.UUID]:
        media_id, message = _media_ref(ref)
        if media_id is not None:
            return [media_id]
        if message is None:
            return []
        channel, refs = message
        return await tagging.media_for_message(ctx, platform="slack", channel_id=channel, message_refs=refs)

    async def moderators_command(user_id: str, rest: str) -> str:
        parts = rest.split()
        channel = _CHANNEL.match(parts[0]) if parts else None
        if channel is None:
            return "Say which channel and who, like: /photos moderators #photos @alice @bob"
        users = [m["id"] for p in parts[1:] if (m := _USER.match(p))]
        if len(users) != len(parts) - 1:
            return "Mention the moderators with @, like: /photos moderators #photos @alice @bob"
        await roles.set_moderators(
            ctx,
            actor=Actor("slack", user_id),
            platform_admin=await viewers.platform_admin(user_id),
            channel_id=channel["id"],
            user_ids=users,
        )
        viewers.forget()
        named = " ".join(f"<@{u}>" for u in users) or "nobody"
        return f"Moderators of <#{channel['id']}>: {named}"

    async def token_command(user_id: str, rest: str) -> str:
        """`token create NAME scope[,scope] [#channel ...]`, `token revoke ID`: admins only."""
        actor = Actor("slack", user_id)
        if not roles.is_admin(ctx, actor, platform_admin=await viewers.platform_admin(user_id)):
            raise roles.NotAllowed("Only facetag admins can manage API tokens.")
        parts = rest.split()
        if len(parts) == 2 and parts[0] == "revoke":
            try:
                token_id = uuid.UUID(parts[1])
            except ValueError:
                return "Use: /photos token revoke <token id>"
            revoked = await tokens.revoke_token(ctx.db, token_id=token_id)
            return "Token revoked." if revoked else "No such token (or it was already revoked)."
        if len(parts) < 3 or parts[0] != "create":
            return (
                "Use: /photos token create <name> <scope,scope> [#channel ...]  or  /photos token revoke <id>"
            )
        channels = [m["id"] for p in parts[3:] if (m := _CHANNEL.match(p))]
        created = await tokens.create_token(
            ctx.db,
            name=parts[1],
            scopes=[s for s in parts[2].split(",") if s],
            platform="slack",
            user_id=None if channels else user_id,
            channels=channels,
            created_by=user_id,
        )
        bound = f"for channels {' '.join(f'<#{c}>' for c in channels)}" if channels else "acting as you"
        return (
            f"Token `{created.info.name}` ({created.info.id}) {bound}. Copy it now, it is shown only once:\n"
            f"`{created.secret}`"
        )

    async def settings_command(user_id: str, rest: str) -> str:
        parts = rest.split()
        channel = _CHANNEL.match(parts[0]) if parts else None
        if channel is None or len(parts) != 3 or parts[1] != "auto-approve" or parts[2] not in {"on", "off"}:
            return "Use: /photos settings #channel auto-approve on|off"
        await roles.set_auto_approve(
            ctx,
            actor=Actor("slack", user_id),
            platform_admin=await viewers.platform_admin(user_id),
            channel_id=channel["id"],
            enabled=parts[2] == "on",
        )
        return f"Auto-approve is {parts[2]} for <#{channel['id']}>."

    async def publish_home(user_id: str) -> None:
        viewer = await viewers.get(user_id)
        data = await home.home(ctx, viewer)
        await client.views_publish(user_id=user_id, view=render.home_view(data, viewer))

    @bolt.event("app_home_opened")
    async def on_home(event: Body) -> None:
        if event.get("tab", "home") == "home":
            await publish_home(str(event.get("user")))

    async def may_moderate(user_id: str, media_id: uuid.UUID) -> bool:
        channels = await approval.channels_of(ctx, media_id=media_id, platform="slack")
        return await roles.can_moderate(
            ctx,
            Actor("slack", user_id),
            channel_ids=channels,
            platform_admin=await viewers.platform_admin(user_id),
        )

    @bolt.action("media_approve")
    async def on_approve(ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient) -> None:
        await ack()
        user_id = str(body["user"]["id"])
        media_id = uuid.UUID(str(action.get("value")))
        if not await may_moderate(user_id, media_id):
            await _moderation_reply(body, NOT_A_MODERATOR, client)
            return
        await ctx.queue.defer(
            "approve", queueing_lock=f"approve:{media_id}", media_id=str(media_id), actor_id=user_id
        )
        await _moderation_reply(body, "Approved.", client)

    @bolt.action("media_reject")
    async def on_reject_media(ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient) -> None:
        """Ask why first: the person who shared it is told the reason."""
        await ack()
        user_id = str(body["user"]["id"])
        media_id = uuid.UUID(str(action.get("value")))
        if not await may_moderate(user_id, media_id):
            await _moderation_reply(body, NOT_A_MODERATOR, client)
            return
        await client.views_open(trigger_id=body["trigger_id"], view=render.reject_modal(media_id))

    @bolt.view("media_reject")
    async def on_reject_submit(ack: AsyncAck, body: Body, view: Body, client: AsyncWebClient) -> None:
        reason = str(
            view.get("state", {}).get("values", {}).get("reason", {}).get("reason_input", {}).get("value")
            or ""
        ).strip()
        await ack()
        user_id = str(body["user"]["id"])
        media_id = uuid.UUID(str(view.get("private_metadata")))
        if not await may_moderate(user_id, media_id):
            await _moderation_reply(body, NOT_A_MODERATOR, client)
            return
        try:
            await approval.reject(ctx, media_id=media_id, actor_id=user_id, reason=reason)
        except approval.ApprovalError as exc:
            await client.chat_postMessage(channel=user_id, text=str(exc))
        await publish_home(user_id)

    async def _moderation_reply(body: Body, outcome: str, client: AsyncWebClient) -> None:
        user_id = str(body["user"]["id"])
        if outcome.startswith("Only"):
            await client.chat_postMessage(channel=user_id, text=outcome)  # the app's DM with them
        await publish_home(user_id)

    @bolt.shortcut("tag_media")
    async def on_tag_shortcut(ack: AsyncAck, shortcut: Body, client: AsyncWebClient) -> None:
        await ack()
        message = shortcut.get("message") or {}
        channel = str((shortcut.get("channel") or {}).get("id", ""))
        refs = [str(message.get("ts", "")), str(message.get("thread_ts", ""))]
        media_ids = await tagging.media_for_message(
            ctx, platform="slack", channel_id=channel, message_refs=refs
        )
        await client.views_open(trigger_id=shortcut["trigger_id"], view=render.tag_modal(media_ids))

    @bolt.view("tag_media")
    async def on_tag_submit(ack: AsyncAck, body: Body, view: Body) -> None:
        raw = str(
            view.get("state", {}).get("values", {}).get("tags", {}).get("tags_input", {}).get("value") or ""
        )
        try:
            tags = tagging.clean_tags(raw.replace(",", " ").split())
        except tagging.TaggingError as exc:
            await ack(response_action="errors", errors={"tags": str(exc)})
            return
        await ack()
        user_id = str(body["user"]["id"])
        viewer = await viewers.get(user_id)
        for value in json.loads(str(view.get("private_metadata") or "[]")):
            media_id = uuid.UUID(value)
            if await tagging.can_see(ctx, media_id=media_id, viewer=viewer):
                await tagging.add_tags(ctx, media_id=media_id, tags=tags, actor=Actor("slack", user_id))
