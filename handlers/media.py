"""Media shared: record the share, stream the bytes to S3, process them, reply in the thread.

Three idempotent jobs, each safe to retry and to run twice:
  ingest(sighting)  bytes → pending bucket `<media_id>/original` (the same bytes twice are one media);
                    a new media is then processed at once from the copy kept on local disk on the way
  process(media)    the same processing from the stored original: for retried ingests and API uploads
  reply(sighting)   post or update the thread reply

Processing in the ingest job saves reading the original back from S3 and a trip through the queue
(`bench.ingest`). A crash or transient error there leaves the media in `processing`; the retried ingest
then hands it to a `process` job.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from handlers import download, recognition, views
from handlers.context import Context
from handlers.ports import SharedFile, Sighting, UserFacingError
from handlers.tags import hashtags_in
from processing.errors import MediaError
from processing.media_types import MediaType, looks_like_html, sniff
from processing.pool import PixelJob
from processing.results import PhotoResult
from storage.models import ChannelSettings, Face, Media, MediaKind, MediaStatus, Tag
from storage.models import Sighting as SightingRow
from storage.objects import ObjectStoreError, ObjectTooLarge
from storage.queue import JobInfo, PermanentJobError

log = logging.getLogger(__name__)

ORIGINAL = "original"
ANALYZE_PHOTO: PixelJob[PhotoResult] = PixelJob("processing.photo", "analyze_photo")
SNIFF_BYTES = 64
STORE_FAILED = (
    "I could not store this file: the file host or the storage kept failing. Please share it again later."
)


def original_key(media_id: uuid.UUID) -> str:
    return f"{media_id}/{ORIGINAL}"


def _media_kind(kind: MediaType) -> MediaKind:
    return MediaKind.video if kind.is_video else MediaKind.photo


def to_sighting(row: SightingRow) -> Sighting:
    return Sighting(
        id=row.id,
        media_id=row.media_id,
        platform=row.platform,
        workspace_id=row.workspace_id,
        channel_id=row.channel_id,
        user_id=row.user_id,
        file_id=row.file_id,
        text=row.text,
        filename=row.filename,
        message_ref=row.message_ref,
        thread_ref=row.thread_ref,
        reply_ref=row.reply_ref,
        conversation=row.conversation,
    )


async def media_shared(ctx: Context, shared: SharedFile) -> bool:
    """Record a share and enqueue its ingest. Fast (runs in the request). False when already seen."""
    async with ctx.db.session() as session:
        statement = (
            insert(SightingRow)
            .values(
                id=uuid.uuid4(),
                platform=shared.platform,
                workspace_id=shared.workspace_id,
                channel_id=shared.channel_id,
                channel_name=shared.channel_name,
                channel_private=shared.channel_private,
                file_id=shared.file_id,
                user_id=shared.user_id,
                text=shared.text,
                filename=shared.filename,
                message_ref=shared.message_ref,
                thread_ref=shared.thread_ref,
                conversation=dict(shared.conversation),
            )
            .on_conflict_do_nothing(constraint="uq_sightings_platform_file")
            .returning(SightingRow.id)
        )
        sighting_id = (await session.execute(statement)).scalar_one_or_none()
        if sighting_id is None:
            # The same file again (a retried event, or both message/file_share and file_shared):
            # fill in what the other delivery did not know, once.
            await session.execute(
                update(SightingRow)
                .where(SightingRow.platform == shared.platform, SightingRow.file_id == shared.file_id)
                .where(SightingRow.text == "")
                .values(text=shared.text)
            )
            return False
    await ctx.queue.defer("ingest", queueing_lock=f"ingest:{sighting_id}", sighting_id=str(sighting_id))
    return True


async def _load_sighting(ctx: Context, sighting_id: uuid.UUID) -> SightingRow | None:
    async with ctx.db.session() as session:
        return await session.get(SightingRow, sighting_id)


async def ingest(ctx: Context, job: JobInfo, *, sighting_id: str) -> None:
    row = await _load_sighting(ctx, uuid.UUID(sighting_id))
    if row is None:
        return  # the media was rejected and deleted meanwhile
    sighting = to_sighting(row)
    if row.media_id is not None:
        await _after_ingest(ctx, row.media_id)
        return
    async with scratch_file(ctx) as local:
        try:
            stored = await _fetch_into_store(ctx, sighting, copy=local)
        except UserFacingError as exc:
            await fail_sighting(ctx, sighting, exc.sentence)
            raise PermanentJobError(exc.sentence) from None
        except (download.TransientDownloadError, ObjectStoreError) as exc:
            if not job.is_last_attempt:
                raise
            await fail_sighting(ctx, sighting, STORE_FAILED)
            raise PermanentJobError(str(exc)) from None
        if stored.is_new:
            await _process_source(
                ctx,
                job,
                media_id=stored.media_id,
                kind=stored.kind,
                bucket=ctx.settings.bucket_pending,
                source=local,
            )
            return
    await _after_ingest(ctx, stored.media_id, unfinished=False)


async def _after_ingest(ctx: Context, media_id: uuid.UUID, *, unfinished: bool = True) -> None:
    """Stored media: the replies once processed; an unfinished one goes to a `process` job, or, with
    `unfinished=False` (the same bytes as a media being processed right now), is left to that run,
    which replies to every sighting linked by then (a second run would only race it)."""
    async with ctx.db.session() as session:
        media = await session.get(Media, media_id)
        status = media.status if media else None
    if status in (MediaStatus.receiving, MediaStatus.processing):
        if unfinished:
            await ctx.queue.defer("process", queueing_lock=f"process:{media_id}", media_id=str(media_id))
    elif status is not None:
        await defer_replies(ctx, media_id)


@dataclass(frozen=True, slots=True)
class _Stored:
    media_id: uuid.UUID  # an existing media's id when the same bytes were seen before
    is_new: bool
    kind: MediaKind


async def _fetch_into_store(ctx: Context, sighting: Sighting, *, copy: Path) -> _Stored:
    """Stream the shared file into the pending bucket, writing a copy to `copy` on the way."""
    chat = ctx.chat(sighting.platform)
    remote = await chat.resolve_file(sighting)
    media_id = uuid.uuid4()
    bucket = ctx.settings.bucket_pending
    key = original_key(media_id)
    # Closed on every way out, so the shared session gets its connection back at once.
    async with aclosing(
        download.stream(ctx.downloads, remote, max_bytes=ctx.settings.max_upload_bytes)
    ) as stream:
        first, chunks = await _peek(stream, SNIFF_BYTES)
        kind = sniff(first)
        if kind is None:
            if looks_like_html(first):
                raise UserFacingError(
                    "I could not download this file: the chat service sent a web page instead of the file."
                )
            raise UserFacingError(
                "I can't read this type of file: share a photo (JPEG, PNG, HEIC, WebP, GIF) or a video "
                "(MP4, MOV, WebM, MKV)."
            )
        try:
            with copy.open("wb") as local:
                stored = await ctx.store.put_stream(
                    bucket=bucket,
                    key=key,
                    chunks=_tee(chunks, local),
                    content_type=kind.mime,
                    max_bytes=ctx.settings.max_upload_bytes,
                )
        except ObjectTooLarge:
            raise download.too_large(ctx.settings.max_upload_bytes) from None
    ctx.metrics.bytes_in.inc(stored.size)
    linked = await _register_media(
        ctx, sighting, media_id=media_id, kind=kind, size=stored.size, sha256=stored.sha256
    )
    return _Stored(media_id=linked, is_new=linked == media_id, kind=_media_kind(kind))


async def _tee(chunks: AsyncIterator[bytes], file: BinaryIO) -> AsyncIterator[bytes]:
    """The chunks, each also written to `file` (page cache: microseconds for a 64 KiB chunk)."""
    async for chunk in chunks:
        file.write(chunk)
        yield chunk


async def media_stored(
    ctx: Context, sighting: Sighting, *, media_id: uuid.UUID, kind: MediaType, size: int, sha256: str
) -> uuid.UUID:
    """Bytes already in the pending bucket at `original_key(media_id)` (a direct API upload): record
    them for the sighting and process them like a chat share. Returns the media id (an existing one
    when the same bytes were seen before)."""
    ctx.metrics.bytes_in.inc(size)
    linked = await _register_media(ctx, sighting, media_id=media_id, kind=kind, size=size, sha256=sha256)
    await _after_ingest(ctx, linked)
    return linked


def has_chat(ctx: Context, sighting: Sighting | SightingRow) -> bool:
    """False for shares no chat thread belongs to (API uploads): nothing is posted for them."""
    return sighting.platform in ctx.chats and sighting.conversation.get("origin") != "api"


async def _register_media(
    ctx: Context, sighting: Sighting, *, media_id: uuid.UUID, kind: MediaType, size: int, sha256: str
) -> uuid.UUID:
    """Link the sighting to a media row; the same bytes seen before link to the existing media (whose
    row a concurrent insert of the same bytes waits for), and the copy just stored is dropped."""
    async with ctx.db.session() as session:
        linked = (
            await session.execute(
                insert(Media)
                .values(
                    id=media_id,
                    sha256=sha256,
                    kind=_media_kind(kind),
                    mime=kind.mime,
                    size_bytes=size,
                    filename=sighting.filename,
                    status=MediaStatus.processing,
                    bucket=ctx.settings.bucket_pending,
                )
                .on_conflict_do_nothing(index_elements=[Media.sha256])
                .returning(Media.id)
            )
        ).scalar_one_or_none()
        if linked is None:
            # FOR SHARE waits for a run that is finishing that media right now (`store_analysis`), so
            # this sighting is either among the ones it replies to or sees the media processed.
            linked = (
                await session.execute(
                    select(Media.id).where(Media.sha256 == sha256).with_for_update(read=True)
                )
            ).scalar_one()
            # Before the commit: if S3 fails, the retried ingest starts over and leaves no orphan.
            await ctx.store.delete(bucket=ctx.settings.bucket_pending, key=original_key(media_id))
        await _link(session, sighting, linked)
    return linked


async def _link(session: object, sighting: Sighting, media_id: uuid.UUID) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    await session.execute(update(SightingRow).where(SightingRow.id == sighting.id).values(media_id=media_id))
    for tag in hashtags_in(sighting.text):
        await session.execute(
            insert(Tag).values(media_id=media_id, tag=tag, added_by=sighting.user_id).on_conflict_do_nothing()
        )


async def _peek(chunks: AsyncIterator[bytes], size: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `size` bytes, and a stream that still yields everything."""
    head: list[bytes] = []
    got = 0
    async for chunk in chunks:
        head.append(chunk)
        got += len(chunk)
        if got >= size:
            break

    async def replay() -> AsyncIterator[bytes]:
        for chunk in head:
            yield chunk
        async for chunk in chunks:
            yield chunk

    return b"".join(head)[:size], replay()


