"""Direct-to-S3 uploads: hand out presigned PUT (or multipart part) URLs, then check what landed.

start:    an Upload row and presigned URL(s) for the pending bucket at `<media_id>/original`
complete: head the object (size), sniff its first bytes (type), hash it (checksum), then record a
          Media and a Sighting and defer the same processing a chat share gets
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from handlers import media
from handlers.context import Context
from handlers.ports import Sighting
from handlers.search import Viewer
from handlers.tokens import TokenInfo
from processing.media_types import MediaType, sniff
from storage.models import Media, Upload
from storage.models import Sighting as SightingRow
from storage.objects import MAX_PARTS, MiB, ObjectMissing, ObjectStoreError, UploadedPart

MULTIPART_ABOVE = 64 * MiB
"""Larger uploads are multipart: one presigned URL per part."""
PART_SIZE = 16 * MiB
_CONTENT_TYPE = re.compile(r"(image|video)/[A-Za-z0-9][A-Za-z0-9.+-]{0,80}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class UploadError(Exception):
    """The upload cannot go on; `kind` says how the door should answer, the message says why."""

    def __init__(self, kind: str, sentence: str) -> None:
        super().__init__(sentence)
        self.kind = kind  # invalid | forbidden | missing | not_uploaded | too_large
        self.sentence = sentence


@dataclass(frozen=True, slots=True)
class PartUrl:
    part_number: int
    url: str


@dataclass(frozen=True, slots=True)
class UploadTicket:
    upload_id: uuid.UUID
    method: str  # PUT
    url: str | None  # single PUT; None for multipart
    headers: dict[str, str]  # send these with every PUT
    part_size: int | None
    parts: tuple[PartUrl, ...]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Completed:
    upload_id: uuid.UUID
    media_id: uuid.UUID
    status: str
    duplicate: bool  # the same bytes were already in the library


def _media_id(upload: Upload) -> uuid.UUID:
    return uuid.UUID(upload.key.split("/", 1)[0])


async def start_upload(
    ctx: Context,
    *,
    token: TokenInfo,
    viewer: Viewer,
    filename: str,
    content_type: str,
    size_bytes: int,
    channel_id: str,
    sha256: str | None = None,
    text: str = "",
    multipart: bool | None = None,
) -> UploadTicket:
    if channel_id not in viewer.channels:
        raise UploadError("forbidden", "This token cannot share into that channel.")
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise UploadError("invalid", "Upload a photo or a video: content_type is image/… or video/….")
    if size_bytes < 1:
        raise UploadError("invalid", "size_bytes must be at least 1.")
    if size_bytes > ctx.settings.max_upload_bytes:
        raise UploadError(
            "too_large", f"Files larger than {ctx.settings.max_upload_bytes} bytes are refused."
        )
    if sha256 is not None and not _SHA256.fullmatch(sha256.lower()):
        raise UploadError("invalid", "sha256 is 64 hexadecimal digits.")
    media_id = uuid.uuid4()
    key = media.original_key(media_id)
    bucket = ctx.settings.bucket_pending
    ttl = ctx.settings.presign_ttl_seconds
    use_multipart = multipart if multipart is not None else size_bytes > MULTIPART_ABOVE
    headers = {"Content-Type": content_type}
    url: str | None = None
    upload_id_s3: str | None = None
    part_size: int | None = None
    parts: list[PartUrl] = []
    if use_multipart:
        part_size = max(PART_SIZE, math.ceil(size_bytes / MAX_PARTS / MiB) * MiB)
        upload_id_s3 = await ctx.store.create_multipart(bucket=bucket, key=key, content_type=content_type)
        for number in range(1, math.ceil(size_bytes / part_size) + 1):
            part_url = await ctx.store.presign_part(
                bucket=bucket, key=key, upload_id=upload_id_s3, part_number=number, ttl=ttl
            )
            parts.append(PartUrl(part_number=number, url=part_url))
        headers = {}
    else:
        url = await ctx.store.presign_put(bucket=bucket, key=key, ttl=ttl, content_type=content_type)
    upload_id = uuid.uuid4()
    async with ctx.db.session() as session:
        session.add(
            Upload(
                id=upload_id,
                token_id=token.id,
                key=key,
                filename=filename,
                content_type=content_type,
                size_bytes=size_bytes,
                sha256=sha256.lower() if sha256 else None,
                channel_id=channel_id,
                multipart_id=upload_id_s3,
                text=text,
            )
        )
    return UploadTicket(
        upload_id=upload_id,
        method="PUT",
        url=url,
        headers=headers,
        part_size=part_size,
        parts=tuple(parts),
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
    )


async def _discard(ctx: Context, upload: Upload, sentence: str) -> UploadError:
    """What landed is not acceptable: delete it (the client may PUT again) and say why."""
    await ctx.store.delete(bucket=ctx.settings.bucket_pending, key=upload.key)
    return UploadError("invalid", sentence)


async def _checked(ctx: Context, upload: Upload) -> tuple[MediaType, int, str]:
    bucket = ctx.settings.bucket_pending
    info = await ctx.store.head(bucket=bucket, key=upload.key)
    if info is None:
        raise UploadError("not_uploaded", "Nothing was uploaded for this upload yet: PUT the file first.")
    if info.size != upload.size_bytes:
        raise await _discard(
            ctx, upload, f"The uploaded file has {info.size} bytes, not the {upload.size_bytes} announced."
        )
    first = b""
    async for chunk in ctx.store.get_stream(
        bucket=bucket, key=upload.key, start=0, end=media.SNIFF_BYTES - 1
    ):
        first += chunk
    kind = sniff(first)
    if kind is None:
        raise await _discard(
            ctx,
            upload,
            "The uploaded file is not a photo (JPEG, PNG, HEIC, WebP, GIF) or a video (MP4, MOV, WebM, MKV).",
        )
    digest = hashlib.sha256()
    async for chunk in ctx.store.get_stream(bucket=bucket, key=upload.key):
        digest.update(chunk)
    sha256 = digest.hexdigest()
    if upload.sha256 is not None and upload.sha256 != sha256:
        raise await _discard(ctx, upload, "The uploaded file's SHA-256 does not match the one announced.")
    return kind, info.size, sha256


async def complete_upload(
    ctx: Context,
    *,
    token: TokenInfo,
    viewer: Viewer,
    upload_id: uuid.UUID,
    parts: list[UploadedPart] | None = None,
) -> Completed:
    """Check what landed and enqueue its processing; calling it again returns the same media."""
    async with ctx.db.session() as session:
        upload = await session.get(Upload, upload_id)
    if upload is None or upload.token_id != token.id:
        raise UploadError("missing", "There is no such upload for this token.")
    linked = upload.completed_media_id or await _linked(ctx, upload)
    if linked is not None:
        return await _result(ctx, upload, linked)
    bucket = ctx.settings.bucket_pending
    if upload.multipart_id is not None:
        if not parts:
            raise UploadError("invalid", "A multipart upload is completed with the ETag of every part.")
        numbers = [p.part_number for p in parts]
        if len(set(numbers)) != len(numbers):
            raise UploadError("invalid", "Each part number may appear once.")
        try:
            await ctx.store.complete_multipart(
                bucket=bucket, key=upload.key, upload_id=upload.multipart_id, parts=parts
            )
        except ObjectMissing:
            if await ctx.store.head(bucket=bucket, key=upload.key) is None:
                raise UploadError("missing", "This multipart upload was aborted or expired.") from None
        except ObjectStoreError:
            raise UploadError(
                "not_uploaded",
                "The parts could not be put together: upload every part, then send their ETags.",
            ) from None
        async with ctx.db.session() as session:
            await session.execute(update(Upload).where(Upload.id == upload.id).values(multipart_id=None))
    kind, size, sha256 = await _checked(ctx, upload)
    sighting = await _sighting(ctx, upload, viewer)
    media_id = await media.media_stored(
        ctx, sighting, media_id=_media_id(upload), kind=kind, size=size, sha256=sha256
    )
    async with ctx.db.session() as session:
        await session.execute(
            update(Upload).where(Upload.id == upload.id).values(completed_media_id=media_id)
        )
    return await _result(ctx, upload, media_id)


async def _linked(ctx: Context, upload: Upload) -> uuid.UUID | None:
    """The media an earlier, interrupted complete call already linked."""
    async with ctx.db.session() as session:
        return (
            await session.execute(
                select(SightingRow.media_id).where(
                    SightingRow.file_id == f"upload:{upload.id}", SightingRow.media_id.is_not(None)
                )
            )
        ).scalar_one_or_none()


async def _sighting(ctx: Context, upload: Upload, viewer: Viewer) -> Sighting:
    file_id = f"upload:{upload.id}"
    async with ctx.db.session() as session:
        await session.execute(
            insert(SightingRow)
            .values(
                id=uuid.uuid4(),
                platform=viewer.platform,
                workspace_id="",
                channel_id=upload.channel_id,
                channel_name=viewer.channels.get(upload.channel_id),
                file_id=file_id,
                user_id=viewer.user_id,
                text=upload.text,
                filename=upload.filename,
                conversation={"origin": "api", "upload_id": str(upload.id)},
            )
            .on_conflict_do_nothing(constraint="uq_sightings_platform_file")
        )
        row = (
            await session.execute(
                select(SightingRow).where(
                    SightingRow.platform == viewer.platform, SightingRow.file_id == file_id
                )
            )
        ).scalar_one()
        return media.to_sighting(row)


async def _result(ctx: Context, upload: Upload, media_id: uuid.UUID) -> Completed:
    async with ctx.db.session() as session:
        row = await session.get(Media, media_id)
    if row is None:
        raise UploadError("missing", "The media of this upload was deleted.")
    return Completed(
        upload_id=upload.id,
        media_id=media_id,
        status=row.status.value,
        duplicate=media_id != _media_id(upload),
    )
