"""Platform-neutral views of a media for the doors to render."""

from __future__ import annotations

import uuid
from contextlib import nullcontext

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from handlers.ports import FaceView, MediaView, PersonView
from storage.faces import faces_with_people
from storage.models import FaceState, Media, MediaKind, Person
from storage.objects import ObjectMissing

FACES = "faces.jpg"


def person_view(person: Person) -> PersonView:
    return PersonView(
        id=person.id,
        name=person.display_name,
        slack_user_id=person.slack_user_id,
        teams_aad_id=person.teams_aad_id,
    )


def confidence(distance: float | None, threshold: float) -> float | None:
    """A distance inside the threshold as 0..1 (1 = identical)."""
    if distance is None:
        return None
    return max(0.0, min(1.0, 1.0 - distance / (2 * threshold)))


async def media_view(
    ctx: Context, media_id: uuid.UUID, *, with_image: bool = True, session: AsyncSession | None = None
) -> MediaView | None:
    """The media as the doors show it (in the caller's `session` when given, else in one of its own)."""
    from handlers.recognition import threshold

    async with nullcontext(session) if session else ctx.db.session() as db:
        media = await db.get(Media, media_id)
        if media is None:
            return None
        rows = await faces_with_people(db, media_id=media_id)
    limit = threshold(ctx)
    faces = tuple(
        FaceView(
            id=face.id,
            ordinal=face.ordinal,
            state=face.state.value,
            person=person_view(person) if person is not None and face.state != FaceState.unknown else None,
            confidence=confidence(face.distance, limit) if face.state == FaceState.suggested else None,
            decided_by=face.decided_by,
            segments=tuple((float(a), float(b)) for a, b in (face.segments or [])),
        )
        for face, person in rows
    )
    image = await _annotated(ctx, media) if with_image and rows else None
    return MediaView(
        id=media.id,
        kind=media.kind.value if media.kind else MediaKind.photo.value,
        status=media.status.value,
        filename=media.filename,
        faces=faces,
        annotated_jpeg=image,
        duration_s=media.duration_s,
    )


async def _annotated(ctx: Context, media: Media) -> bytes | None:
    """The picture with a number on each face, made once by processing (`faces.jpg`)."""
    try:
        return await ctx.store.get_bytes(
            bucket=media.bucket or ctx.settings.bucket_pending, key=f"{media.id}/{FACES}"
        )
    except ObjectMissing:
        return None