async def process(ctx: Context, job: JobInfo, *, media_id: str) -> None:
    mid = uuid.UUID(media_id)
    async with ctx.db.session() as session:
        media = await session.get(Media, mid)
        if media is None or media.status not in (MediaStatus.processing, MediaStatus.receiving):
            return
        kind, bucket = media.kind or MediaKind.photo, media.bucket or ctx.settings.bucket_pending
    async with scratch_file(ctx) as source:
        await ctx.store.download(bucket=bucket, key=original_key(mid), path=source)
        await _process_source(ctx, job, media_id=mid, kind=kind, bucket=bucket, source=source)


async def _process_source(
    ctx: Context, job: JobInfo, *, media_id: uuid.UUID, kind: MediaKind, bucket: str, source: Path
) -> None:
    """Renditions, faces and suggestions for a media whose original is at `source`; then the replies.
    A permanent failure is told to the threads and not retried."""
    try:
        if kind == MediaKind.video:
            from handlers.video import process_video

            await process_video(ctx, media_id=media_id, bucket=bucket, source=source)
        else:
            result = await ctx.pixels.run(ANALYZE_PHOTO, str(source))
            await store_photo_result(ctx, media_id=media_id, bucket=bucket, result=result)
    except (UserFacingError, MediaError) as exc:
        sentence = exc.sentence if isinstance(exc, UserFacingError) else exc.user_message
        await fail_media(ctx, media_id, sentence)
        raise PermanentJobError(sentence) from None
    except Exception:
        if job.is_last_attempt:
            await fail_media(
                ctx,
                media_id,
                "Something went wrong while processing this file; an admin can find details in the logs.",
            )
        raise


