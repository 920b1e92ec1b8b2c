"""Platform-neutral views of a media for the doors to render."""

from __future__ import annotations

import asyncio
import io
import uuid

from PIL import Image

from handlers.context import Context
from handlers.ports import FaceView, MediaView, PersonView
from processing.faces import Box
from processing.images import BoxLike, annotate
from processing.sheet import contact_sheet
from storage.faces import faces_with_people
from storage.models import Face, FaceState, Media, MediaKind, Person
from storage.objects import ObjectMissing

DESKTOP = "desktop.jpg"


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


async def media_view(ctx: Context, media_id: uuid.UUID, *, with_image: bool = True) -> MediaView | None:
    from handlers.recognition import threshold

    async with ctx.db.session() as session:
        media = await session.get(Media, media_id)
        if media is None:
            return None
        rows = await faces_with_people(session, media_id=media_id)
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
    image = await _annotated(ctx, media, [face for face, _ in rows]) if with_image and rows else None
    return MediaView(
        id=media.id,
        kind=media.kind.value if media.kind else MediaKind.photo.value,
        status=media.status.value,
        filename=media.filename,
        faces=faces,
        annotated_jpeg=image,
        duration_s=media.duration_s,
    )


async def _annotated(ctx: Context, media: Media, faces: list[Face]) -> bytes | None:
    """The photo with numbered boxes; for a video, the numbered best crops side by side."""
    bucket = media.bucket or ctx.settings.bucket_pending
    try:
        if media.kind == MediaKind.video:
            crops = [
                await ctx.store.get_bytes(bucket=ctx.settings.bucket_faces, key=f.crop_key)
                for f in faces
                if f.crop_key
            ]
            return await asyncio.to_thread(contact_sheet, crops=crops, labels=[str(f.ordinal) for f in faces])
        desktop = await ctx.store.get_bytes(bucket=bucket, key=f"{media.id}/{DESKTOP}")
    except ObjectMissing:
        return None
    return await asyncio.to_thread(_draw, desktop, media.width or 0, faces)


def _draw(desktop: bytes, full_width: int, faces: list[Face]) -> bytes:
    with Image.open(io.BytesIO(desktop)) as im:
        image = im.convert("RGB")
    factor = image.width / full_width if full_width else 1.0
    boxes: list[tuple[BoxLike, str]] = [(Box(*face.box).scaled(factor), str(face.ordinal)) for face in faces]
    return annotate(image=image, boxes_with_labels=boxes)
