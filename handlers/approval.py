"""Approval: pending media moves to the approved bucket, or is removed with everything derived from it.

Moving is copy → verify → record → delete, and is safe to repeat after a crash at any step.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select

from handlers.context import Context
from handlers.media import defer_replies, has_chat, to_sighting
from storage.models import Media, MediaStatus, Sighting
from storage.queue import JobInfo

log = logging.getLogger(__name__)


class ApprovalError(Exception):
    """The media cannot be approved or rejected now; the message is for the person who asked."""


async def approve(ctx: Context, *, media_id: uuid.UUID, actor_id: str) -> bool:
    """Move a processed media to the approved bucket. False when it was already approved."""
    pending, approved = ctx.settings.bucket_pending, ctx.settings.bucket_approved
    async with ctx.db.session() as session:
        media = await session.get(Media, media_id)
        if media is None:
            raise ApprovalError("This media no longer exists.")
        if media.status in (MediaStatus.receiving, MediaStatus.processing):
            raise ApprovalError("This media is still being processed; try again in a moment.")
        if media.status == MediaStatus.failed:
            raise ApprovalError("This media could not be processed and cannot be approved.")
        already = media.status == MediaStatus.approved
    prefix = f"{media_id}/"
    if not already:
        for key in await ctx.store.list_keys(bucket=pending, prefix=prefix):
            source = await ctx.store.head(bucket=pending, key=key)
            if source is None:
                continue
            await ctx.store.copy(src_bucket=pending, key=key, dst_bucket=approved)
            copied = await ctx.store.head(bucket=approved, key=key)
            if copied is None or copied.size != source.size:
                raise RuntimeError(f"copy of {key} to {approved} did not verify")
        async with ctx.db.session() as session:
            media = await session.get(Media, media_id, with_for_update=True)
            if media is None:
                return False
            media.status, media.bucket = MediaStatus.approved, approved
            media.approved_at, media.approved_by = datetime.now(UTC), actor_id
    # Only once the database points at the approved copy do the pending objects go.
    await ctx.store.delete_prefix(bucket=pending, prefix=prefix)
    if not already:
        await defer_replies(ctx, media_id)
    return not already


async def reject(ctx: Context, *, media_id: uuid.UUID, actor_id: str, reason: str) -> bool:
    """Remove a media, its faces, tags and objects, and tell whoever shared it why."""
    async with ctx.db.session() as session:
        media = await session.get(Media, media_id)
        if media is None:
            return False
        if media.status == MediaStatus.approved:
            raise ApprovalError("This media is already approved; delete it instead.")
        sightings = [
            to_sighting(row)
            for row in (
                await session.execute(select(Sighting).where(Sighting.media_id == media_id))
            ).scalars()
        ]
    await remove_objects(ctx, media_id)
    async with ctx.db.session() as session:
        await session.execute(delete(Media).where(Media.id == media_id))
    note = (
        f"This file was not added to the photo library by an admin: {reason}"
        if reason
        else ("This file was not added to the photo library by an admin.")
    )
    for sighting in sightings:
        if not has_chat(ctx, sighting):
            continue
        try:
            await ctx.chat(sighting.platform).notify(sighting, note)
        except Exception:
            log.exception("could not tell the uploader about a rejection", extra={"media_id": str(media_id)})
    log.info("media rejected", extra={"media_id": str(media_id), "by": actor_id})
    return True


async def remove_objects(ctx: Context, media_id: uuid.UUID) -> None:
    prefix = f"{media_id}/"
    for bucket in ctx.settings.buckets:
        await ctx.store.delete_prefix(bucket=bucket, prefix=prefix)


async def approve_job(ctx: Context, job: JobInfo, *, media_id: str, actor_id: str) -> None:
    try:
        await approve(ctx, media_id=uuid.UUID(media_id), actor_id=actor_id)
    except ApprovalError as exc:
        log.info("approval skipped", extra={"media_id": media_id, "reason": str(exc)})


async def channels_of(ctx: Context, *, media_id: uuid.UUID, platform: str) -> set[str]:
    """The conversations a media was shared in, on one platform (moderators are per channel)."""
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(Sighting.channel_id).where(Sighting.media_id == media_id, Sighting.platform == platform)
        )
        return set(rows.scalars())


JOBS = {"approve": approve_job}
