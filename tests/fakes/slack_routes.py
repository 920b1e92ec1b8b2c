"""The fake Slack's non-API routes: private file URLs, upload URLs and slash-command response URLs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.slack_blocks import MESSAGE_MAX_BLOCKS, assign_block_ids, block_errors
from tests.fakes.slack_records import Download, Knobs, UploadPost
from tests.fakes.slack_state import ResponseUrl, Workspace

SIGN_IN_PAGE = """<!DOCTYPE html>
<html lang="en-US"><head><meta charset="utf-8"><title>Slack</title></head>
<body><div id="page"><h1>Sign in to Slack</h1>
<form id="signin_form" action="/" method="post"><input type="email" name="email"></form>
</div></body></html>
"""
RESPONSE_URL_MAX_POSTS = 5
RESPONSE_URL_TTL = 30 * 60.0


class SideRoutes:
    def __init__(self, ws: Workspace, knobs: Knobs) -> None:
        self.ws = ws
        self.knobs = knobs
        self.downloads: list[Download] = []
        self.upload_posts: list[UploadPost] = []
        self.disk_files: dict[str, Path] = {}  # file id → bytes served from disk (large files, benchmarks)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/files-pri/{key}/{tail:.+}", self.download),
            web.post("/upload/v1/{ticket}", self.upload),
            web.post("/commands/{url_id}", self.respond),
        ]

    async def download(self, request: web.Request) -> web.StreamResponse:
        team, _, file_id = request.match_info["key"].partition("-")
        outage = self.knobs.take_outage("files-pri")
        if outage is not None:
            self.downloads.append(Download(file_id=file_id, authorized=False, status=outage.status))
            return web.Response(status=outage.status, headers={"Retry-After": str(outage.retry_after)})
        await asyncio.sleep(self.knobs.delays.get("files-pri", 0.0))
        file = self.ws.files.get(file_id)
        if team != self.ws.team_id or file is None:
            self.downloads.append(Download(file_id=file_id, authorized=False, status=404))
            return web.Response(status=404, text="Not Found")
        auth = request.headers.get("Authorization", "")
        authorized = auth == f"Bearer {self.ws.bot_token}" and "files:read" in self.ws.bot_scopes
        self.downloads.append(Download(file_id=file_id, authorized=authorized, status=200))
        if not authorized:  # what Slack really does: a sign-in page, HTTP 200
            return web.Response(text=SIGN_IN_PAGE, content_type="text/html")
        headers = {"Content-Disposition": f'attachment; filename="{file.name}"'}
        on_disk = self.disk_files.get(file_id)
        if on_disk is not None:
            return web.FileResponse(on_disk, headers={**headers, "Content-Type": file.mimetype})
        return web.Response(body=file.data, content_type=file.mimetype, headers=headers)

    async def upload(self, request: web.Request) -> web.Response:
        ticket = request.match_info["ticket"]
        pending = self.ws.uploads.get(ticket)
        if pending is None:
            self.upload_posts.append(UploadPost(ticket=ticket, size=0, status=404))
            return web.Response(status=404, text="Not Found")
        if request.content_type == "multipart/form-data":
            data = b""
            async for part in await request.multipart():
                if isinstance(part, BodyPartReader) and part.filename is not None:
                    data = await part.read()
        else:
            data = await request.read()
        pending.data = data
        self.upload_posts.append(UploadPost(ticket=ticket, size=len(data), status=200))
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def respond(self, request: web.Request) -> web.Response:
        entry = self.ws.response_urls.get(request.match_info["url_id"])
        if entry is None:
            return web.Response(status=404, text="no_service")
        if time.monotonic() - entry.issued > RESPONSE_URL_TTL:
            return web.Response(status=404, text="expired_url")
        if len(entry.posts) >= RESPONSE_URL_MAX_POSTS:
            return web.Response(status=404, text="used_url")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        if "blocks" in body:
            errors = block_errors(body["blocks"], max_blocks=MESSAGE_MAX_BLOCKS, is_known_file=self._known)
            if errors:
                return web.Response(status=400, text="invalid_blocks")
        entry.posts.append(body)
        self._apply(entry, body)
        return web.Response(text="ok", content_type="text/plain")

    def _known(self, ref: dict[str, Any]) -> bool:
        return ref.get("id") in self.ws.files or any(
            ref.get("url") in self.ws.file_urls(f) for f in self.ws.files.values()
        )

    def _apply(self, entry: ResponseUrl, body: dict[str, Any]) -> None:
        blocks = assign_block_ids(body["blocks"]) if isinstance(body.get("blocks"), list) else None
        original = self.ws.messages_in(entry.channel)
        target = next((m for m in original if m.ts == entry.message_ts), None)
        if body.get("delete_original") and target is not None:
            target.deleted = True
        elif body.get("replace_original") and target is not None:
            target.history.append(self.ws.message_to_api(target))
            target.text, target.blocks = str(body.get("text", "")), blocks
        elif body.get("response_type") == "in_channel":
            self.ws.post_message(
                entry.channel,
                self.ws.bot_user.id,
                str(body.get("text", "")),
                blocks=blocks,
                thread_ts=body.get("thread_ts"),
                bot=True,
            )
        else:
            ephemeral = {
                "user": entry.user,
                "text": body.get("text", ""),
                "blocks": blocks,
                "via": "response_url",
            }
            self.ws.ephemerals.setdefault(entry.channel, []).append(ephemeral)
