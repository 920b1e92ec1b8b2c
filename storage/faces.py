"""Vector search over face embeddings (pgvector, cosine distance, HNSW)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Face, FaceState, Person

# How many graph candidates HNSW keeps while searching; higher = better recall, slower.
EF_SEARCH = 64


@dataclass(frozen=True, slots=True)
class Neighbour:
    face_id: uuid.UUID
    media_id: uuid.UUID
    person_id: uuid.UUID | None
    cluster_id: uuid.UUID | None
    state: FaceState
    distance: float


async def _tune(session: AsyncSession) -> None:
    await session.execute(text(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}"))


async def nearest_confirmed(
    session: AsyncSession, *, embedding: Sequence[float], limit: int, max_distance: float
) -> list[Neighbour]:
    """Closest confirmed faces (the partial HNSW index over confirmed faces serves this)."""
    await _tune(session)
    distance = Face.embedding.cosine_distance(list(embedding)).label("distance")
    rows = await session.execute(
        select(Face.id, Face.media_id, Face.person_id, Face.cluster_id, Face.state, distance)
        .where(Face.state == FaceState.confirmed)
        .order_by(distance)
        .limit(limit)
    )
    return [_neighbour(row) for row in rows if row.distance <= max_distance]


async def nearest_faces(
    session: AsyncSession,
    *,
    embedding: Sequence[float],
    limit: int,
    max_distance: float,
    exclude_media: uuid.UUID | None = None,
) -> list[Neighbour]:
    """Closest faces of any state, for clustering and for spreading a new name."""
    await _tune(session)
    distance = Face.embedding.cosine_distance(list(embedding)).label("distance")
    query = select(Face.id, Face.media_id, Face.person_id, Face.cluster_id, Face.state, distance)
    if exclude_media is not None:
        query = query.where(Face.media_id != exclude_media)
    rows = await session.execute(query.order_by(distance).limit(limit))
    return [_neighbour(row) for row in rows if row.distance <= max_distance]


def _neighbour(row: object) -> Neighbour:
    return Neighbour(
        face_id=row.id,  # type: ignore[attr-defined]
        media_id=row.media_id,  # type: ignore[attr-defined]
        person_id=row.person_id,  # type: ignore[attr-defined]
        cluster_id=row.cluster_id,  # type: ignore[attr-defined]
        state=row.state,  # type: ignore[attr-defined]
        distance=float(row.distance),  # type: ignore[attr-defined]
    )


async def faces_with_people(
    session: AsyncSession, *, media_id: uuid.UUID
) -> list[tuple[Face, Person | None]]:
    """A media's faces in number order, each with the person it is suggested or confirmed as."""
    rows = await session.execute(
        select(Face, Person)
        .outerjoin(Person, Person.id == Face.person_id)
        .where(Face.media_id == media_id)
        .order_by(Face.ordinal)
    )
    return [(face, person) for face, person in rows.all()]
