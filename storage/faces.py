"""Vector search over face embeddings (pgvector, cosine distance, HNSW)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from storage.matching import Neighbour
from storage.models import Face, FaceState, Person

# How many graph candidates HNSW keeps while searching; higher = better recall, slower. Every
# connection of `storage.db.create_engine` starts with it (no SET before each query).
EF_SEARCH = 64


@dataclass(frozen=True, slots=True)
class PgvectorMatcher:
    """`FaceMatcher` over the faces table's embeddings (cosine distance). The HNSW indexes serve the
    open and the confirmed-only lookups; `among` (a few ids) is exact, sorted after the fetch so that
    the planner cannot pick an HNSW scan whose candidates miss them."""

    threshold: float
    name: str = "dlib"

    async def nearest(
        self,
        session: AsyncSession,
        *,
        face: Face,
        limit: int,
        max_distance: float,
        confirmed_only: bool = False,
        exclude_media: uuid.UUID | None = None,
        among: Collection[uuid.UUID] | None = None,
    ) -> list[Neighbour]:
        where = [Face.id != face.id]
        if confirmed_only:
            where.append(Face.state == FaceState.confirmed)
        if exclude_media is not None:
            where.append(Face.media_id != exclude_media)
        if among is None:
            return await nearest_faces(
                session, embedding=face.embedding, limit=limit, max_distance=max_distance, where=where
            )
        if not among:
            return []
        where.append(Face.id.in_(list(among)))
        found = await nearest_faces(
            session, embedding=face.embedding, limit=None, max_distance=max_distance, where=where
        )
        return sorted(found, key=lambda n: n.distance)[:limit]


async def nearest_faces(
    session: AsyncSession,
    *,
    embedding: Sequence[float],
    limit: int | None,
    max_distance: float,
    where: Sequence[ColumnElement[bool]] = (),
) -> list[Neighbour]:
    """Closest faces to an embedding among those all `where` conditions admit, closest first
    (`limit=None`: every admitted face, unordered)."""
    distance = Face.embedding.cosine_distance(list(embedding)).label("distance")
    query = select(Face.id, Face.media_id, Face.person_id, Face.cluster_id, Face.state, distance).where(
        *where
    )
    if limit is not None:
        query = query.order_by(distance).limit(limit)
    rows = await session.execute(query)
    return [
        Neighbour(
            face_id=row.id,
            media_id=row.media_id,
            person_id=row.person_id,
            cluster_id=row.cluster_id,
            state=row.state,
            distance=float(row.distance),
        )
        for row in rows
        if row.distance <= max_distance
    ]


async def faces_with_people(
    session: AsyncSession, *, media_id: uuid.UUID
) -> list[tuple[Face, Person | None]]:
    """A media's faces in number order, each with the person it is suggested or confirmed as (without
    the embeddings, which views never show)."""
    rows = await session.execute(
        select(Face, Person)
        .options(defer(Face.embedding, raiseload=True))
        .outerjoin(Person, Person.id == Face.person_id)
        .where(Face.media_id == media_id)
        .order_by(Face.ordinal)
    )
    return [(face, person) for face, person in rows.all()]
