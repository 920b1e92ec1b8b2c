"""Who may do what: admins (platform admins and FACETAG_ADMINS) and per-channel moderators."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from handlers.context import Context
from handlers.ports import Actor
from storage.models import ChannelSettings


class NotAllowed(Exception):
    """The actor may not do this; the message says who may."""


def is_admin(ctx: Context, actor: Actor, *, platform_admin: bool) -> bool:
    return platform_admin or actor.user_id in ctx.settings.admin_ids


async def moderated_channels(ctx: Context, actor: Actor) -> frozenset[str]:
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(ChannelSettings.channel_id).where(
                ChannelSettings.platform == actor.platform, ChannelSettings.moderators.any_() == actor.user_id
            )
        )
        return frozenset(rows.scalars())


async def can_moderate(
    ctx: Context,
    actor: Actor,
    *,
    channel_ids: set[str],
    platform_admin: bool,
    moderates: frozenset[str] = frozenset(),
) -> bool:
    """Admins moderate everything; a moderator the channels they were named for, and the channels
    the door found they moderate on the platform (`moderates`, e.g. those of a Teams team they own)."""
    if is_admin(ctx, actor, platform_admin=platform_admin):
        return True
    if channel_ids & moderates:
        return True
    return bool(channel_ids & await moderated_channels(ctx, actor))


async def set_moderators(
    ctx: Context, *, actor: Actor, platform_admin: bool, channel_id: str, user_ids: list[str]
) -> None:
    if not is_admin(ctx, actor, platform_admin=platform_admin):
        raise NotAllowed("Only facetag admins can choose moderators.")
    async with ctx.db.session() as session:
        await session.execute(
            insert(ChannelSettings)
            .values(
                platform=actor.platform, channel_id=channel_id, moderators=user_ids, updated_by=actor.user_id
            )
            .on_conflict_do_update(
                index_elements=["platform", "channel_id"],
                set_={"moderators": user_ids, "updated_by": actor.user_id},
            )
        )


async def set_auto_approve(
    ctx: Context, *, actor: Actor, platform_admin: bool, channel_id: str, enabled: bool
) -> None:
    if not is_admin(ctx, actor, platform_admin=platform_admin):
        raise NotAllowed("Only facetag admins can change channel settings.")
    async with ctx.db.session() as session:
        await session.execute(
            insert(ChannelSettings)
            .values(
                platform=actor.platform, channel_id=channel_id, auto_approve=enabled, updated_by=actor.user_id
            )
            .on_conflict_do_update(
                index_elements=["platform", "channel_id"],
                set_={"auto_approve": enabled, "updated_by": actor.user_id},
            )
        )


async def channel_settings(ctx: Context, *, platform: str, channel_id: str) -> tuple[bool, list[str]]:
    async with ctx.db.session() as session:
        row = await session.get(ChannelSettings, (platform, channel_id))
        return (row.auto_approve, list(row.moderators)) if row else (False, [])
