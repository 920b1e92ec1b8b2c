"""The REST API on the real app: tokens and scopes, visibility, direct uploads to the real SeaweedFS."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.api.limiter import RateLimiter
from handlers import tokens
from storage.models import Media, MediaStatus, Upload
from storage.settings import Settings
from tests.support.app import RunningApp, run_app
from tests.support.slack import face_photo, slack_scenario

OBAMA = "face_recognition/examples/knn_examples/train/obama/obama.jpg"
OBAMA_2 = "face_recognition/examples/knn_examples/train/obama/obama2.jpg"
BIDEN = "face_recognition/examples/knn_examples/train/biden/biden.jpg"
ALL_SCOPES = list(tokens.SCOPES)


async def _token(app: RunningApp, scopes: list[str], **kwargs: Any) -> str:
    new = await tokens.create_token(app.ctx.db, name="test", scopes=scopes, created_by="tests", **kwargs)
    return new.secret


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def _json(response: aiohttp.ClientResponse) -> Any:
    return await response.json(content_type=None)


async def upload(
    http: aiohttp.ClientSession,
    app: RunningApp,
    secret: str,
    data: bytes,
    *,
    channel: str,
    filename: str = "photo.jpg",
    multipart: bool = False,
    text: str = "",
) -> str:
    """The whole direct-upload dance; returns the media id."""
    start = await http.post(
        f"{app.url}/api/v1/uploads",
        headers=_auth(secret),
        json={
            "filename": filename,
            "content_type": "image/jpeg",
            "size_bytes": len(data),
            "channel_id": channel,
            "sha256": hashlib.sha256(data).hexdigest(),
            "multipart": multipart,
            "text": text,
        },
    )
    assert start.status == 201, await start.text()
    ticket = await _json(start)
    parts = []
    if multipart:
        size = ticket["part_size"]
        for part in ticket["parts"]:
            chunk = data[(part["part_number"] - 1) * size : part["part_number"] * size]
            put = await http.put(part["url"], data=chunk)
            assert put.status == 200, await put.text()
            parts.append({"part_number": part["part_number"], "etag": put.headers["ETag"]})
    else:
        put = await http.put(ticket["url"], data=data, headers=ticket["headers"])
        assert put.status == 200, await put.text()
    done = await http.post(
        f"{app.url}/api/v1/uploads/{ticket['upload_id']}/complete",
        headers=_auth(secret),
        json={"parts": parts} if multipart else {},
    )
    assert done.status == 200, await done.text()
    return str((await _json(done))["media_id"])


async def test_tokens_scopes_and_rate_limits(settings: Settings) -> None:
    async with run_app(settings, worker=False) as app, aiohttp.ClientSession() as http:
        base = f"{app.url}/api/v1"
        # The document and the docs page are public and self-contained.
        document = await _json(await http.get(f"{base}/openapi.json"))
        assert document["openapi"].startswith("3.1")
        page = await http.get(f"{base}/docs")
        html = await page.text()
        assert page.status == 200
        assert "searchMedia" in html
        assert "<script" not in html
        assert "//cdn" not in html

        missing = await http.get(f"{base}/media")
        assert missing.status == 401
        assert missing.headers["Content-Type"].startswith("application/problem+json")
        assert "Bearer" in missing.headers["WWW-Authenticate"]
        assert (await http.get(f"{base}/media", headers=_auth("ft_" + "x" * 43))).status == 401

        people_only = await _token(app, ["people:read"], channels=["C1"])
        refused = await http.get(f"{base}/media", headers=_auth(people_only))
        assert refused.status == 403
        problem = await _json(refused)
        assert problem["status"] == 403
        assert "media:read" in problem["detail"]
        assert (await http.get(f"{base}/people", headers=_auth(people_only))).status == 200
        upload_refused = await http.post(
            f"{base}/uploads",
            headers=_auth(people_only),
            json={"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 10, "channel_id": "C1"},
        )
        assert upload_refused.status == 403
        # Non-admin tokens cannot manage tokens or approve.
        assert (await http.get(f"{base}/tokens", headers=_auth(people_only))).status == 403

        reader = await _token(app, ["media:read"], channels=["C1"])
        ok = await http.get(f"{base}/media", headers=_auth(reader))
        assert ok.status == 200
        assert (await _json(ok))["items"] == []
        bad_query = await http.get(f"{base}/media", params={"q": "nope:thing"}, headers=_auth(reader))
        assert bad_query.status == 400
        assert "Unknown filter" in (await _json(bad_query))["detail"]
        me = await _json(await http.get(f"{base}/token", headers=_auth(reader)))
        assert me["scopes"] == ["media:read"]

        # An admin revokes it through the API: 401 from then on.
        admin = await _token(app, ALL_SCOPES, channels=["C1"])
        revoke = await http.delete(f"{base}/tokens/{me['id']}", headers=_auth(admin))
        assert revoke.status == 204
        assert (await http.get(f"{base}/media", headers=_auth(reader))).status == 401
        created = await http.post(
            f"{base}/tokens",
            headers=_auth(admin),
            json={"name": "app", "scopes": ["media:read"], "channels": ["C9"]},
        )
        assert created.status == 201
        secret = (await _json(created))["secret"]
        assert secret.startswith("ft_")
        assert (await http.get(f"{base}/media", headers=_auth(secret))).status == 200
        async with app.ctx.db.session() as session:
            from storage.models import ApiToken

            hashes = set((await session.execute(select(ApiToken.token_hash))).scalars())
        assert secret not in hashes
        assert hashlib.sha256(secret.encode()).hexdigest() in hashes

        # Rate limit per token: 429 with Retry-After, other tokens unaffected.
        app.doors.api.limiter = RateLimiter(rate=0.2, burst=2)
        statuses = [(await http.get(f"{base}/token", headers=_auth(secret))).status for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = await http.get(f"{base}/token", headers=_auth(secret))
        assert limited.status == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert (await _json(limited))["status"] == 429
        assert (await http.get(f"{base}/token", headers=_auth(admin))).status == 200


async def test_user_token_sees_only_its_users_channels(settings: Settings) -> None:
    async with slack_scenario(settings) as s, aiohttp.ClientSession() as http:
        app = s.app
        base = f"{app.url}/api/v1"
        alice = s.slack.add_user("alice")
        bob = s.slack.add_user("bob")
        ours = s.slack.add_channel("ours", members=[alice.id, bob.id])
        secret_channel = s.slack.add_channel("bobs-secret", members=[bob.id], private=True)
        await s.share(ours.id, bob.id, [("obama.jpg", face_photo(OBAMA))])
        await s.share(secret_channel.id, bob.id, [("biden.jpg", face_photo(BIDEN))])
        await app.idle()
        admin = await _token(app, ALL_SCOPES, channels=[ours.id, secret_channel.id])
        listed = await _json(
            await http.get(f"{base}/media", params={"q": "is:pending"}, headers=_auth(admin))
        )
        assert listed["total"] == 2
        for item in listed["items"]:
            approved = await http.post(f"{base}/media/{item['id']}/approve", headers=_auth(admin))
            assert approved.status == 200, await approved.text()
            assert (await _json(approved))["approval"]["state"] == "approved"
        by_channel = {item["channel_id"]: item["id"] for item in listed["items"]}

        alices = await _token(app, ["media:read", "media:write", "admin"], platform="slack", user_id=alice.id)
        found = await _json(await http.get(f"{base}/media", headers=_auth(alices)))
        assert [item["id"] for item in found["items"]] == [by_channel[ours.id]]
        assert found["items"][0]["links"]["thumbnail"]
        hidden = by_channel[secret_channel.id]
        for response in (
            await http.get(f"{base}/media/{hidden}", headers=_auth(alices)),
            await http.post(f"{base}/media/{hidden}/tags", headers=_auth(alices), json={"tags": ["x"]}),
            await http.delete(f"{base}/media/{hidden}", headers=_auth(alices)),
        ):
            assert response.status == 404
        named = await _json(
            await http.get(f"{base}/media", params={"q": f"in:<#{secret_channel.id}>"}, headers=_auth(alices))
        )
        assert named["items"] == []
        # Admin scope on a token does not make alice an admin: no approving, no pending media.
        assert (await http.post(f"{base}/media/{hidden}/approve", headers=_auth(alices))).status == 404
        pending = await http.get(f"{base}/media", params={"q": "is:pending"}, headers=_auth(alices))
        assert pending.status == 400
        # She cannot upload into bob's private channel either.
        refused = await http.post(
            f"{base}/uploads",
            headers=_auth(alices),
            json={"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 10, "channel_id": hidden},
        )
        assert refused.status == 403
        bobs = await _token(app, ["media:read"], platform="slack", user_id=bob.id)
        both = await _json(await http.get(f"{base}/media", headers=_auth(bobs)))
        assert both["total"] == 2
        # One media: tags, detail, then deletion by the admin token.
        visible = by_channel[ours.id]
        tagged = await http.post(
            f"{base}/media/{visible}/tags", headers=_auth(alices), json={"tags": ["#Offsite"]}
        )
        assert (await _json(tagged))["tags"] == ["offsite"]
        untagged = await http.delete(f"{base}/media/{visible}/tags/offsite", headers=_auth(alices))
        assert (await _json(untagged))["tags"] == []
        assert (await http.delete(f"{base}/media/{visible}", headers=_auth(alices))).status == 403
        assert (await http.delete(f"{base}/media/{visible}", headers=_auth(admin))).status == 204
        assert (await http.get(f"{base}/media/{visible}", headers=_auth(admin))).status == 404
        assert await app.ctx.store.list_keys(bucket=settings.bucket_approved, prefix=f"{visible}/") == []


async def test_direct_upload_to_s3(settings: Settings) -> None:
    async with run_app(settings) as app, aiohttp.ClientSession() as http:
        earlier = set(await app.ctx.store.list_keys(bucket=settings.bucket_pending))  # other tests' objects
        base = f"{app.url}/api/v1"
        secret = await _token(app, ALL_SCOPES, channels=["C-api"])
        photo = face_photo(OBAMA)
        media_id = await upload(http, app, secret, photo, channel="C-api", filename="obama.jpg", text="#team")
        await app.idle()
        detail = await _json(await http.get(f"{base}/media/{media_id}", headers=_auth(secret)))
        assert detail["approval"]["state"] == "pending"
        assert detail["kind"] == "photo"
        assert detail["size_bytes"] == len(photo)
        assert detail["filename"] == "obama.jpg"
        assert detail["tags"] == ["team"]
        [face] = detail["faces"]
        box = face["box"]
        assert 0 <= box["left"] < box["right"] <= detail["width"]
        assert 0 <= box["top"] < box["bottom"]
        assert detail["shares"][0]["channel_id"] == "C-api"

        approved = await _json(await http.post(f"{base}/media/{media_id}/approve", headers=_auth(secret)))
        links = approved["links"]
        thumb = await http.get(links["thumbnail"])
        assert thumb.status == 200
        assert (await thumb.read()).startswith(b"\xff\xd8")
        original = await http.get(links["original"])
        assert hashlib.sha256(await original.read()).hexdigest() == hashlib.sha256(photo).hexdigest()
        found = await _json(await http.get(f"{base}/media", params={"q": "#team"}, headers=_auth(secret)))
        assert [item["id"] for item in found["items"]] == [media_id]

        # Multipart (forced; above 64 MiB it is automatic) lands the same way.
        second = await upload(http, app, secret, face_photo(OBAMA_2), channel="C-api", multipart=True)
        # The same bytes again are the same media.
        again = await upload(http, app, secret, photo, channel="C-api")
        assert again == media_id
        await app.idle()
        async with app.ctx.db.session() as session:
            row = await session.get(Media, uuid.UUID(second))
            assert row is not None
            assert row.status == MediaStatus.pending

        # A complete call for bytes that never arrived, or are not a photo, fails cleanly.
        async def start(size: int, sha: str | None = None) -> dict[str, Any]:
            body: dict[str, Any] = {
                "filename": "x.jpg",
                "content_type": "image/jpeg",
                "size_bytes": size,
                "channel_id": "C-api",
            }
            if sha:
                body["sha256"] = sha
            response = await http.post(f"{base}/uploads", headers=_auth(secret), json=body)
            assert response.status == 201
            return dict(await _json(response))

        never = await start(100)
        nothing = await http.post(f"{base}/uploads/{never['upload_id']}/complete", headers=_auth(secret))
        assert nothing.status == 409
        assert nothing.headers["Content-Type"].startswith("application/problem+json")
        text = b"just some text, not a photo\n" * 10
        fake = await start(len(text))
        assert (await http.put(fake["url"], data=text, headers=fake["headers"])).status == 200
        refused = await http.post(f"{base}/uploads/{fake['upload_id']}/complete", headers=_auth(secret))
        assert refused.status == 422
        assert "not a photo" in (await _json(refused))["detail"]
        async with app.ctx.db.session() as session:
            refused_upload = await session.get(Upload, uuid.UUID(fake["upload_id"]))
        assert refused_upload is not None
        assert await app.ctx.store.head(bucket=settings.bucket_pending, key=refused_upload.key) is None
        wrong_sum = await start(len(photo), sha="0" * 64)
        await http.put(wrong_sum["url"], data=photo, headers=wrong_sum["headers"])
        mismatch = await http.post(f"{base}/uploads/{wrong_sum['upload_id']}/complete", headers=_auth(secret))
        assert mismatch.status == 422
        assert "SHA-256" in (await _json(mismatch))["detail"]
        short = await start(len(photo) + 1)
        await http.put(short["url"], data=photo, headers=short["headers"])
        assert (
            await http.post(f"{base}/uploads/{short['upload_id']}/complete", headers=_auth(secret))
        ).status == 422
        other = await _token(app, ["media:write"], channels=["C-api"])
        stolen = await http.post(f"{base}/uploads/{never['upload_id']}/complete", headers=_auth(other))
        assert stolen.status == 404
        async with app.ctx.db.session() as session:
            count = len((await session.execute(select(Media.id))).scalars().all())
        assert count == 2
        # Only the processed multipart upload waits in the pending bucket: refused bytes were deleted.
        pending = set(await app.ctx.store.list_keys(bucket=settings.bucket_pending)) - earlier
        assert {k for k in pending if k.endswith("/original")} == {f"{second}/original"}


async def test_people_rename_merge_split_link(settings: Settings) -> None:
    async with run_app(settings) as app, aiohttp.ClientSession() as http:
        base = f"{app.url}/api/v1"
        secret = await _token(app, ALL_SCOPES, channels=["C-api"])
        first = await upload(http, app, secret, face_photo(OBAMA), channel="C-api")
        second = await upload(http, app, secret, face_photo(OBAMA_2), channel="C-api")
        await app.idle()
        faces = []
        for media_id in (first, second):
            detail = await _json(await http.get(f"{base}/media/{media_id}", headers=_auth(secret)))
            faces.append(detail["faces"][0]["id"])
        # An unknown face has nobody to split from.
        assert (await http.post(f"{base}/faces/{faces[0]}/split", headers=_auth(secret))).status == 409
        # Name both as new people by splitting them off... via identify-less split: give names.
        from handlers.faces import identify
        from handlers.ports import Actor

        await identify(
            app.ctx,
            face_id=uuid.UUID(faces[0]),
            platform="slack",
            user_id="U1",
            name="Barack",
            actor=Actor("slack", "U9"),
        )
        split = await _json(
            await http.post(f"{base}/faces/{faces[0]}/split", headers=_auth(secret), json={"name": "Obama"})
        )
        obama = split["person"]
        assert split["state"] == "confirmed"
        assert obama["name"] == "Obama"
        assert obama["confirmed_faces"] == 1
        people = await _json(await http.get(f"{base}/people", headers=_auth(secret)))
        barack = next(p for p in people["people"] if p["name"] == "Barack")
        assert barack["slack_user_id"] == "U1"
        assert barack["confirmed_faces"] == 0
        renamed = await http.patch(
            f"{base}/people/{obama['id']}", headers=_auth(secret), json={"name": "Barack Obama"}
        )
        assert (await _json(renamed))["name"] == "Barack Obama"
        merged = await _json(
            await http.post(
                f"{base}/people/{obama['id']}/merge", headers=_auth(secret), json={"person_id": barack["id"]}
            )
        )
        assert merged["slack_user_id"] == "U1"
        assert merged["confirmed_faces"] == 1
        assert (await http.get(f"{base}/people/{barack['id']}", headers=_auth(secret))).status == 404
        linked = await http.put(
            f"{base}/people/{obama['id']}/identities/teams", headers=_auth(secret), json={"user_id": "aad-1"}
        )
        assert (await _json(linked))["teams_aad_id"] == "aad-1"
        page = await _json(await http.get(f"{base}/people", params={"limit": "1"}, headers=_auth(secret)))
        assert len(page["people"]) == 1


async def test_token_cli_create_list_revoke(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner, Result

    from bot import logs
    from bot.cli import app as cli

    monkeypatch.setattr(logs, "configure", lambda **_: None)
    env = {"DATABASE_URL": str(settings.database_url), "FACETAG_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    async with run_app(settings, worker=False) as app, aiohttp.ClientSession() as http:
        made = await asyncio.to_thread(
            invoke,
            "token",
            "create",
            "--name",
            "kiosk",
            "--scope",
            "media:read,people:read",
            "--channel",
            "C1",
        )
        assert made.exit_code == 0, made.output
        secret = made.stdout.strip().splitlines()[-1]
        assert secret.startswith("ft_")
        me = await _json(await http.get(f"{app.url}/api/v1/token", headers=_auth(secret)))
        assert me["scopes"] == ["media:read", "people:read"] and me["channels"] == ["C1"]
        listed = await asyncio.to_thread(invoke, "token", "list")
        assert me["id"] in listed.stdout and secret not in listed.stdout
        bad = await asyncio.to_thread(
            invoke, "token", "create", "--name", "x", "--scope", "everything", "--channel", "C1"
        )
        assert bad.exit_code == 2
        revoked = await asyncio.to_thread(invoke, "token", "revoke", me["id"])
        assert revoked.exit_code == 0, revoked.output
        assert (await http.get(f"{app.url}/api/v1/token", headers=_auth(secret))).status == 401
