"""The search index on media (seen_in, search_text), kept by triggers on sightings, and search semantics.

`media.seen_in` / `media.search_text` must always equal what the sightings say, whoever writes them (ORM,
Core, COPY, cascades); and `handlers.search.build_filter` over them must select exactly the media the
original joins over sightings selected (visibility, pending, in:, words).
"""

from __future__ import annotations

import dataclasses
import io
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.query import ChannelRef, Query, parse
from handlers.search import Viewer, _channel_ids, _escape_like, build_filter
from storage.models import EMBEDDING_DIM, Face, FaceState, Media, MediaStatus, Person, Sighting, Tag
from tests.support.scratch_db import migrated_engine


@pytest_asyncio.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(pg_url, prefix="facetag_search_index") as engine:
        yield engine


def media_row(status: MediaStatus = MediaStatus.approved, filename: str | None = None) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "status": status, "filename": filename}


def sighting_row(
    media_id: uuid.UUID | None,
    channel_id: str,
    *,
    platform: str = "slack",
    text: str = "",
    filename: str | None = None,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "media_id": media_id,
        "platform": platform,
        "workspace_id": "T1",
        "channel_id": channel_id,
        "channel_private": False,
        "file_id": uuid.uuid4().hex,
        "user_id": "U1",
        "text": text,
        "filename": filename,
        "conversation": {},
        "error_reported": False,
    }


