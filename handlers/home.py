"""What a person's home tab shows: their uploads, faces waiting for names, and (for moderators) the queue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from handlers.context import Context
from handlers.search import Viewer
from storage.models import Face, FaceState, Media, MediaKind, MediaStatus, Person, Sighting


@dataclass(frozen=True, slots=True)
class HomeItem:
    media_id: uuid.UUID
    kind: str
    status: str
    filename: str | None
    channel_id: str
    shared_by: str
    shared_at: datetime
    faces: int
    unknown: int


@dataclass(frozen=True, slots=True)
class Home:
    uploads: tuple[HomeItem, ...]
    awaiting_names: tuple[HomeItem, ...]
    pending: tuple[HomeItem, ...] | None  # None: not a moderator
    counts: dict[str, int]


async def _items(ctx: Context, rows: list[tuple[Media, Sighting]]) -> tuple[HomeItem, ...]:
    ids = [m.id for m, _ in rows]
    faces: dict[uuid.UUID, tuple[int, int]] = {}
    if ids:
        async with ctx.db.session() as session:
            counted = await session.execute(
                select(
                    Face.media_id,
                    func.count(),
                    func.count().filter(Face.state != FaceState.confirmed),
                )
                .where(Face.media_id.in_(ids))
                .group_by(Face.media_id)
            )
            faces = {mid: (int(total), int(unknown)) for mid, total, unknown in counted}
    return tuple(
        HomeItem(
            media_id=m.id,
            kind=m.kind.value if m.kind else "photo",
            status=m.status.value,
            filename=m.filename,
            channel_id=s.channel_id,
            shared_by=s.user_id,
            shared_at=s.created_at,
            faces=faces.get(m.id, (0, 0))[0],
            unknown=faces.get(m.id, (0, 0))[1],
        )
        for m, s in rows
    )


async def home(ctx: Context, viewer: Viewer, *, limit: int = 5) -> Home:
    channels = list(viewer.channels)
    async with ctx.db.session() as session:
        uploads = (
            await session.execute(
                select(Media, Sighting)
                .join(Sighting, Sighting.media_id == Media.id)
                .where(Sighting.platform == viewer.platform, Sighting.user_id == viewer.user_id)
                .order_by(Sighting.created_at.desc())
                .limit(limit)
            )
        ).all()
        awaiting = (
            await session.execute(
                select(Media, Sighting)
                .join(Sighting, Sighting.media_id == Media.id)
                .where(
                    Sighting.platform == viewer.platform,
                    Sighting.channel_id.in_(channels),
                    Media.status == MediaStatus.approved,
                    select(Face.id)
                    .where(Face.media_id == Media.id, Face.state == FaceState.unknown)
                    .exists(),
                )
                .order_by(Media.created_at.desc())
                .limit(limit)
            )
        ).all()
        pending_rows = None
        if viewer.is_admin or viewer.moderates:
            scope = channels if viewer.is_admin else [c for c in channels if c in viewer.moderates]
            pending_rows = (
                await session.execute(
                    select(Media, Sighting)
                    .join(Sighting, Sighting.media_id == Media.id)
                    .where(
                        Sighting.platform == viewer.platform,
                        Sighting.channel_id.in_(scope),
                        Media.status == MediaStatus.pending,
                    )
                    .order_by(Media.created_at)
                    .limit(20)
                )
            ).all()
        counts = {
            "photos": await _count(
                session, Media.kind == MediaKind.photo, Media.status == MediaStatus.approved
            ),
            "videos": await _count(
                session, Media.kind == MediaKind.video, Media.status == MediaStatus.approved
            ),
            "pending": await _count(session, Media.status == MediaStatus.pending),
            "people": int((await session.execute(select(func.count()).select_from(Person))).scalar_one()),
        }
    return Home(
        uploads=await _items(ctx, [(m, s) for m, s in uploads]),
        awaiting_names=await _items(ctx, _unique([(m, s) for m, s in awaiting])),
        pending=await _items(ctx, _unique([(m, s) for m, s in pending_rows]))
        if pending_rows is not None
        else None,
        counts=counts,
    )


def _unique(rows: list[tuple[Media, Sighting]]) -> list[tuple[Media, Sighting]]:
    seen: set[uuid.UUID] = set()
    out = []
    for m, s in rows:
        if m.id not in seen:
            seen.add(m.id)
            out.append((m, s))
    return out


async def _count(session: object, *where: object) -> int:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    return int((await session.execute(select(func.count()).select_from(Media).where(*where))).scalar_one())  # type: ignore[arg-type]
