"""Custom tags on media: add, remove, find the media a chat message shared."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert

from handlers.context import Context
from handlers.ports import Actor
from handlers.search import Viewer, visible_clause
from handlers.tags import normalize_tag
from storage.models import Media, Sighting, Tag


class TaggingError(Exception):
    """The tags cannot be changed; the message is for the person who asked."""


def clean_tags(raw: list[str]) -> list[str]:
    tags: list[str] = []
    for item in raw:
        tag = normalize_tag(item)
        if tag is None:
            raise TaggingError(f"“{item}” is not a tag: use letters, digits, _ or -, like #offsite.")
        if tag not in tags:
            tags.append(tag)
    if not tags:
        raise TaggingError("Name at least one tag, like #offsite.")
    return tags


async def media_for_message(
    ctx: Context, *, platform: str, channel_id: str, message_refs: list[str]
) -> list[uuid.UUID]:
    """The media a chat message shared (or whose thread it is in)."""
    refs = [r for r in message_refs if r]
    if not refs:
        return []
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(Sighting.media_id)
            .where(
                Sighting.platform == platform,
                Sighting.channel_id == channel_id,
                Sighting.media_id.is_not(None),
                or_(Sighting.message_ref.in_(refs), Sighting.thread_ref.in_(refs)),
            )
            .distinct()
        )
        return [m for m in rows.scalars() if m is not None]


async def can_see(ctx: Context, *, media_id: uuid.UUID, viewer: Viewer) -> bool:
    async with ctx.db.session() as session:
        for pending in (False, True):
            if pending and not (viewer.is_admin or viewer.moderates):
                continue
            found = await session.execute(
                select(Media.id).where(Media.id == media_id, visible_clause(viewer, pending=pending))
            )
            if found.first() is not None:
                return True
        # Whoever shared it may always tag their own upload.
        own = await session.execute(
            select(Sighting.id).where(
                Sighting.media_id == media_id,
                Sighting.platform == viewer.platform,
                Sighting.user_id == viewer.user_id,
            )
        )
        return own.first() is not None


async def add_tags(ctx: Context, *, media_id: uuid.UUID, tags: list[str], actor: Actor) -> list[str]:
    async with ctx.db.session() as session:
        for tag in tags:
            await session.execute(
                insert(Tag)
                .values(media_id=media_id, tag=tag, added_by=actor.user_id)
                .on_conflict_do_nothing()
            )
        return list(
            (
                await session.execute(select(Tag.tag).where(Tag.media_id == media_id).order_by(Tag.tag))
            ).scalars()
        )


async def remove_tags(ctx: Context, *, media_id: uuid.UUID, tags: list[str], actor: Actor) -> list[str]:
    async with ctx.db.session() as session:
        await session.execute(delete(Tag).where(Tag.media_id == media_id, Tag.tag.in_(tags)))
        return list(
            (
                await session.execute(select(Tag.tag).where(Tag.media_id == media_id).order_by(Tag.tag))
            ).scalars()
        )
