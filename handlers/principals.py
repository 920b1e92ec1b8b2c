"""Who an API token acts as: the search `Viewer` of its chat user, or of its service channels."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select

from handlers import roles
from handlers.context import Context
from handlers.ports import Actor
from handlers.search import Viewer
from handlers.tokens import TokenInfo
from storage.models import Sighting


class Directory(Protocol):
    """What a chat platform says about a user; a door implements it."""

    async def channels_of(self, platform: str, user_id: str) -> dict[str, str] | None:
        """Conversations the user is a member of (id → name); None when the platform cannot say."""
        ...

    async def is_platform_admin(self, platform: str, user_id: str) -> bool: ...


class NoDirectory:
    """No chat platform to ask: user-bound tokens see only the channels listed on them."""

    async def channels_of(self, platform: str, user_id: str) -> dict[str, str] | None:
        return None

    async def is_platform_admin(self, platform: str, user_id: str) -> bool:
        return False


async def _names(ctx: Context, platform: str, channel_ids: tuple[str, ...]) -> dict[str, str]:
    """Channel names as last recorded on shares (id when never seen)."""
    names = dict.fromkeys(channel_ids, "")
    if channel_ids:
        async with ctx.db.session() as session:
            rows = await session.execute(
                select(Sighting.channel_id, Sighting.channel_name)
                .where(
                    Sighting.platform == platform,
                    Sighting.channel_id.in_(channel_ids),
                    Sighting.channel_name.is_not(None),
                )
                .order_by(Sighting.created_at)
            )
            for channel_id, name in rows:
                names[channel_id] = name or ""
    return {cid: name or cid for cid, name in names.items()}


async def viewer_for(ctx: Context, *, token: TokenInfo, directory: Directory) -> Viewer:
    """The same visibility as the token's user in /photos, or its listed channels for a service."""
    admin_scope = "admin" in token.scopes
    if token.user_id is None:
        return Viewer(
            platform=token.platform,
            user_id=token.actor_id,
            channels=await _names(ctx, token.platform, token.channels),
            is_admin=admin_scope,
        )
    actor = Actor(token.platform, token.user_id)
    channels = await directory.channels_of(token.platform, token.user_id)
    if channels is None:
        channels = await _names(ctx, token.platform, token.channels)
    platform_admin = await directory.is_platform_admin(token.platform, token.user_id)
    return Viewer(
        platform=token.platform,
        user_id=token.user_id,
        channels=channels,
        is_admin=admin_scope and roles.is_admin(ctx, actor, platform_admin=platform_admin),
        moderates=await roles.moderated_channels(ctx, actor),
    )
