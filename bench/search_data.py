"""Synthetic library for `bench.search`: real dlib embeddings, perturbed into many faces, bulk-loaded.

Embeddings: every image of identities.csv (largest face) and every face of the group photos is embedded
with `DlibEngine` (about 160 real faces). A synthetic *identity* is a random blend of two real faces plus
gaussian noise (two identities are 0.10 / 0.19 / 0.25 apart in cosine distance at the 1st / 50th / 95th
percentile; real impostor pairs: 0.11 / 0.18 / 0.25), and each *face* is an identity plus smaller noise
(median 0.025 between two faces of one identity, like real genuine pairs: 0.012-0.048, median 0.025).
Every vector is L2-normalised float32.

Loading uses COPY in binary format on the raw asyncpg connection (vectors pre-encoded as pgvector's binary
send format), with the faces' HNSW indexes dropped during the load and rebuilt afterwards in parallel.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import DATA_DIR, group_photos, identity_images, load_rgb
from storage.models import EMBEDDING_DIM

Vectors = npt.NDArray[np.float32]

IDENTITY_SIGMA = 0.025  # per-dimension noise on a blend of two real faces: a synthetic identity
FACE_SIGMA = 0.014  # per-dimension noise from an identity to one of its faces (~0.0125 cosine)
START = datetime(2022, 1, 1, tzinfo=UTC)
END = datetime(2025, 6, 30, tzinfo=UTC)
BUILD_SETTINGS = ("SET maintenance_work_mem = '4GB'", "SET max_parallel_maintenance_workers = 2")

FIRST = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "xena",
    "yusuf",
    "zoe",
    "amir",
    "bea",
    "chen",
    "dana",
    "eli",
    "fatima",
    "gus",
    "hana",
    "igor",
    "jin",
    "kofi",
    "lena",
    "marco",
    "nora",
    "omar",
    "priya",
    "quinn",
    "rosa",
    "sam",
    "tara",
    "uma",
    "vera",
    "wen",
    "xavier",
    "yara",
    "zane",
    "anya",
    "bruno",
    "clara",
    "diego",
    "elsa",
    "farid",
    "gita",
]
LAST = [
    "smith",
    "jones",
    "garcia",
    "muller",
    "rossi",
    "tanaka",
    "kim",
    "nguyen",
    "silva",
    "novak",
    "ivanova",
    "cohen",
    "haddad",
    "okafor",
    "larsen",
    "dubois",
    "moreau",
    "schmidt",
    "kowalski",
    "horvat",
    "popescu",
    "yilmaz",
    "khan",
    "patel",
    "singh",
    "wong",
    "lee",
    "park",
    "costa",
    "santos",
    "ferreira",
    "jensen",
    "berg",
    "lind",
    "virtanen",
    "murphy",
    "kelly",
    "walsh",
    "byrne",
]
TAGS_BASE = [
    "offsite",
    "team",
    "party",
    "beach",
    "hike",
    "launch",
    "demo",
    "hackathon",
    "dinner",
    "lunch",
    "retreat",
    "conference",
    "workshop",
    "kickoff",
    "birthday",
    "farewell",
    "welcome",
    "summer",
    "winter",
    "christmas",
    "holiday",
    "office",
    "garden",
    "ski",
    "football",
    "bbq",
    "pizza",
    "award",
    "meetup",
    "training",
    "wedding",
    "baby",
    "pets",
    "dogs",
    "cats",
    "sunset",
    "city",
    "travel",
    "food",
    "coffee",
    "board",
    "sales",
    "marketing",
    "engineering",
    "design",
    "support",
    "finance",
    "hr",
    "legal",
    "ops",
    "product",
]
WORDS = [
    "fun",
    "great",
    "day",
    "with",
    "the",
    "team",
    "at",
    "our",
    "first",
    "last",
    "new",
    "old",
    "big",
    "small",
    "trip",
    "view",
    "night",
    "morning",
]


# ---------------------------------------------------------------------------------------------- vectors


def real_embeddings(*, data_dir: Path = DATA_DIR, cache: Path | None = None) -> Vectors:
    """One embedding per single-face identity image (largest face) and per group-photo face."""
    if cache is not None and cache.exists():
        loaded: Vectors = np.load(cache).astype(np.float32)
        return loaded
    from processing.faces import DlibEngine

    engine = DlibEngine()
    engine.warm_up()
    out: list[npt.NDArray[np.float32]] = []
    seen: set[str] = set()
    for item in identity_images(data_dir=data_dir):
        digest = hashlib.sha256(item.path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        image = load_rgb(item.path)
        faces = engine.analyze(image)
        out.append(
            max(faces, key=lambda f: f.box.area).embedding if faces else engine.analyze_crop(image).embedding
        )
    for photo in group_photos(data_dir=data_dir):
        out += [face.embedding for face in engine.analyze(load_rgb(photo.path))]
    vectors = np.stack(out).astype(np.float32)
    if cache is not None:
        np.save(cache, vectors)
    return vectors


def normalised(x: npt.NDArray[np.floating[Any]]) -> Vectors:
    out: Vectors = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def perturb(centres: Vectors, sigma: float, rng: np.random.Generator) -> Vectors:
    """`centres` plus gaussian noise of `sigma` per dimension, renormalised (float64 noise, float32 out)."""
    return normalised(centres.astype(np.float64) + rng.normal(0.0, sigma, centres.shape))


def identities(real: Vectors, n: int, rng: np.random.Generator) -> Vectors:
    """`n` synthetic people: a random blend of two real faces plus noise, renormalised."""
    w = rng.uniform(0.0, 1.0, (n, 1))
    pick = rng.integers(0, len(real), (n, 2))
    blend = w * real[pick[:, 0]].astype(np.float64) + (1.0 - w) * real[pick[:, 1]]
    return normalised(blend + rng.normal(0.0, IDENTITY_SIGMA, blend.shape))


def cosine_stats(
    vectors: Vectors, owner: npt.NDArray[np.int64], rng: np.random.Generator
) -> tuple[float, float]:
    """Median cosine distance between two faces of one identity and of two different identities."""
    a, b = rng.integers(0, len(vectors), 20000), rng.integers(0, len(vectors), 20000)
    d = 1.0 - np.einsum("ij,ij->i", vectors[a], vectors[b])
    same = owner[a] == owner[b]
    # pairs of the same identity are rare among random pairs: draw them explicitly
    order = np.argsort(owner, kind="stable")
    sorted_owner = owner[order]
    neighbours = order[1:][sorted_owner[1:] == sorted_owner[:-1]]
    previous = order[:-1][sorted_owner[1:] == sorted_owner[:-1]]
    genuine = 1.0 - np.einsum("ij,ij->i", vectors[neighbours], vectors[previous])
    return float(np.median(genuine)), float(np.median(d[~same]))


_VECTOR_HEADER = struct.pack(">HH", EMBEDDING_DIM, 0)


def vector_binary(vectors: Vectors) -> list[bytes]:
    """pgvector's binary wire format (dim, unused, big-endian float4s), one bytes per row."""
    big = np.ascontiguousarray(vectors, dtype=">f4")
    return [_VECTOR_HEADER + row.tobytes() for row in big]


