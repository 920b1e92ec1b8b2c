"""Who is this face? Suggestions from confirmed people, clusters of unknown faces, spreading a new name.

Rules:
- suggest a person only when a confirmed face of theirs is within the calibrated distance;
- two faces in one media are never the same person (one suggestion per person per media);
- a person someone rejected for a face is never suggested for that face again;
- unknown faces join the cluster of their nearest unknown neighbour, so naming one face of a
  cluster suggests that person on the others.

Which faces look alike is the `FaceMatcher`'s answer (`ctx.matcher`: pgvector for the local dlib
engine), so a hosted engine can take its place without touching these rules.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Context
from storage.matching import FaceMatcher
from storage.models import Face, FaceRejection, FaceState

CANDIDATES = 20


def threshold(ctx: Context) -> float:
    configured = ctx.settings.match_threshold
    return configured if configured is not None else ctx.matcher.threshold


@dataclass(frozen=True, slots=True)
class _Candidate:
    face_id: uuid.UUID
    person_id: uuid.UUID
    distance: float


async def _rejected(session: AsyncSession, face_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    rows = await session.execute(
        select(FaceRejection.face_id, FaceRejection.person_id).where(FaceRejection.face_id.in_(face_ids))
    )
    rejected: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for face_id, person_id in rows:
        rejected[face_id].add(person_id)
    return rejected


async def suggest_for_media(ctx: Context, media_id: uuid.UUID) -> None:
    """(Re)compute suggestions and clusters for every undecided face of one media."""
    async with ctx.db.session() as session:
        faces = list((await session.execute(select(Face).where(Face.media_id == media_id))).scalars())
        await suggest(ctx, session, media_id=media_id, faces=faces)


async def suggest(ctx: Context, session: AsyncSession, *, media_id: uuid.UUID, faces: list[Face]) -> None:
    """`suggest_for_media` inside the caller's transaction, for `faces`: all faces of the media (e.g.
    ones processing has just added to the session). Nothing is flushed here: every query looks only at
    other media, so the faces' changes reach the database in one go with the caller's next flush (new
    faces: one INSERT with their suggestions and clusters already set)."""
    limit = threshold(ctx)
    taken = {f.person_id for f in faces if f.state == FaceState.confirmed and f.person_id}
    open_faces = [f for f in faces if f.state != FaceState.confirmed]
    if not open_faces:
        return
    with session.no_autoflush:
        rejected = await _rejected(session, [f.id for f in open_faces])
        candidates: list[_Candidate] = []
        for face in open_faces:
            best: dict[uuid.UUID, float] = {}
            for n in await ctx.matcher.nearest(
                session, face=face, limit=CANDIDATES, max_distance=limit, confirmed_only=True
            ):
                if n.media_id == media_id or n.person_id is None:
                    continue
                if n.person_id in rejected[face.id] or n.person_id in taken:
                    continue
                best[n.person_id] = min(best.get(n.person_id, 2.0), n.distance)
            candidates += [_Candidate(face.id, person, dist) for person, dist in best.items()]
        assigned = _assign(candidates)
        for face in open_faces:
            choice = assigned.get(face.id)
            if choice is None:
                face.state, face.person_id, face.distance = FaceState.unknown, None, None
            else:
                face.state, face.person_id, face.distance = (
                    FaceState.suggested,
                    choice.person_id,
                    choice.distance,
                )
            if face.cluster_id is None:
                face.cluster_id = await _cluster_for(ctx.matcher, session, face, limit)
        # A cluster that contains a confirmed face speaks for its unknown members too, for anyone not
        # already in this media (confirmed here, or just suggested on another of its faces).
        in_media = taken | {c.person_id for c in assigned.values()}
        await _suggest_from_clusters(
            ctx.matcher, session, [f for f in open_faces if f.state == FaceState.unknown], rejected, in_media
        )


def _assign(candidates: list[_Candidate]) -> dict[uuid.UUID, _Candidate]:
    """Greedy by distance: each face gets at most one person, each person at most one face."""
    assigned: dict[uuid.UUID, _Candidate] = {}
    used: set[uuid.UUID] = set()
    for c in sorted(candidates, key=lambda c: c.distance):
        if c.face_id in assigned or c.person_id in used:
            continue
        assigned[c.face_id] = c
        used.add(c.person_id)
    return assigned


async def _cluster_for(matcher: FaceMatcher, session: AsyncSession, face: Face, limit: float) -> uuid.UUID:
    for n in await matcher.nearest(
        session, face=face, limit=10, max_distance=limit, exclude_media=face.media_id
    ):
        if n.cluster_id is not None:
            return n.cluster_id
    return uuid.uuid4()


async def _suggest_from_clusters(
    matcher: FaceMatcher,
    session: AsyncSession,
    faces: list[Face],
    rejected: dict[uuid.UUID, set[uuid.UUID]],
    taken: set[uuid.UUID],
) -> None:
    clusters = {f.cluster_id for f in faces if f.cluster_id is not None}
    if not clusters:
        return
    confirmed: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    rows = await session.execute(
        select(Face.cluster_id, Face.id).where(
            Face.cluster_id.in_(clusters), Face.state == FaceState.confirmed
        )
    )
    for cluster_id, face_id in rows:
        if cluster_id is not None:
            confirmed[cluster_id].append(face_id)
    used = set(taken)
    for face in faces:
        members = confirmed.get(face.cluster_id) if face.cluster_id is not None else None
        if not members:
            continue  # no confirmed face in its cluster (a new cluster has none)
        closest = await matcher.nearest(session, face=face, limit=1, max_distance=2.0, among=members)
        if not closest or closest[0].person_id is None:
            continue
        person = closest[0].person_id
        if person in rejected[face.id] or person in used:
            continue
        face.state, face.person_id, face.distance = FaceState.suggested, person, closest[0].distance
        used.add(person)


async def spread_name(ctx: Context, face_id: uuid.UUID) -> set[uuid.UUID]:
    """A face was just named: suggest that person on close unknown faces and its cluster.

    Returns the media whose replies changed."""
    limit = threshold(ctx)
    changed: set[uuid.UUID] = set()
    async with ctx.db.session() as session:
        named = await session.get(Face, face_id)
        if named is None or named.person_id is None or named.state != FaceState.confirmed:
            return changed
        person = named.person_id
        near = await ctx.matcher.nearest(
            session, face=named, limit=200, max_distance=limit, exclude_media=named.media_id
        )
        ids = {n.face_id for n in near if n.state == FaceState.unknown}
        if named.cluster_id is not None:
            members = await session.execute(
                select(Face.id).where(
                    Face.cluster_id == named.cluster_id,
                    Face.state == FaceState.unknown,
                    Face.media_id != named.media_id,
                )
            )
            ids |= set(members.scalars())
        if not ids:
            return changed
        candidates = list((await session.execute(select(Face).where(Face.id.in_(ids)))).scalars())
        rejected = await _rejected(session, [f.id for f in candidates])
        media_ids = {f.media_id for f in candidates}
        holders = await session.execute(
            select(Face.media_id).where(
                Face.media_id.in_(media_ids), Face.person_id == person, Face.state != FaceState.unknown
            )
        )
        busy = set(holders.scalars())
        distance = {n.face_id: n.distance for n in near}
        for face in sorted(candidates, key=lambda f: distance.get(f.id, limit)):
            if face.media_id in busy or person in rejected[face.id]:
                continue
            face.state, face.person_id = FaceState.suggested, person
            face.distance = distance.get(face.id, limit)
            busy.add(face.media_id)
            changed.add(face.media_id)
    return changed
