"""`PgvectorMatcher`, the `FaceMatcher` recognition asks which faces look alike, on real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from storage.faces import PgvectorMatcher
from storage.matching import FaceMatcher
from storage.models import EMBEDDING_DIM, Face, FaceState, Media, MediaStatus, Person
from tests.support.scratch_db import migrated_engine

MATCHER: FaceMatcher = PgvectorMatcher(threshold=0.075)


@pytest_asyncio.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(pg_url, prefix="facetag_matching") as engine:
        yield engine


def unit(vector: np.ndarray) -> list[float]:
    return [float(x) for x in vector / np.linalg.norm(vector)]


def near(base: np.ndarray, rng: np.random.Generator, spread: float) -> list[float]:
    return unit(base + rng.normal(scale=spread, size=EMBEDDING_DIM))


async def test_nearest_filters_orders_and_bounds(engine: AsyncEngine) -> None:
    rng = np.random.default_rng(7)
    alice = rng.normal(size=EMBEDDING_DIM)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        person = Person(display_name="Alice")
        media = [Media(status=MediaStatus.approved) for _ in range(4)]
        session.add_all([person, *media])
        await session.flush()

        def face(m: Media, embedding: list[float], state: FaceState = FaceState.unknown) -> Face:
            return Face(
                media_id=m.id,
                ordinal=1,
                box=[0, 0, 1, 1],
                score=1.0,
                embedding=embedding,
                state=state,
                person_id=person.id if state != FaceState.unknown else None,
            )

        query = face(media[0], near(alice, rng, 0.02))
        confirmed = face(media[1], near(alice, rng, 0.02), FaceState.confirmed)
        same_media = face(media[0], near(alice, rng, 0.02))
        unknown = face(media[2], near(alice, rng, 0.02))
        stranger = face(media[3], unit(rng.normal(size=EMBEDDING_DIM)))
        session.add_all([query, confirmed, same_media, unknown, stranger])

    async with sessions() as session, session.begin():
        everyone = await MATCHER.nearest(session, face=query, limit=10, max_distance=2.0)
        assert [n.face_id for n in everyone][-1] == stranger.id  # closest first, never itself
        assert query.id not in {n.face_id for n in everyone}
        assert [n.distance for n in everyone] == sorted(n.distance for n in everyone)

        alike = await MATCHER.nearest(session, face=query, limit=10, max_distance=MATCHER.threshold)
        assert {n.face_id for n in alike} == {confirmed.id, same_media.id, unknown.id}

        only_confirmed = await MATCHER.nearest(
            session, face=query, limit=10, max_distance=MATCHER.threshold, confirmed_only=True
        )
        assert [(n.face_id, n.person_id, n.state) for n in only_confirmed] == [
            (confirmed.id, person.id, FaceState.confirmed)
        ]

        elsewhere = await MATCHER.nearest(
            session, face=query, limit=10, max_distance=MATCHER.threshold, exclude_media=media[0].id
        )
        assert {n.face_id for n in elsewhere} == {confirmed.id, unknown.id}

        among = await MATCHER.nearest(
            session, face=query, limit=1, max_distance=2.0, among=[stranger.id, unknown.id]
        )
        assert [n.face_id for n in among] == [unknown.id]
        assert await MATCHER.nearest(session, face=query, limit=1, max_distance=2.0, among=[]) == []
        assert (
            await MATCHER.nearest(session, face=query, limit=5, max_distance=2.0, among=[uuid.uuid4()]) == []
        )