async def index_of(engine: AsyncEngine) -> dict[uuid.UUID, tuple[list[str], str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(Media.id, Media.seen_in, Media.search_text))
        return {mid: (list(seen), text) for mid, seen, text in rows}


async def expected_index(engine: AsyncEngine) -> dict[uuid.UUID, tuple[list[str], str]]:
    """What the sightings say, computed in Python (order of search_text lines aside)."""
    async with engine.connect() as conn:
        media = [m for (m,) in await conn.execute(select(Media.id))]
        sightings = (
            await conn.execute(
                select(
                    Sighting.media_id,
                    Sighting.platform,
                    Sighting.channel_id,
                    func.lower(Sighting.text).label("text"),  # the database's lower(), as ILIKE's
                    func.lower(Sighting.filename).label("filename"),
                ).order_by(Sighting.created_at, Sighting.id)
            )
        ).all()
    out: dict[uuid.UUID, tuple[list[str], str]] = {m: ([], "") for m in media}
    lines: dict[uuid.UUID, list[str]] = {m: [] for m in media}
    for s in sightings:
        if s.media_id is None:
            continue
        key = f"{s.platform}:{s.channel_id}"
        if key not in out[s.media_id][0]:
            out[s.media_id][0].append(key)
        lines[s.media_id].append(f"{s.text}\n{s.filename or ''}")
    return {m: (sorted(seen), "\n".join(lines[m])) for m, (seen, _) in out.items()}


async def assert_index_matches(engine: AsyncEngine) -> None:
    got, want = await index_of(engine), await expected_index(engine)
    assert {m: (v[0], sorted(v[1].split("\n"))) for m, v in got.items()} == {
        m: (v[0], sorted(v[1].split("\n"))) for m, v in want.items()
    }


async def test_sightings_insert_relink_update_delete_keep_the_index(engine: AsyncEngine) -> None:
    a, b, c = media_row(filename="a.jpg"), media_row(), media_row(MediaStatus.pending)
    s1 = sighting_row(a["id"], "C1", text="Team OFFSITE #fun", filename="IMG_1.JPG")
    s2 = sighting_row(a["id"], "C2", text="again")
    s3 = sighting_row(b["id"], "C1", platform="teams", text="hello\nworld")
    s4 = sighting_row(None, "C9", text="not linked yet", filename="late.png")
    async with engine.begin() as conn:
        await conn.execute(insert(Media), [a, b, c])
        await conn.execute(insert(Sighting), [s1, s2, s3, s4])  # one statement, several media
    index = await index_of(engine)
    assert index[a["id"]][0] == ["slack:C1", "slack:C2"]
    assert "team offsite #fun\nimg_1.jpg" in index[a["id"]][1]
    assert index[b["id"]] == (["teams:C1"], "hello\nworld\n")
    assert index[c["id"]] == ([], "")
    await assert_index_matches(engine)

    async with engine.begin() as conn:  # handlers.media._link: the sighting gets its media later
        await conn.execute(update(Sighting).where(Sighting.id == s4["id"]).values(media_id=c["id"]))
    assert (await index_of(engine))[c["id"]] == (["slack:C9"], "not linked yet\nlate.png")

    async with engine.begin() as conn:  # relink to another media, move a channel, fill in the text
        await conn.execute(update(Sighting).where(Sighting.id == s2["id"]).values(media_id=b["id"]))
        await conn.execute(update(Sighting).where(Sighting.id == s1["id"]).values(channel_id="C5"))
        await conn.execute(update(Sighting).where(Sighting.id == s3["id"]).values(text="Beach"))
    index = await index_of(engine)
    assert index[a["id"]] == (["slack:C5"], "team offsite #fun\nimg_1.jpg")
    assert index[b["id"]][0] == ["slack:C2", "teams:C1"]
    await assert_index_matches(engine)

    xmin: Select[uuid.UUID, str] = select(Media.id, literal_column("xmin::text").label("xmin"))
    async with engine.begin() as conn:  # unrelated columns: the media rows are not rewritten
        before = {(r.id, r.xmin) for r in await conn.execute(xmin)}
        await conn.execute(update(Sighting).values(reply_ref="r1", error_reported=True))
    async with engine.connect() as conn:
        assert {(r.id, r.xmin) for r in await conn.execute(xmin)} == before
    await assert_index_matches(engine)

    async with engine.begin() as conn:
        await conn.execute(delete(Sighting).where(Sighting.id.in_([s1["id"], s3["id"]])))
    index = await index_of(engine)
    assert index[a["id"]] == ([], "")
    assert index[b["id"]] == (["slack:C2"], "again\n")
    async with engine.begin() as conn:  # deleting media cascades to its sightings: no error
        await conn.execute(delete(Media).where(Media.id == b["id"]))
    await assert_index_matches(engine)


async def test_copy_fills_the_index(engine: AsyncEngine) -> None:
    m = media_row()
    async with engine.begin() as conn:
        await conn.execute(insert(Media), [m])
    rows = [sighting_row(m["id"], f"C{i}", text=f"t{i}") for i in range(3)]
    columns = list(rows[0])
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(
            "sightings",
            records=[tuple("{}" if k == "conversation" else r[k] for k in columns) for r in rows],
            columns=columns,
        )
    assert (await index_of(engine))[m["id"]][0] == ["slack:C0", "slack:C1", "slack:C2"]
    await assert_index_matches(engine)


# ------------------------------------------------------------------------------ face counters (0003)


def face_row(
    media_id: uuid.UUID,
    ordinal: int,
    state: FaceState = FaceState.unknown,
    person_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "media_id": media_id,
        "ordinal": ordinal,
        "box": [0, 0, 1, 1],
        "score": 0.9,
        "quality": 0.5,
        "embedding": [0.1] * EMBEDDING_DIM,
        "state": state,
        "person_id": person_id,
    }


async def counters_of(engine: AsyncEngine) -> dict[uuid.UUID, tuple[int, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(Media.id, Media.face_count, Media.unknown_faces))
        return {mid: (count, unknown) for mid, count, unknown in rows}


async def expected_counters(engine: AsyncEngine) -> dict[uuid.UUID, tuple[int, int]]:
    """What the faces say, counted in Python."""
    async with engine.connect() as conn:
        media = [m for (m,) in await conn.execute(select(Media.id))]
        faces = (await conn.execute(select(Face.media_id, Face.state))).all()
    out = {m: [0, 0] for m in media}
    for media_id, state in faces:
        out[media_id][0] += 1
        out[media_id][1] += state != FaceState.confirmed
    return {m: (c[0], c[1]) for m, c in out.items()}


async def assert_counters_match(engine: AsyncEngine) -> None:
    assert await counters_of(engine) == await expected_counters(engine)


async def test_faces_insert_confirm_reject_relink_delete_keep_the_counters(engine: AsyncEngine) -> None:
    a, b, c = media_row(), media_row(), media_row()
    person = uuid.uuid4()
    fa = [face_row(a["id"], i) for i in range(3)]
    fb = [
        face_row(b["id"], 0, FaceState.confirmed, person),
        face_row(b["id"], 1, FaceState.suggested, person),
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(Person), [{"id": person, "display_name": "P"}])
        await conn.execute(insert(Media), [a, b, c])
        assert (await conn.execute(select(Media.face_count, Media.unknown_faces))).all() == [(0, 0)] * 3
        await conn.execute(insert(Face), [*fa, *fb])  # one statement, several media
    counters = await counters_of(engine)
    assert counters[a["id"]] == (3, 3)
    assert counters[b["id"]] == (2, 1)
    assert counters[c["id"]] == (0, 0)

    async with engine.begin() as conn:  # confirm one face of a, and b's suggestion
        await conn.execute(
            update(Face)
            .where(Face.id.in_([fa[0]["id"], fb[1]["id"]]))
            .values(state=FaceState.confirmed, person_id=person)
        )
    counters = await counters_of(engine)
    assert counters[a["id"]] == (3, 2)
    assert counters[b["id"]] == (2, 0)

    async with engine.begin() as conn:  # reject: back to unknown; suggest another
        await conn.execute(
            update(Face).where(Face.id == fb[0]["id"]).values(state=FaceState.unknown, person_id=None)
        )
        await conn.execute(
            update(Face).where(Face.id == fa[1]["id"]).values(state=FaceState.suggested, person_id=person)
        )
    counters = await counters_of(engine)
    assert counters[a["id"]] == (3, 2)  # suggested is still not confirmed
    assert counters[b["id"]] == (2, 1)
    await assert_counters_match(engine)

    async with engine.begin() as conn:  # move a face to another media
        await conn.execute(update(Face).where(Face.id == fa[2]["id"]).values(media_id=c["id"]))
    counters = await counters_of(engine)
    assert counters[a["id"]] == (2, 1)
    assert counters[c["id"]] == (1, 1)

    xmin: Select[uuid.UUID, str] = select(Media.id, literal_column("xmin::text").label("xmin"))
    async with engine.begin() as conn:  # unrelated columns: the media rows are not rewritten
        before = {(r.id, r.xmin) for r in await conn.execute(xmin)}
        await conn.execute(update(Face).values(quality=0.7, crop_key="k"))
    async with engine.connect() as conn:
        assert {(r.id, r.xmin) for r in await conn.execute(xmin)} == before

    async with engine.begin() as conn:
        await conn.execute(delete(Face).where(Face.id.in_([fa[0]["id"], fa[1]["id"]])))
    counters = await counters_of(engine)
    assert counters[a["id"]] == (0, 0)
    async with engine.begin() as conn:  # deleting media cascades to its faces: no error
        await conn.execute(delete(Media).where(Media.id == b["id"]))
        await conn.execute(delete(Person).where(Person.id == person))  # person_id SET NULL: unchanged
    await assert_counters_match(engine)
    assert set(await counters_of(engine)) == {a["id"], c["id"]}


async def test_copy_fills_the_counters(engine: AsyncEngine) -> None:
    m, person = media_row(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(insert(Media), [m])
        await conn.execute(insert(Person), [{"id": person, "display_name": "P"}])
    vector = "[" + ",".join(["0.1"] * EMBEDDING_DIM) + "]"
    rows = [
        (uuid.uuid4(), m["id"], 0, "unknown", ""),
        (uuid.uuid4(), m["id"], 1, "suggested", person),
        (uuid.uuid4(), m["id"], 2, "confirmed", person),
    ]
    csv = "".join(
        f'{fid},{mid},{i},"{{0,0,1,1}}",0.9,0.5,"{vector}",{st},{pid}\n' for fid, mid, i, st, pid in rows
    )
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_to_table(
            "faces",
            source=io.BytesIO(csv.encode()),
            columns=[
                "id",
                "media_id",
                "ordinal",
                "box",
                "score",
                "quality",
                "embedding",
                "state",
                "person_id",
            ],
            format="csv",
        )
    assert (await counters_of(engine))[m["id"]] == (3, 2)
    await assert_counters_match(engine)


# -------------------------------------------------------------------------- semantics vs the old joins


def reference_filter(query: Query, viewer: Viewer) -> ColumnElement[bool]:
    """The filter as it was before the index (joins over sightings), for the terms the index changed."""

    def seen(channels: list[str] | set[str]) -> ColumnElement[bool]:
        return exists().where(
            Sighting.media_id == Media.id,
            Sighting.platform == viewer.platform,
            Sighting.channel_id.in_(channels) if channels else false(),
        )

    channels = list(viewer.channels)
    if not query.pending:
        clauses = [and_(seen(channels), Media.status == MediaStatus.approved)]
    elif viewer.is_admin:
        clauses = [and_(seen(channels), Media.status == MediaStatus.pending)]
    else:
        clauses = [
            and_(Media.status == MediaStatus.pending, seen([c for c in channels if c in viewer.moderates]))
        ]
    wanted, _ = _channel_ids(query, viewer)
    if wanted:
        clauses.append(seen(wanted))
    for word in query.words:
        pattern = f"%{_escape_like(word)}%"
        clauses.append(
            or_(
                Media.filename.ilike(pattern, escape="\\"),
                exists().where(Tag.media_id == Media.id, Tag.tag == word.casefold()),
                exists().where(
                    Sighting.media_id == Media.id,
                    or_(
                        Sighting.text.ilike(pattern, escape="\\"),
                        Sighting.filename.ilike(pattern, escape="\\"),
                    ),
                ),
            )
        )
    if query.has_faces:
        clauses.append(exists().where(Face.media_id == Media.id))
    if query.has_unknown:
        clauses.append(exists().where(Face.media_id == Media.id, Face.state != FaceState.confirmed))
    return and_(true(), *clauses)


WORDS = ["Beach", "team", "party", "IMG_00", "50%", "a_b", "back\\slash", "Ünïcode", "day night", "x"]


async def test_build_filter_selects_what_the_joins_selected(engine: AsyncEngine) -> None:
    rng = random.Random(7)
    channels = [f"C{i}" for i in range(8)]
    media = [
        media_row(
            rng.choice([MediaStatus.approved, MediaStatus.approved, MediaStatus.pending, MediaStatus.failed]),
            rng.choice([None, f"IMG_{i:04d}.jpg", f"Beach_{i}.PNG", "a_b.jpg", "50%.jpg"]),
        )
        for i in range(160)
    ]
    sightings, tags, faces = [], [], []
    for m in media:
        for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
            text = " ".join(rng.sample([*WORDS, "fun", "the", "ÜNÏCODE", "Back\\Slash"], rng.randint(0, 3)))
            sightings.append(
                sighting_row(
                    m["id"],
                    rng.choice(channels),
                    platform=rng.choice(["slack", "slack", "slack", "teams"]),
                    text=text,
                    filename=rng.choice([None, "photo.jpg", "Party.HEIC", "team-photo.jpg"]),
                )
            )
        for tag in rng.sample(["beach", "team", "x", "offsite"], rng.randint(0, 2)):
            tags.append({"media_id": m["id"], "tag": tag, "added_by": "U1"})
        for ordinal in range(rng.choice([0, 0, 1, 2])):
            state = rng.choice(list(FaceState))
            faces.append(
                {
                    "id": uuid.uuid4(),
                    "media_id": m["id"],
                    "ordinal": ordinal,
                    "box": [0, 0, 1, 1],
                    "score": 0.9,
                    "quality": 0.5,
                    "embedding": [0.1] * EMBEDDING_DIM,
                    "state": FaceState.unknown,
                    "person_id": None,
                    "_state": state,
                }
            )
    async with engine.begin() as conn:
        await conn.execute(insert(Media), media)
        await conn.execute(insert(Sighting), sightings)
        await conn.execute(insert(Tag), tags)
        person = uuid.uuid4()
        await conn.execute(insert(Person), [{"id": person, "display_name": "P"}])
        await conn.execute(
            insert(Face),
            [
                {k: v for k, v in f.items() if k != "_state"}
                | {"state": f["_state"], "person_id": None if f["_state"] == FaceState.unknown else person}
                for f in faces
            ],
        )
        # relink a few sightings afterwards, like handlers.media._link does
        for s in sightings[::7]:
            await conn.execute(
                update(Sighting).where(Sighting.id == s["id"]).values(media_id=rng.choice(media)["id"])
            )
        # confirm, reject and delete some faces afterwards, like the review flow does
        for f in faces[::5]:
            await conn.execute(
                update(Face).where(Face.id == f["id"]).values(state=FaceState.confirmed, person_id=person)
            )
        for f in faces[1::5]:
            await conn.execute(
                update(Face).where(Face.id == f["id"]).values(state=FaceState.unknown, person_id=None)
            )
        await conn.execute(delete(Face).where(Face.id.in_([f["id"] for f in faces[2::9]])))
    await assert_index_matches(engine)
    await assert_counters_match(engine)

    viewers = [
        Viewer("slack", "U1", {c: f"name-{c}" for c in channels[:3]}),
        Viewer("slack", "U2", {c: f"name-{c}" for c in channels[2:7]}, moderates=frozenset({"C3", "C4"})),
        Viewer("slack", "U3", {c: f"name-{c}" for c in channels}, is_admin=True),
        Viewer("teams", "U4", {c: f"name-{c}" for c in channels[::2]}),
        Viewer("slack", "U5", {}),
    ]
    texts = [
        "",
        "has:unknown",
        "has:faces",
        "in:#name-C2",
        "in:#nowhere",
        *WORDS,
        "beach team",
        '"day night"',
    ]
    checked = 0
    async with engine.connect() as conn:
        for viewer in viewers:
            for text in texts:
                for pending in (False, True):
                    query = parse(text)
                    if pending:
                        if not (viewer.is_admin or viewer.moderates):
                            continue
                        query = dataclasses.replace(query, pending=True)
                    if text == "in:#name-C2" and "C2" not in viewer.channels:
                        query = Query(channels=(ChannelRef(channel_id="C2"),))
                    where, _ = build_filter(query, viewer)
                    got = set((await conn.execute(select(Media.id).where(where))).scalars())
                    want = set(
                        (
                            await conn.execute(select(Media.id).where(reference_filter(query, viewer)))
                        ).scalars()
                    )
                    assert got == want, (viewer, text, pending)
                    checked += bool(want)
    assert checked > 40  # the comparisons are not all of empty sets
