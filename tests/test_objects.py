"""ObjectStore against the session's real SeaweedFS."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from storage.embedded import S3Endpoint
from storage.objects import (
    MiB,
    ObjectMissing,
    ObjectStore,
    ObjectStoreError,
    ObjectTooLarge,
    UploadedPart,
    signs_payload,
)
from tests.support.stack import open_store


def _key(name: str = "obj") -> str:
    return f"{uuid.uuid4().hex}/{name}"


async def _chunks(
    total: int, *, chunk: int = 256 * 1024, fail_after: int | None = None
) -> AsyncIterator[bytes]:
    """Deterministic pseudo-random bytes, `chunk` at a time; optionally raise part-way."""
    block = hashlib.sha256(b"seed").digest() * (chunk // 32)
    sent = 0
    counter = 0
    while sent < total:
        if fail_after is not None and sent >= fail_after:
            raise RuntimeError("source broke")
        piece = (counter.to_bytes(8, "big") + block)[: min(chunk, total - sent)]
        counter += 1
        sent += len(piece)
        yield piece


async def _expected(total: int, **kwargs: int) -> tuple[bytes, str]:
    data = b"".join([piece async for piece in _chunks(total, **kwargs)])
    return data, hashlib.sha256(data).hexdigest()


async def _read(store: ObjectStore, bucket: str, key: str, **kwargs: int) -> bytes:
    return b"".join([chunk async for chunk in store.get_stream(bucket=bucket, key=key, **kwargs)])


async def test_small_stream_is_one_put(store: ObjectStore, bucket: str) -> None:
    key = _key("small.jpg")
    data, digest = await _expected(100_000)
    stored = await store.put_stream(
        bucket=bucket, key=key, chunks=_chunks(100_000), content_type="image/jpeg", max_bytes=1 * MiB
    )
    assert (stored.size, stored.sha256, stored.content_type) == (len(data), digest, "image/jpeg")
    info = await store.head(bucket=bucket, key=key)
    assert info is not None
    assert info.size == len(data)
    assert info.content_type == "image/jpeg"
    assert await store.get_bytes(bucket=bucket, key=key) == data
    assert await store.pending_uploads(bucket=bucket, prefix=key) == []


async def test_large_stream_is_multipart(store: ObjectStore, bucket: str) -> None:
    key = _key("video.mp4")
    total = 20 * MiB + 123
    data, digest = await _expected(total, chunk=3 * MiB)
    stored = await store.put_stream(
        bucket=bucket,
        key=key,
        chunks=_chunks(total, chunk=3 * MiB),
        content_type="video/mp4",
        max_bytes=total,
    )
    assert stored.size == total
    assert stored.sha256 == digest
    assert hashlib.sha256(await _read(store, bucket, key)).hexdigest() == digest
    info = await store.head(bucket=bucket, key=key)
    assert info is not None
    assert info.size == total
    assert info.content_type == "video/mp4"
    assert data[:10] == await _read(store, bucket, key, start=0, end=9)


async def test_put_bytes_and_download(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    key = _key("thumb.jpg")
    stored = await store.put_bytes(bucket=bucket, key=key, data=b"jpeg" * 1000, content_type="image/jpeg")
    assert stored.sha256 == hashlib.sha256(b"jpeg" * 1000).hexdigest()
    target = tmp_path / "thumb.jpg"
    assert await store.download(bucket=bucket, key=key, path=target) == 4000
    assert target.read_bytes() == b"jpeg" * 1000
    with pytest.raises(ObjectMissing):
        await store.download(bucket=bucket, key=_key(), path=tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    ("endpoint", "signed"),
    [
        (None, False),  # AWS: https
        ("https://minio.internal:9000", False),
        ("http://127.0.0.1:8333", False),
        ("http://[::1]:8333", False),
        ("http://localhost:8333", False),
        ("http://minio.internal:9000", True),
        ("http://10.0.0.5:9000", True),
    ],
)
def test_body_hash_is_signed_only_over_plain_http_to_another_host(endpoint: str | None, signed: bool) -> None:
    assert signs_payload(endpoint) is signed


async def test_loopback_uploads_send_an_unsigned_payload(store: ObjectStore, bucket: str) -> None:
    seen: list[bytes] = []

    def capture(request: object, **_: object) -> None:
        seen.append(request.headers["X-Amz-Content-SHA256"])  # type: ignore[attr-defined]

    store._client.meta.events.register("before-send.s3.PutObject", capture)
    try:
        await store.put_bytes(bucket=bucket, key=_key(), data=b"x" * 1000, content_type="image/jpeg")
    finally:
        store._client.meta.events.unregister("before-send.s3.PutObject", capture)
    assert seen == [b"UNSIGNED-PAYLOAD"]


@pytest.mark.parametrize("total", [3 * MiB, 20 * MiB])
async def test_too_large_aborts_and_leaves_nothing(store: ObjectStore, bucket: str, total: int) -> None:
    key = _key("big.bin")
    with pytest.raises(ObjectTooLarge):
        await store.put_stream(
            bucket=bucket,
            key=key,
            chunks=_chunks(total),
            content_type="application/octet-stream",
            max_bytes=total - 1,
        )
    assert await store.head(bucket=bucket, key=key) is None
    assert await store.pending_uploads(bucket=bucket, prefix=key) == []
    assert await store.list_keys(bucket=bucket, prefix=key.split("/")[0]) == []


async def test_failing_source_aborts_multipart(store: ObjectStore, bucket: str) -> None:
    key = _key("broken.bin")
    with pytest.raises(RuntimeError, match="source broke"):
        await store.put_stream(
            bucket=bucket,
            key=key,
            chunks=_chunks(30 * MiB, fail_after=17 * MiB),
            content_type="application/octet-stream",
            max_bytes=100 * MiB,
        )
    assert await store.head(bucket=bucket, key=key) is None
    assert await store.pending_uploads(bucket=bucket, prefix=key) == []


async def test_ranged_reads(store: ObjectStore, bucket: str) -> None:
    key = _key()
    data = bytes(range(256)) * 100
    await store.put_bytes(bucket=bucket, key=key, data=data, content_type="application/octet-stream")
    assert await _read(store, bucket, key, start=10, end=19) == data[10:20]
    assert await _read(store, bucket, key, start=25_000) == data[25_000:]
    assert await _read(store, bucket, key, end=4) == data[:5]
    assert await _read(store, bucket, key, chunk_size=1000) == data
    with pytest.raises(ValueError, match="invalid byte range"):
        await _read(store, bucket, key, start=5, end=4)


async def test_missing_objects(store: ObjectStore, bucket: str) -> None:
    key = _key()
    assert await store.head(bucket=bucket, key=key) is None
    with pytest.raises(ObjectMissing):
        await store.get_bytes(bucket=bucket, key=key)
    with pytest.raises(ObjectMissing):
        await _read(store, bucket, key)
    with pytest.raises(ObjectMissing):
        await store.copy(src_bucket=bucket, key=key, dst_bucket=bucket, dst_key=_key())
    with pytest.raises(ObjectMissing, match="bucket"):
        await store.get_bytes(bucket="no-such-bucket-here", key=key)
    await store.delete(bucket=bucket, key=key)  # deleting a missing object is fine


async def test_get_bytes_refuses_large_objects(store: ObjectStore, bucket: str) -> None:
    key = _key()
    await store.put_bytes(bucket=bucket, key=key, data=b"x" * 2000, content_type="text/plain")
    with pytest.raises(ObjectTooLarge):
        await store.get_bytes(bucket=bucket, key=key, max_bytes=1000)


async def test_copy_head_delete(store: ObjectStore, bucket: str) -> None:
    key = _key("photo.jpg")
    await store.put_bytes(bucket=bucket, key=key, data=b"photo", content_type="image/jpeg")
    await store.ensure_buckets(["facetag-approved"])
    await store.copy(src_bucket=bucket, key=key, dst_bucket="facetag-approved")
    copied = await store.head(bucket="facetag-approved", key=key)
    assert copied is not None
    assert copied.size == 5
    assert copied.content_type == "image/jpeg"
    renamed = _key("renamed.jpg")
    await store.copy(src_bucket=bucket, key=key, dst_bucket=bucket, dst_key=renamed)
    assert await store.get_bytes(bucket=bucket, key=renamed) == b"photo"
    await store.delete(bucket="facetag-approved", key=key)
    assert await store.head(bucket="facetag-approved", key=key) is None
    assert await store.head(bucket=bucket, key=key) is not None


async def test_multipart_copy_of_big_objects(s3: S3Endpoint, bucket: str) -> None:
    """Objects above the single-copy limit are copied part by part (limit lowered for the test)."""
    async with open_store(s3, max_single_copy=6 * MiB, copy_part_size=5 * MiB) as store:
        key, total = _key("big.mov"), 12 * MiB + 7
        stored = await store.put_stream(
            bucket=bucket, key=key, chunks=_chunks(total), content_type="video/quicktime", max_bytes=total
        )
        await store.copy(src_bucket=bucket, key=key, dst_bucket=bucket, dst_key=key + ".copy")
        info = await store.head(bucket=bucket, key=key + ".copy")
        assert info is not None
        assert info.size == total
        assert info.content_type == "video/quicktime"
        assert hashlib.sha256(await _read(store, bucket, key + ".copy")).hexdigest() == stored.sha256


async def test_list_and_delete_prefix(store: ObjectStore, bucket: str) -> None:
    prefix = f"{uuid.uuid4().hex}/"
    keys = sorted(f"{prefix}{i:03d}" for i in range(25))
    await asyncio.gather(
        *(store.put_bytes(bucket=bucket, key=k, data=b"x", content_type="text/plain") for k in keys)
    )
    await store.put_bytes(
        bucket=bucket, key=prefix.rstrip("/") + "-other", data=b"y", content_type="text/plain"
    )
    assert await store.list_keys(bucket=bucket, prefix=prefix) == keys
    assert await store.delete_prefix(bucket=bucket, prefix=prefix) == 25
    assert await store.list_keys(bucket=bucket, prefix=prefix) == []
    assert await store.head(bucket=bucket, key=prefix.rstrip("/") + "-other") is not None
    with pytest.raises(ValueError, match="non-empty"):
        await store.delete_prefix(bucket=bucket, prefix="")


async def test_ensure_buckets_is_idempotent(store: ObjectStore) -> None:
    await store.ensure_buckets(["facetag-pending", "facetag-pending"])
    await store.ping(bucket="facetag-pending")
    await store.ping()


async def test_presigned_get_expires(store: ObjectStore, bucket: str) -> None:
    """SeaweedFS really enforces X-Amz-Expires (checked, not assumed)."""
    key = _key("photo.jpg")
    await store.put_bytes(bucket=bucket, key=key, data=b"hello", content_type="image/jpeg")
    url = await store.presign_get(bucket=bucket, key=key, ttl=1)
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200
            assert await response.read() == b"hello"
        await asyncio.sleep(2.2)
        async with http.get(url) as response:
            assert response.status == 403


async def test_presigned_get_sets_filename(store: ObjectStore, bucket: str) -> None:
    key = _key()
    await store.put_bytes(bucket=bucket, key=key, data=b"hello", content_type="image/jpeg")
    url = await store.presign_get(bucket=bucket, key=key, ttl=60, filename='Ünïcode "beach".jpg')
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''%C3%9Cn%C3%AFcode%20_beach_.jpg" in disposition


async def test_presigned_put_checks_content_type(store: ObjectStore, bucket: str) -> None:
    key = _key("upload.png")
    url = await store.presign_put(bucket=bucket, key=key, ttl=60, content_type="image/png")
    async with aiohttp.ClientSession() as http:
        async with http.put(url, data=b"png!", headers={"Content-Type": "image/jpeg"}) as response:
            assert response.status == 403
        async with http.put(url, data=b"png!", headers={"Content-Type": "image/png"}) as response:
            assert response.status == 200
    info = await store.head(bucket=bucket, key=key)
    assert info is not None
    assert info.size == 4
    assert info.content_type == "image/png"
    with pytest.raises(ValueError, match="ttl"):
        await store.presign_put(bucket=bucket, key=key, ttl=0, content_type="image/png")


async def test_presigned_multipart_upload(store: ObjectStore, bucket: str) -> None:
    key = _key("direct.mp4")
    first, second = os.urandom(5 * MiB), os.urandom(1000)
    upload_id = await store.create_multipart(bucket=bucket, key=key, content_type="video/mp4")
    parts = []
    async with aiohttp.ClientSession() as http:
        for number, body in ((1, first), (2, second)):
            url = await store.presign_part(
                bucket=bucket, key=key, upload_id=upload_id, part_number=number, ttl=60
            )
            async with http.put(url, data=body) as response:
                assert response.status == 200
                parts.append(UploadedPart(part_number=number, etag=response.headers["ETag"]))
    assert [u.upload_id for u in await store.pending_uploads(bucket=bucket, prefix=key)] == [upload_id]
    await store.complete_multipart(bucket=bucket, key=key, upload_id=upload_id, parts=parts[::-1])
    info = await store.head(bucket=bucket, key=key)
    assert info is not None
    assert info.size == len(first) + len(second)
    assert info.content_type == "video/mp4"
    assert await _read(store, bucket, key, start=len(first)) == second

    abandoned = await store.create_multipart(bucket=bucket, key=key + ".2", content_type="video/mp4")
    await store.abort_multipart(bucket=bucket, key=key + ".2", upload_id=abandoned)
    await store.abort_multipart(bucket=bucket, key=key + ".2", upload_id=abandoned)  # idempotent
    assert await store.pending_uploads(bucket=bucket, prefix=key + ".2") == []


async def test_wrong_secret_is_a_plain_error(s3: S3Endpoint, bucket: str) -> None:
    wrong = S3Endpoint(url=s3.url, access_key=s3.access_key, secret_key="not-the-secret", region=s3.region)
    async with open_store(wrong) as store:
        with pytest.raises(ObjectStoreError, match=r"denied \(SignatureDoesNotMatch\)") as listing:
            await store.ping()
        with pytest.raises(ObjectStoreError, match=r"denied \(403\)") as heading:
            await store.head(bucket=bucket, key="anything")
    for caught in (listing, heading):
        assert "not-the-secret" not in str(caught.value)
    assert "not-the-secret" not in repr(wrong)


async def test_unreachable_store_is_a_plain_error() -> None:
    dead = S3Endpoint(url="http://127.0.0.1:9", access_key="a", secret_key="b")
    async with open_store(dead, max_attempts=1) as store:
        with pytest.raises(ObjectStoreError, match="unavailable"):
            await store.ping()
        with pytest.raises(ObjectStoreError, match="unavailable"):
            await store.put_bytes(bucket="facetag-pending", key="k", data=b"x", content_type="text/plain")


@pytest.mark.slow
async def test_200mb_stream_keeps_memory_bounded(store: ObjectStore, bucket: str) -> None:
    """A 200 MB upload from an async generator grows the test process's RSS by less than 50 MB."""
    total = 200 * 1024 * 1024
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = baseline
    digest = hashlib.sha256()

    async def source() -> AsyncIterator[bytes]:
        async for piece in _chunks(total, chunk=1 * MiB):
            digest.update(piece)
            yield piece

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    key = _key("huge.bin")
    try:
        stored = await store.put_stream(
            bucket=bucket, key=key, chunks=source(), content_type="application/octet-stream", max_bytes=total
        )
        read_back = hashlib.sha256()
        async for chunk in store.get_stream(bucket=bucket, key=key):
            read_back.update(chunk)
    finally:
        sampler.cancel()
    assert stored.size == total
    assert stored.sha256 == digest.hexdigest() == read_back.hexdigest()
    growth = (peak - baseline) / MiB
    print(f"200 MB put+get: RSS grew by {growth:.1f} MiB")
    assert growth < 50, f"RSS grew by {growth:.1f} MiB"
    await store.delete(bucket=bucket, key=key)
