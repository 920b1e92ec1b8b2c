"""Fetch a shared file from a chat platform as a byte stream: allow-listed hosts only, no HTML, bounded."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from urllib.parse import urljoin, urlsplit

import aiohttp

from handlers.ports import RemoteFile, UserFacingError
from storage.hosts import is_loopback

CHUNK = 64 * 1024
"""Read size, and the read buffer of each download (aiohttp stops reading the socket at twice the larger
of the two). The web process streams FACETAG_WORKER_CONCURRENCY files at once; measured with 8 at once
into S3 (5 MiB parts), RSS per stream: 7.7 MB with 1 MiB reads (~2.6 MB of it downloaded bytes waiting),
6.3 MB with 256 KiB, 5.5 MB with 64 KiB, at no measurable cost in speed."""
MAX_REDIRECTS = 5


class TransientDownloadError(Exception):
    """The platform did not answer properly this time (5xx, timeout, reset): retry later."""


def host_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """`host` or `host:port` entries match exactly; `*.example.com` matches any subdomain."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in {"https", "http"}:
        return False
    if parts.scheme == "http" and not is_loopback(host):
        return False  # tokens never travel in clear text, except to this machine (tests, dev)
    netloc = f"{host}:{parts.port}" if parts.port else host
    for entry in allowed:
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif entry in (host, netloc):
            return True
    return False


def _looks_like_html(head: bytes) -> bool:
    start = head[:512].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


async def stream(
    session: aiohttp.ClientSession, remote: RemoteFile, *, max_bytes: int
) -> AsyncGenerator[bytes]:
    """Yield the file's bytes in chunks. Raises UserFacingError for what retrying cannot fix."""
    if remote.size is not None and remote.size > max_bytes:
        raise too_large(max_bytes, remote.size)
    url, headers = remote.url, dict(remote.headers)
    for _ in range(MAX_REDIRECTS + 1):
        if not host_allowed(url, remote.allowed_hosts):
            raise UserFacingError(
                "I did not download this file: it is hosted somewhere facetag is not allowed to fetch from."
            )
        try:
            response = await session.get(
                url,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(sock_read=60),
                read_bufsize=CHUNK,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientDownloadError(f"download failed: {type(exc).__name__}") from exc
        async with response:
            if response.status in {301, 302, 303, 307, 308} and "Location" in response.headers:
                target = urljoin(url, response.headers["Location"])
                if urlsplit(target).netloc != urlsplit(url).netloc:
                    headers.pop("Authorization", None)  # credentials never follow a file to another host
                url = target
                continue
            _check_status(response.status, remote)
            if "text/html" in response.headers.get("Content-Type", "").lower():
                raise _sign_in_page(remote)
            length = response.content_length
            if length is not None and length > max_bytes:
                raise too_large(max_bytes, length)
            total = 0
            first = True
            try:
                async for chunk in response.content.iter_chunked(CHUNK):
                    if first and _looks_like_html(chunk):
                        raise _sign_in_page(remote)
                    first = False
                    total += len(chunk)
                    if total > max_bytes:
                        raise too_large(max_bytes)
                    yield chunk
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TransientDownloadError(f"download interrupted: {type(exc).__name__}") from exc
            if total == 0:
                raise UserFacingError("This file is empty.")
            return
    raise UserFacingError("I could not download this file: it redirected too many times.")


def _check_status(status: int, remote: RemoteFile) -> None:
    if status == 200:
        return
    if status in {401, 403}:
        raise UserFacingError(
            f"I could not download this file: the chat service refused me access ({remote.access_hint})."
        )
    if status in {404, 410}:
        raise UserFacingError("I could not download this file: it was deleted or is no longer shared.")
    if status == 429 or status >= 500:
        raise TransientDownloadError(f"file host answered {status}")
    raise UserFacingError(
        f"I could not download this file: the chat service answered with an error ({status})."
    )


def _sign_in_page(remote: RemoteFile) -> UserFacingError:
    return UserFacingError(
        "I could not download this file: the chat service sent a sign-in page instead of the file "
        f"({remote.access_hint})."
    )


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} bytes"


def too_large(limit: int, size: int | None = None) -> UserFacingError:
    what = f"This file is {human_size(size)}, larger than" if size is not None else "This file is larger than"
    return UserFacingError(f"{what} the {human_size(limit)} facetag accepts.")
