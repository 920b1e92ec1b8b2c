"""handlers.download: allow-listed hosts only, credentials never follow a file elsewhere, no HTML,
bounded size, and each failure is either one sentence for the user or a transient error to retry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from handlers.download import TransientDownloadError, host_allowed, stream
from handlers.ports import RemoteFile, UserFacingError

PHOTO = b"\xff\xd8\xff\xe0" + b"pixels" * 40_000  # 240 kB with a JPEG's magic bytes
PHOTO_SIZE = len(PHOTO)

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://files.slack.com/files-pri/T1-F1/photo.jpg", True),
        ("https://files.slack.com:443/files-pri/T1-F1/photo.jpg", True),  # a host entry allows any port
        ("https://FILES.slack.com/x", True),
        ("https://tenant.sharepoint.com/x", True),
        ("https://a.b.sharepoint.com/x", True),
        ("https://sharepoint.com/x", False),  # the wildcard is for subdomains
        ("https://evilsharepoint.com/x", False),
        ("https://files.slack.com.evil.example/x", False),
        ("https://files.slack.com@evil.example/x", False),  # userinfo is not the host
        ("https://evil.example/?next=https://files.slack.com/", False),
        ("http://files.slack.com/x", False),  # a token never travels in clear text to another machine
        ("ftp://files.slack.com/x", False),
        ("file:///etc/passwd", False),
        ("https:///x", False),
        ("http://127.0.0.1:9000/x", True),  # loopback over http: the fakes in tests, a dev setup
        ("http://127.0.0.1:9001/x", False),
        ("http://localhost:9000/x", False),  # entries match the name as written
    ],
)
def test_host_allowed(url: str, allowed: bool) -> None:
    hosts = ("files.slack.com", "*.sharepoint.com", "127.0.0.1:9000")
    assert host_allowed(url, hosts) is allowed


@dataclass
class FileHost:
    """A file server on loopback that records what reached it."""

    url: str
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization)

    @property
    def netloc(self) -> str:
        return self.url.removeprefix("http://")


async def _serve(routes: dict[str, Route]) -> tuple[FileHost, web.AppRunner]:
    app = web.Application()
    runner = web.AppRunner(app)
    host = FileHost(url="")

    def recorded(route: Route) -> Route:
        async def handle(request: web.Request) -> web.StreamResponse:
            host.seen.append((request.path, request.headers.get("Authorization")))
            return await route(request)

        return handle

    for path, route in routes.items():
        app.router.add_get(path, recorded(route))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    host.url = f"http://127.0.0.1:{port}"
    return host, runner


@pytest_asyncio.fixture
async def hosts() -> AsyncIterator[Callable[[dict[str, Route]], Awaitable[FileHost]]]:
    runners: list[web.AppRunner] = []

    async def start(routes: dict[str, Route]) -> FileHost:
        host, runner = await _serve(routes)
        runners.append(runner)
        return host

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def remote(url: str, *allowed: str, size: int | None = None) -> RemoteFile:
    return RemoteFile(
        url=url, headers={"Authorization": "Bearer xoxb-secret"}, allowed_hosts=allowed, size=size
    )


async def fetch(session: aiohttp.ClientSession, file: RemoteFile, *, max_bytes: int = 10_000_000) -> bytes:
    return b"".join([chunk async for chunk in stream(session, file, max_bytes=max_bytes)])


def bytes_route(body: bytes, content_type: str = "image/jpeg", status: int = 200) -> Route:
    async def route(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type, status=status)

    return route


def redirect_route(location: Callable[[], str]) -> Route:
    async def route(_: web.Request) -> web.Response:
        raise web.HTTPFound(location())

    return route


async def test_a_file_streams_in_chunks_with_the_token(
    hosts: Callable[[dict[str, Route]], Awaitable[FileHost]], session: aiohttp.ClientSession
) -> None:
    host = await hosts({"/photo.jpg": bytes_route(PHOTO)})
    chunks = [c async for c in stream(session, remote(f"{host.url}/photo.jpg", host.netloc), max_bytes=10**7)]
    assert b"".join(chunks) == PHOTO and len(chunks) > 1
    assert host.seen == [("/photo.jpg", "Bearer xoxb-secret")]


async def test_a_host_off_the_list_is_never_contacted(
    hosts: Callable[[dict[str, Route]], Awaitable[FileHost]], session: aiohttp.ClientSession
) -> None:
    other = await hosts({"/photo.jpg": bytes_route(PHOTO)})
    with pytest.raises(UserFacingError, match="not allowed to fetch from"):
        await fetch(session, remote(f"{other.url}/photo.jpg", "files.slack.com"))
    assert other.seen == []


async def test_a_redirect_off_the_list_is_refused_before_it_is_followed(
    hosts: Callable[[dict[str, Route]], Awaitable[FileHost]], session: aiohttp.ClientSession
) -> None:
    elsewhere = await hosts({"/photo.jpg": bytes_route(PHOTO)})
    host = await hosts({"/photo.jpg": redirect_route(lambda: f"{elsewhere.url}/photo.jpg")})
    with pytest.raises(UserFacingError, match="not allowed to fetch from"):
        await fetch(session, remote(f"{host.url}/photo.jpg", host.netloc))
    assert elsewhere.seen == []


async def test_the_token_stays_behind_when_a_redirect_changes_host(
    hosts: Callable[[dict[str, Route]], Awaitable[FileHost]], session: aiohttp.ClientSession
) -> None:
    cdn = await hosts({"/photo.jpg": bytes_route(PHOTO)})
    host = await hosts(
        {
            "/photo.jpg": redirect_route(lambda: "/moved.jpg"),
            "/moved.jpg": redirect_route(lambda: f"{cdn.url}/photo.jpg"),
        }
    )
    assert await fetch(session, remote(f"{host.url}/photo.jpg", host.netloc, cdn.netloc)) == PHOTO
    assert host.seen == [("/photo.jpg", "Bearer xoxb-secret"), ("/moved.jpg", "Bearer xoxb-secret")]
    assert cdn.seen == [("/photo.jpg", None)]


async def test_endless_redirects_end(
    hosts: Callable[[dict[str, Route]], Awaitable[FileHost]], session: aiohttp.ClientSession
) -> None:
    host = await hosts({"/loop": redirect_route(lambda: "/loop")})
    with pytest.raises(UserFacingError, match="redirected too many times"):
        await fetch(session, remote(f"{host.url}/loop", host.netloc))
    assert len(host.seen) == 6


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (bytes_route(b"<!DOCTYPE html><html>Sign in to Slack</html>", "text/html"), "sign-in page"),
        (bytes_route(b"  <html><body>Sign in</body></html>", "application/octet-stream"), "sign-in page"),
        (bytes_route(b""), "empty"),
        (bytes_route(b"", status=403), "refused me access"),
        (bytes_route(b"", status=404), "deleted"),
        (bytes_route(b"", status=410), "deleted"),
        (bytes_route(b"", status=400), r"error \(400\)"),
    ],
    ids=["html", "html-mislabelled", "empty", "forbidden", "missing", "gone", "bad-request"],
)
async def test_answers_retrying_cannot_fix_are_one_sentence(
    hosts: Callable[[dict[str, Route]], Awaitable[FileHost]],
    session: aiohttp.ClientSession,
    route: Route,
    message: str,
) -> None:
    host = await hosts({"/f": route})
    with pytest.raises(UserFacingError, match=message) as refused:
        await fetch(session, remote(f"{host.url}/f", host.netloc))
    assert "\n" not in refused.value.sentence


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_busy_or_failing_hosts_are_retried_later(
    hosts: Callable[[dict[str, Route]], Awaitable[FileHost]], session: aiohttp.ClientSession, status: int
) -> None:
    host = await hosts({"/f": bytes_route(b"", status=status)})
    with pytest.raises(TransientDownloadError):
        await fetch(session, remote(f"{host.url}/f", host.netloc))


async def test_an_unreachable_host_is_retried_later(session: aiohttp.ClientSession) -> None:
    with pytest.raises(TransientDownloadError):
        await fetch(session, remote("http://127.0.0.1:9/f", "127.0.0.1:9"))


async def test_too_large_by_metadata_by_header_and_by_count(
    hosts: Callable[[dict[str, Route]], Awaitable[FileHost]], session: aiohttp.ClientSession
) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(8):
            await response.write(PHOTO[:65_536])
        return response

    host = await hosts({"/photo.jpg": bytes_route(PHOTO), "/chunked.jpg": chunked})
    with pytest.raises(UserFacingError, match="larger than the 100 KB"):
        await fetch(session, remote(f"{host.url}/photo.jpg", host.netloc, size=PHOTO_SIZE), max_bytes=102_400)
    assert host.seen == [], "a size the platform reported is checked before downloading"
    with pytest.raises(UserFacingError, match="This file is 234 KB, larger than the 100 KB"):
        await fetch(session, remote(f"{host.url}/photo.jpg", host.netloc), max_bytes=102_400)
    with pytest.raises(UserFacingError, match="This file is larger than the 100 KB"):
        await fetch(session, remote(f"{host.url}/chunked.jpg", host.netloc), max_bytes=102_400)