async def raw_copy(
    engine: AsyncEngine, table: str, columns: Sequence[str], records: Sequence[tuple[Any, ...]]
) -> None:
    """COPY `records` (binary) into `table` on the engine's raw asyncpg connection; vectors as bytes."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.set_type_codec(
            "vector", schema="public", encoder=lambda b: b, decoder=lambda b: b, format="binary"
        )
        await driver.copy_records_to_table(table, records=records, columns=list(columns))
        await conn.invalidate()  # the codec must not leak into the application's connections


# ---------------------------------------------------------------------------------------------- library


@dataclass(frozen=True, slots=True)
class PersonInfo:
    name: str  # "Alice Smith"
    slack_user_id: str | None


@dataclass(frozen=True, slots=True)
class Library:
    """What was loaded, to build realistic queries from."""

    media: int
    faces: int
    people: list[PersonInfo]
    channels: list[tuple[str, str]]  # (id, name), most popular first
    tags: list[str]
    uploaders: list[str]
    state_counts: dict[str, int]
    genuine_median: float
    impostor_median: float


def _zipf_weights(n: int, s: float = 1.0) -> npt.NDArray[np.float64]:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def tag_vocabulary(n: int = 300) -> list[str]:
    vocab = list(TAGS_BASE)
    year = 2019
    while len(vocab) < n:
        vocab += [f"{t}-{year}" for t in TAGS_BASE[: n - len(vocab)]]
        year += 1
    return vocab[:n]


def people_names(n: int, rng: np.random.Generator) -> list[str]:
    pairs = [f"{f.title()} {last.title()}" for f in FIRST for last in LAST]
    rng.shuffle(pairs)
    return pairs[:n]


async def load_library(
    engine: AsyncEngine,
    *,
    real: Vectors,
    channels: list[tuple[str, str]],
    media: int,
    faces: int,
    people: int,
    seed: int = 4,
    log: Any = print,
) -> Library:
    """Generate and COPY people, media, sightings, faces and tags (Slack platform)."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()

    # people: named identities (some linked to Slack users) + strangers who only appear as unknown faces
    names = people_names(people, rng)
    person_ids = [uuid.uuid4() for _ in names]
    slack_ids = [f"U{100000 + i:07d}" if rng.random() < 0.6 else None for i in range(people)]
    strangers = max(people // 2, 1)
    centres = identities(real, people + strangers, rng)
    uploaders = [f"U{100000 + i:07d}" for i in range(0, people, max(people // 500, 1))][:500]

    # media
    span = (END - START).total_seconds()
    created_s = np.sort(span * rng.power(1.6, media))  # growth: more media lately
    created = [START + timedelta(seconds=float(s)) for s in created_s]
    kinds = np.where(rng.random(media) < 0.08, "video", "photo")
    status_draw = rng.random(media)
    statuses = np.select([status_draw < 0.92, status_draw < 0.97], ["approved", "pending"], "failed")
    tag_vocab = tag_vocabulary()
    media_ids = [uuid.uuid4() for _ in range(media)]
    media_rows: list[tuple[Any, ...]] = []
    for i, mid in enumerate(media_ids):
        video = kinds[i] == "video"
        status = str(statuses[i])
        taken = created[i] - timedelta(days=float(rng.exponential(20.0))) if rng.random() < 0.7 else None
        processed = created[i] + timedelta(seconds=5) if status != "failed" else None
        bucket = "facetag-approved" if status == "approved" else "facetag-pending"
        media_rows.append(
            (
                mid,
                hashlib.sha256(mid.bytes).hexdigest(),
                str(kinds[i]),
                "video/mp4" if video else "image/jpeg",
                int(rng.integers(200_000, 80_000_000 if video else 8_000_000)),
                f"{'VID' if video else 'IMG'}_{i:06d}.{'mp4' if video else 'jpg'}",
                4000,
                3000,
                float(rng.uniform(3, 300)) if video else None,
                taken,
                "Pixel 8" if rng.random() < 0.5 else "iPhone 15",
                status,
                bucket,
                "decode failed" if status == "failed" else None,
                "{}",
                created[i],
                processed,
                processed if status == "approved" else None,
                "U0000001" if status == "approved" else None,
            )
        )
    await raw_copy(
        engine,
        "media",
        [
            "id",
            "sha256",
            "kind",
            "mime",
            "size_bytes",
            "filename",
            "width",
            "height",
            "duration_s",
            "taken_at",
            "camera",
            "status",
            "bucket",
            "error",
            "info",
            "created_at",
            "processed_at",
            "approved_at",
            "approved_by",
        ],
        media_rows,
    )

    # people
    await raw_copy(
        engine,
        "people",
        ["id", "display_name", "slack_user_id", "created_at"],
        [(pid, name, sid, START) for pid, name, sid in zip(person_ids, names, slack_ids, strict=True)],
    )

    # sightings: one per media, 10% shared again elsewhere; popular channels get most
    channel_p = _zipf_weights(len(channels), 0.9)
    uploader_p = _zipf_weights(len(uploaders), 0.8)
    channel_draw = rng.choice(len(channels), (media, 2), p=channel_p)
    uploader_draw = rng.choice(len(uploaders), (media, 2), p=uploader_p)
    again = rng.random(media) < 0.1
    sighting_rows: list[tuple[Any, ...]] = []
    for i, mid in enumerate(media_ids):
        for copy in range(2 if again[i] else 1):
            cid, cname = channels[int(channel_draw[i, copy])]
            words = " ".join(rng.choice(WORDS, int(rng.integers(0, 6))))
            if rng.random() < 0.3:
                words += " " + tag_vocab[int(rng.integers(0, 60))]
            user = uploaders[int(uploader_draw[i, copy])]
            ts = f"{created[i].timestamp():.6f}"
            sighting_rows.append(
                (
                    uuid.uuid4(),
                    mid,
                    "slack",
                    "T0000001",
                    cid,
                    cname,
                    False,
                    f"F{i:08d}{copy}",
                    user,
                    words.strip(),
                    media_rows[i][5],
                    ts,
                    ts,
                    None,
                    "{}",
                    False,
                    created[i] + timedelta(seconds=copy * 3600),
                )
            )
    await raw_copy(
        engine,
        "sightings",
        [
            "id",
            "media_id",
            "platform",
            "workspace_id",
            "channel_id",
            "channel_name",
            "channel_private",
            "file_id",
            "user_id",
            "text",
            "filename",
            "message_ref",
            "thread_ref",
            "reply_ref",
            "conversation",
            "error_reported",
            "created_at",
        ],
        sighting_rows,
    )

    # tags: half the media carry 1-3 tags, popular tags much more often
    tag_p = _zipf_weights(len(tag_vocab), 1.0)
    tag_rows: list[tuple[Any, ...]] = []
    for i, mid in enumerate(media_ids):
        if rng.random() < 0.5:
            for tag in set(rng.choice(tag_vocab, int(rng.integers(1, 4)), p=tag_p)):
                tag_rows.append((mid, str(tag), "U0000002", created[i]))
    await raw_copy(engine, "tags", ["media_id", "tag", "added_by", "created_at"], tag_rows)

    # faces: about faces/media per media (Poisson), 70% of a named person, the rest strangers
    face_media = np.sort(rng.integers(0, media, faces))
    named = rng.random(faces) < 0.7
    person_p = _zipf_weights(people, 0.7)
    owner = np.where(
        named, rng.choice(people, faces, p=person_p), people + rng.integers(0, strangers, faces)
    ).astype(np.int64)
    vectors = perturb(centres[owner], FACE_SIGMA, rng)
    genuine, impostor = cosine_stats(vectors, owner, rng)
    encoded = vector_binary(vectors)
    state_draw = rng.random(faces)
    cluster_ids = [uuid.uuid4() for _ in range(strangers)]
    counts = {"confirmed": 0, "suggested": 0, "unknown": 0}
    face_rows: list[tuple[Any, ...]] = []
    ordinal = 0
    for f in range(faces):
        m = int(face_media[f])
        ordinal = ordinal + 1 if f and face_media[f - 1] == m else 0
        who = int(owner[f])
        if who < people and state_draw[f] < 0.55:
            state = "confirmed"
        elif who < people and state_draw[f] < 0.8:
            state = "suggested"
        else:
            state = "unknown"
        counts[state] += 1
        person = person_ids[who] if state != "unknown" else None
        cluster = cluster_ids[who - people] if who >= people and state_draw[f] < 0.5 else None
        face_rows.append(
            (
                uuid.uuid4(),
                media_ids[m],
                ordinal,
                [100 * ordinal, 100, 100 * ordinal + 90, 190],
                0.9,
                float(state_draw[f]),
                encoded[f],
                state,
                person,
                0.05 if state == "suggested" else None,
                cluster,
                "U0000003" if state == "confirmed" else None,
                created[m] if state == "confirmed" else None,
                f"{media_ids[m]}/face_{ordinal}.jpg",
                json.dumps([[1.0, 4.5]]) if kinds[m] == "video" else None,
                created[m],
            )
        )
    async with engine.begin() as conn:
        hnsw = (
            await conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes"
                    " WHERE tablename = 'faces' AND indexdef ILIKE '%hnsw%'"
                )
            )
        ).all()
        for name, _ in hnsw:
            await conn.execute(text(f'DROP INDEX "{name}"'))
    await raw_copy(
        engine,
        "faces",
        [
            "id",
            "media_id",
            "ordinal",
            "box",
            "score",
            "quality",
            "embedding",
            "state",
            "person_id",
            "distance",
            "cluster_id",
            "decided_by",
            "decided_at",
            "crop_key",
            "segments",
            "created_at",
        ],
        face_rows,
    )
    log(
        f"loaded {media} media, {len(sighting_rows)} sightings, {len(tag_rows)} tags, {faces} faces "
        f"in {time.perf_counter() - started:.1f} s"
    )
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        for sql in BUILD_SETTINGS:
            await conn.execute(text(sql))
        for name, definition in hnsw:
            t0 = time.perf_counter()
            await conn.execute(text(definition))
            log(f"rebuilt {name} in {time.perf_counter() - t0:.1f} s")
        await conn.execute(text("VACUUM ANALYZE"))
    return Library(
        media=media,
        faces=faces,
        people=[PersonInfo(n, s) for n, s in zip(names, slack_ids, strict=True)],
        channels=channels,
        tags=tag_vocab,
        uploaders=uploaders,
        state_counts=counts,
        genuine_median=genuine,
        impostor_median=impostor,
    )
