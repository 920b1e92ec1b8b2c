"""files.info, files.getUploadURLExternal, files.completeUploadExternal."""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.slack_request import ApiRequest, Handler
from tests.fakes.slack_state import PendingUpload
from tests.fakes.slack_workspace import Channel, File, SlackError


def _bot_can_see(req: ApiRequest, file: File) -> bool:
    if file.user == req.user_id:
        return True
    for share in file.shares:
        channel = req.ws.channels[share.channel]
        if channel.type == "public_channel" or req.user_id in channel.members:
            return True
    return False


def files_info(req: ApiRequest) -> dict[str, Any]:
    file = req.ws.file(req.req_str("file"))
    if not _bot_can_see(req, file):
        raise SlackError("file_not_found")
    return {"ok": True, "file": req.ws.file_to_api(file)}


def get_upload_url(req: ApiRequest) -> dict[str, Any]:
    length = req.int_arg("length", 0, error="missing_argument")
    if length < 1:
        raise SlackError("missing_argument")
    filename = req.req_str("filename")
    if len(req.str_arg("alt_txt") or "") > 1000:
        raise SlackError("alt_txt_too_large")
    file_id = req.ws.ids.new("F")
    ticket = req.ws.ids.new("UP").lower()
    req.ws.uploads[ticket] = PendingUpload(file_id=file_id, filename=filename, length=length)
    return {"ok": True, "upload_url": f"{req.ws.base_url}/upload/v1/{ticket}", "file_id": file_id}


def _share_targets(req: ApiRequest) -> list[Channel]:
    refs = [req.str_arg("channel_id") or "", *(req.str_arg("channels") or "").split(",")]
    targets: list[Channel] = []
    for ref in (r.strip() for r in refs):
        if not ref:
            continue
        channel = req.ws.add_im(ref) if ref in req.ws.users else req.visible_channel(ref)
        if req.user_id not in channel.members:
            raise SlackError("not_in_channel")
        targets.append(channel)
    if len(targets) > 100:
        raise SlackError("channels_limit_exceeded")
    return targets


def complete_upload(req: ApiRequest) -> dict[str, Any]:
    items = req.json_arg("files", error="file_not_found")
    if not isinstance(items, list) or not items:
        raise SlackError("file_not_found")
    pending: list[tuple[str, PendingUpload, str | None]] = []
    for item in items:
        file_id = item.get("id") if isinstance(item, dict) else None
        ticket = next((t for t, u in req.ws.uploads.items() if u.file_id == file_id), None)
        if ticket is None or req.ws.uploads[ticket].data is None:
            raise SlackError("file_not_found")
        pending.append((ticket, req.ws.uploads[ticket], item.get("title")))
    targets = _share_targets(req)
    blocks = req.blocks(detailed=False)
    files: list[File] = []
    for ticket, upload, title in pending:
        assert upload.data is not None
        file = File(
            id=upload.file_id,
            name=upload.filename,
            title=title or upload.filename,
            mimetype=File.guess_mimetype(upload.filename),
            user=req.user_id,
            data=upload.data,
            created=int(time.time()),
        )
        req.ws.files[file.id] = file
        del req.ws.uploads[ticket]
        files.append(file)
    text = req.str_arg("initial_comment") or ""
    thread_ts = req.str_arg("thread_ts") or None
    for channel in targets:
        req.ws.post_message(
            channel.id,
            req.user_id,
            text,
            thread_ts=thread_ts,
            files=[f.id for f in files],
            blocks=blocks,
            bot=True,
        )
    return {"ok": True, "files": [req.ws.file_to_api(f) for f in files]}


HANDLERS: dict[str, Handler] = {
    "files.info": files_info,
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
}