@asynccontextmanager
async def scratch_file(ctx: Context) -> AsyncIterator[Path]:
    """A path for one original on local disk (never in memory), deleted afterwards."""
    workdir = ctx.settings.data_dir / "tmp"
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        yield Path(tmp) / ORIGINAL


async def store_photo_result(ctx: Context, *, media_id: uuid.UUID, bucket: str, result: PhotoResult) -> None:
    await store_analysis(
        ctx,
        media_id=media_id,
        bucket=bucket,
        renditions=result.renditions,
        faces=[
            (
                Face(
                    media_id=media_id,
                    ordinal=ordinal,
                    box=list(face.box),
                    score=face.score,
                    quality=face.quality,
                    embedding=list(face.embedding),
                ),
                face.crop_jpeg,
            )
            for ordinal, face in enumerate(result.faces, start=1)
        ],
        media={
            "width": result.width,
            "height": result.height,
            "taken_at": result.taken_at,
            "camera": result.camera,
            "mime": result.mime,
        },
    )


async def store_analysis(
    ctx: Context,
    *,
    media_id: uuid.UUID,
    bucket: str,
    renditions: dict[str, bytes],
    faces: list[tuple[Face, bytes]],
    media: dict[str, object],
) -> None:
    """Renditions and face crops to S3 (all at once: one round trip instead of one per object); then,
    in one transaction, the faces with their suggestions and clusters, the metadata, and the media
    marked processed (pending, replacing an earlier partial run); then auto-approval where the channel
    wants it, and the replies."""
    puts = [
        ctx.store.put_bytes(bucket=bucket, key=f"{media_id}/{name}", data=data, content_type="image/jpeg")
        for name, data in renditions.items()
    ]
    for face, crop in faces:
        face.id = face.id or uuid.uuid4()
        face.crop_key = f"{media_id}/{face.id}.jpg"
        puts.append(
            ctx.store.put_bytes(
                bucket=ctx.settings.bucket_faces, key=face.crop_key, data=crop, content_type="image/jpeg"
            )
        )
    await asyncio.gather(*puts)
    done = {"status": MediaStatus.pending, "processed_at": datetime.now(UTC), "error": None}
    async with ctx.db.session() as session:
        await session.execute(delete(Face).where(Face.media_id == media_id))
        rows = [face for face, _ in faces]
        session.add_all(rows)
        await recognition.suggest(ctx, session, media_id=media_id, faces=rows)
        kind = (
            await session.execute(
                update(Media).where(Media.id == media_id).values(**media, **done).returning(Media.kind)
            )
        ).scalar_one_or_none()
        sightings = await session.execute(
            select(SightingRow.id, ChannelSettings.auto_approve)
            .outerjoin(
                ChannelSettings,
                (ChannelSettings.platform == SightingRow.platform)
                & (ChannelSettings.channel_id == SightingRow.channel_id),
            )
            .where(SightingRow.media_id == media_id)
        )
        replies = {sid: bool(auto) for sid, auto in sightings}
    ctx.metrics.faces.inc(len(faces))
    ctx.metrics.media.labels(kind=kind.value if kind else "photo", outcome="ok").inc()
    if any(replies.values()):
        from handlers.approval import approve

        await approve(ctx, media_id=media_id, actor_id="auto-approve")
    for sid in replies:
        await _defer_reply(ctx, sid)


