"""Direct uploads: ask for presigned URL(s), PUT the bytes to S3, then complete."""

from __future__ import annotations

from pydantic import BaseModel

from bot.api.problems import Problem
from bot.api.schemas import CompleteBody, CompletedOut, PartUrlOut, UploadBody, UploadOut, UploadPath
from bot.api.table import Call, Endpoint, Reply
from handlers import uploads
from storage.objects import UploadedPart

_STATUS = {"invalid": 422, "forbidden": 403, "missing": 404, "not_uploaded": 409, "too_large": 413}


def _problem(exc: uploads.UploadError) -> Problem:
    return Problem(_STATUS.get(exc.kind, 422), exc.sentence)


async def start_upload(call: Call) -> Reply:
    body = call.body_as(UploadBody)
    try:
        ticket = await uploads.start_upload(
            call.ctx,
            token=call.token,
            viewer=await call.viewer(),
            filename=body.filename,
            content_type=body.content_type,
            size_bytes=body.size_bytes,
            channel_id=body.channel_id,
            sha256=body.sha256,
            text=body.text,
            multipart=body.multipart,
        )
    except uploads.UploadError as exc:
        raise _problem(exc) from None
    return Reply(
        UploadOut(
            upload_id=ticket.upload_id,
            method="PUT",
            url=ticket.url,
            headers=ticket.headers,
            part_size=ticket.part_size,
            parts=[PartUrlOut(part_number=p.part_number, url=p.url) for p in ticket.parts],
            expires_at=ticket.expires_at,
        ),
        headers={"Location": f"/api/v1/uploads/{ticket.upload_id}"},
    )


async def complete_upload(call: Call) -> BaseModel:
    body = call.body_as(CompleteBody) if call.body is not None else CompleteBody()
    parts = [UploadedPart(part_number=p.part_number, etag=p.etag) for p in body.parts] if body.parts else None
    try:
        done = await uploads.complete_upload(
            call.ctx,
            token=call.token,
            viewer=await call.viewer(),
            upload_id=call.params_as(UploadPath).upload_id,
            parts=parts,
        )
    except uploads.UploadError as exc:
        raise _problem(exc) from None
    return CompletedOut(
        upload_id=done.upload_id, media_id=done.media_id, status=done.status, duplicate=done.duplicate
    )


ENDPOINTS = (
    Endpoint(
        "POST",
        "/uploads",
        "startUpload",
        "Start a direct upload: presigned PUT URL, or one per part for multipart",
        "uploads",
        start_upload,
        "media:write",
        UploadOut,
        status=201,
        body=UploadBody,
        description=(
            "PUT the bytes to `url` with the given headers (or each part to its URL, keeping every "
            "part's ETag header), then call complete. Above 64 MiB uploads are multipart."
        ),
    ),
    Endpoint(
        "POST",
        "/uploads/{upload_id}/complete",
        "completeUpload",
        "Check what landed (size, type, checksum) and process it like a chat share",
        "uploads",
        complete_upload,
        "media:write",
        CompletedOut,
        params=UploadPath,
        body=CompleteBody,
        errors=(409,),
        description="409 when nothing was uploaded yet; 422 (and the object is deleted) when the bytes "
        "are not a photo or video, or their size or SHA-256 differ from what was announced.",
    ),
)
