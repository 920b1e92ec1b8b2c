"""One media item as an app sees it: metadata, faces with boxes, tags, approval state, links; delete."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from handlers.approval import remove_objects
from handlers.context import Context
from handlers.ports import PersonView
from handlers.recognition import threshold
from handlers.search import Viewer, presign
from handlers.tagging import can_see
from handlers.views import confidence, person_view
from processing.results import DESKTOP_NAME, THUMB_NAME
from storage.faces import faces_with_people
from storage.models import FaceState, Media, Sighting, Tag


@dataclass(frozen=True, slots=True)
class FaceDetail:
    id: uuid.UUID
    ordinal: int
    box: tuple[int, int, int, int]  # left, top, right, bottom in the full-size (EXIF-rotated) picture
    state: str
    person: PersonView | None
    confidence: float | None
    decided_by: str | None
    segments: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Share:
    platform: str
    channel_id: str
    channel_name: str | None
    user_id: str
    shared_at: datetime


@dataclass(frozen=True, slots=True)
class MediaDetail:
    id: uuid.UUID
    kind: str
    status: str
    mime: str | None
    size_bytes: int | None
    filename: str | None
    width: int | None
    height: int | None
    duration_s: float | None
    taken_at: datetime | None
    camera: str | None
    created_at: datetime
    processed_at: datetime | None
    approved_at: datetime | None
    approved_by: str | None
    error: str | None
    faces: tuple[FaceDetail, ...]
    tags: tuple[str, ...]
    shares: tuple[Share, ...]  # only in conversations the viewer can see
    thumb_url: str | None
    desktop_url: str | None
    original_url: str | None


async def media_detail(ctx: Context, *, media_id: uuid.UUID, viewer: Viewer) -> MediaDetail | None:
    """Everything about one media, or None when it does not exist or the viewer may not see it."""
    if not await can_see(ctx, media_id=media_id, viewer=viewer):
        return None
    async with ctx.db.session() as session:
        media = await session.get(Media, media_id)
        if media is None:
            return None
        rows = await faces_with_people(session, media_id=media_id)
        tags = tuple(
            (
                await session.execute(select(Tag.tag).where(Tag.media_id == media_id).order_by(Tag.tag))
            ).scalars()
        )
        sightings = (
            (
                await session.execute(
                    select(Sighting)
                    .where(Sighting.media_id == media_id, Sighting.platform == viewer.platform)
                    .order_by(Sighting.created_at)
                )
            )
            .scalars()
            .all()
        )
    limit = threshold(ctx)
    faces = tuple(
        FaceDetail(
            id=face.id,
            ordinal=face.ordinal,
            box=(int(face.box[0]), int(face.box[1]), int(face.box[2]), int(face.box[3])),
            state=face.state.value,
            person=person_view(person) if person is not None and face.state != FaceState.unknown else None,
            confidence=confidence(face.distance, limit) if face.state == FaceState.suggested else None,
            decided_by=face.decided_by,
            segments=tuple((float(a), float(b)) for a, b in (face.segments or [])),
        )
        for face, person in rows
    )
    shares = tuple(
        Share(
            platform=s.platform,
            channel_id=s.channel_id,
            channel_name=viewer.channels.get(s.channel_id) or s.channel_name,
            user_id=s.user_id,
            shared_at=s.created_at,
        )
        for s in sightings
        if s.channel_id in viewer.channels or s.user_id == viewer.user_id
    )
    rendered = media.processed_at is not None
    stored = media.status.value not in ("receiving", "failed")
    return MediaDetail(
        id=media.id,
        kind=media.kind.value if media.kind else "photo",
        status=media.status.value,
        mime=media.mime,
        size_bytes=media.size_bytes,
        filename=media.filename,
        width=media.width,
        height=media.height,
        duration_s=media.duration_s,
        taken_at=media.taken_at,
        camera=media.camera,
        created_at=media.created_at,
        processed_at=media.processed_at,
        approved_at=media.approved_at,
        approved_by=media.approved_by,
        error=media.error,
        faces=faces,
        tags=tags,
        shares=shares,
        thumb_url=await presign(ctx, media.id, media.bucket, THUMB_NAME) if rendered else None,
        desktop_url=await presign(ctx, media.id, media.bucket, DESKTOP_NAME) if rendered else None,
        original_url=await presign(ctx, media.id, media.bucket, "original", filename=media.filename)
        if stored
        else None,
    )


async def shared_by(ctx: Context, *, media_id: uuid.UUID, viewer: Viewer) -> bool:
    """True when the viewer shared (or uploaded) this media themselves."""
    async with ctx.db.session() as session:
        found = await session.execute(
            select(Sighting.id).where(
                Sighting.media_id == media_id,
                Sighting.platform == viewer.platform,
                Sighting.user_id == viewer.user_id,
            )
        )
        return found.first() is not None


async def delete_media(ctx: Context, *, media_id: uuid.UUID) -> bool:
    """Remove a media and everything derived from it: objects, faces, tags, shares. False if gone."""
    async with ctx.db.session() as session:
        if await session.get(Media, media_id) is None:
            return False
    await remove_objects(ctx, media_id)
    async with ctx.db.session() as session:
        await session.execute(delete(Media).where(Media.id == media_id))
    return True