async def defer_replies(ctx: Context, media_id: uuid.UUID) -> None:
    async with ctx.db.session() as session:
        ids = (
            (await session.execute(select(SightingRow.id).where(SightingRow.media_id == media_id)))
            .scalars()
            .all()
        )
    for sid in ids:
        await _defer_reply(ctx, sid)


async def _defer_reply(ctx: Context, sighting_id: uuid.UUID) -> None:
    # One reply job per sighting at a time: a second one waits, then updates the same message.
    await ctx.queue.defer(
        "reply",
        queueing_lock=f"reply:{sighting_id}",
        lock=f"reply:{sighting_id}",
        sighting_id=str(sighting_id),
    )


async def reply(ctx: Context, job: JobInfo, *, sighting_id: str) -> None:
    async with ctx.db.session() as session:
        row = await session.get(SightingRow, uuid.UUID(sighting_id))
        if row is None or row.media_id is None or not has_chat(ctx, row):
            return
        view = await views.media_view(ctx, row.media_id, session=session)
    if view is None:
        return
    sighting = to_sighting(row)
    reply_ref = await ctx.chat(row.platform).publish_media(sighting, view)
    if reply_ref and reply_ref != row.reply_ref:
        async with ctx.db.session() as session:
            await session.execute(
                update(SightingRow).where(SightingRow.id == row.id).values(reply_ref=reply_ref)
            )


async def fail_sighting(ctx: Context, sighting: Sighting, sentence: str) -> None:
    """Tell the thread once; a retried job does not repeat the message."""
    async with ctx.db.session() as session:
        claimed = (
            await session.execute(
                update(SightingRow)
                .where(SightingRow.id == sighting.id, SightingRow.error_reported.is_(False))
                .values(error_reported=True)
                .returning(SightingRow.id)
            )
        ).scalar_one_or_none()
    if claimed is not None and has_chat(ctx, sighting):
        try:
            await ctx.chat(sighting.platform).notify(sighting, sentence)
        except Exception:
            log.exception(
                "could not tell the thread about a failure", extra={"sighting_id": str(sighting.id)}
            )


async def fail_media(ctx: Context, media_id: uuid.UUID, sentence: str) -> None:
    async with ctx.db.session() as session:
        media = await session.get(Media, media_id)
        if media is None:
            return
        media.status = MediaStatus.failed
        media.error = sentence
        kind = media.kind.value if media.kind else "photo"
        rows = (
            (await session.execute(select(SightingRow).where(SightingRow.media_id == media_id)))
            .scalars()
            .all()
        )
    ctx.metrics.media.labels(kind=kind, outcome="failed").inc()
    for row in rows:
        await fail_sighting(ctx, to_sighting(row), sentence)
