"""The Slack side of `ChatPort`: files.info for downloads, thread replies with Block Kit."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import media_blocks
from handlers.ports import MediaView, RemoteFile, Sighting, UserFacingError

log = logging.getLogger(__name__)

_SCOPE_HINT = {
    "files.info": "files:read",
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "files.getUploadURLExternal": "files:write",
}


class SlackTransientError(Exception):
    """Slack is rate limiting or failing right now: retry the job later."""


def _slack_error(method: str, exc: SlackApiError) -> Exception:
    error = str(exc.response.get("error", "")) if exc.response is not None else ""
    status = exc.response.status_code if exc.response is not None else 0
    if (
        status == 429
        or status >= 500
        or error in {"ratelimited", "internal_error", "fatal_error", "service_unavailable"}
    ):
        return SlackTransientError(f"{method}: {error or status}")
    if error == "missing_scope":
        needed = exc.response.get("needed", _SCOPE_HINT.get(method, "")) if exc.response is not None else ""
        return UserFacingError(
            f"facetag is missing the Slack permission {needed}; ask an admin to reinstall the app."
        )
    if error in {"file_not_found", "file_deleted"}:
        return UserFacingError("This file was deleted before facetag could read it.")
    if error in {"not_in_channel", "channel_not_found"}:
        return UserFacingError(
            "facetag is not a member of this conversation; invite it and share the file again."
        )
    return UserFacingError(f"Slack refused the request ({error or 'unknown error'}).")


class SlackChat:
    platform = "slack"

    def __init__(self, client: AsyncWebClient, *, file_hosts: tuple[str, ...]) -> None:
        self.client = client
        self.file_hosts = file_hosts

    @property
    def _token(self) -> str:
        assert self.client.token is not None
        return self.client.token

    async def resolve_file(self, sighting: Sighting) -> RemoteFile:
        try:
            response = await self.client.files_info(file=sighting.file_id)
        except SlackApiError as exc:
            raise _slack_error("files.info", exc) from None
        file: dict[str, Any] = response["file"]
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            raise UserFacingError("Slack did not give facetag a download link for this file.")
        return RemoteFile(
            url=str(url),
            headers={"Authorization": f"Bearer {self._token}"},
            allowed_hosts=self.file_hosts,
            size=int(file["size"]) if file.get("size") is not None else None,
            name=file.get("name"),
            mimetype=file.get("mimetype"),
            access_hint="the app is probably missing the files:read permission",
        )

    async def upload_image(self, *, data: bytes, filename: str, title: str) -> str:
        """files.getUploadURLExternal → POST the bytes → files.completeUploadExternal; the file id."""
        try:
            ticket = await self.client.files_getUploadURLExternal(filename=filename, length=len(data))
            upload_url, file_id = str(ticket["upload_url"]), str(ticket["file_id"])
            session = self.client.session
            assert session is not None, "SlackDoor gives its client one HTTP session"
            async with session.post(upload_url, data=data) as response:
                if response.status != 200:
                    raise SlackTransientError(f"upload answered {response.status}")
            await self.client.files_completeUploadExternal(files=[{"id": file_id, "title": title}])
        except SlackApiError as exc:
            raise _slack_error("files.getUploadURLExternal", exc) from None
        return file_id

    async def publish_media(self, sighting: Sighting, view: MediaView) -> str | None:
        ref = json.loads(sighting.reply_ref) if sighting.reply_ref else {}
        file_id = ref.get("file")
        if file_id is None and view.annotated_jpeg is not None:
            file_id = await self.upload_image(
                data=view.annotated_jpeg, filename=f"faces-{view.id}.jpg", title="Faces, numbered"
            )
        text, blocks = media_blocks(view, image_file_id=file_id)
        channel = sighting.channel_id
        try:
            if ref.get("ts"):
                await self.client.chat_update(channel=channel, ts=ref["ts"], text=text, blocks=blocks)
                ts = ref["ts"]
            else:
                posted = await self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=sighting.thread_ref or sighting.message_ref,
                    text=text,
                    blocks=blocks,
                    unfurl_links=False,
                )
                ts = str(posted["ts"])
        except SlackApiError as exc:
            raise _slack_error("chat.postMessage", exc) from None
        return json.dumps({"ts": ts, "file": file_id})

    async def notify(self, sighting: Sighting, sentence: str) -> None:
        try:
            await self.client.chat_postMessage(
                channel=sighting.channel_id,
                thread_ts=sighting.thread_ref or sighting.message_ref,
                text=sentence,
            )
        except SlackApiError as exc:
            raise _slack_error("chat.postMessage", exc) from None
