"""Decisions on faces: confirm a suggestion, reject it, or say who it is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from handlers import recognition
from handlers.context import Context
from handlers.media import defer_replies
from handlers.ports import Actor
from storage.models import Face, FaceRejection, FaceState, Person
from storage.people import person_for_user


class FaceDecisionError(Exception):
    """The decision cannot be applied; the message is for the person who clicked."""


@dataclass(frozen=True, slots=True)
class Decision:
    face_id: uuid.UUID
    media_id: uuid.UUID
    person_name: str | None
    state: FaceState


async def confirm(ctx: Context, *, face_id: uuid.UUID, actor: Actor) -> Decision:
    """The suggested person is right: the face is theirs, and it trains later matches."""
    async with ctx.db.session() as session:
        face = await session.get(Face, face_id, with_for_update=True)
        if face is None:
            raise FaceDecisionError("This face no longer exists (the photo may have been removed).")
        if face.person_id is None:
            raise FaceDecisionError("There is no suggestion to confirm for this face; use “Who is this?”.")
        person = await session.get(Person, face.person_id)
        await _take(session, face, face.person_id, actor)
        decision = Decision(face.id, face.media_id, person.display_name if person else None, face.state)
    await _after(ctx, decision)
    return decision


async def reject(ctx: Context, *, face_id: uuid.UUID, actor: Actor) -> Decision:
    """The suggestion is wrong: never suggest that person for this face again."""
    async with ctx.db.session() as session:
        face = await session.get(Face, face_id, with_for_update=True)
        if face is None:
            raise FaceDecisionError("This face no longer exists (the photo may have been removed).")
        if face.person_id is not None:
            await session.execute(
                insert(FaceRejection)
                .values(face_id=face.id, person_id=face.person_id, rejected_by=actor.user_id)
                .on_conflict_do_nothing()
            )
        face.state, face.person_id, face.distance = FaceState.unknown, None, None
        face.decided_by, face.decided_at = actor.user_id, datetime.now(UTC)
        decision = Decision(face.id, face.media_id, None, face.state)
    # Maybe someone else fits (the rejected person is excluded now).
    await recognition.suggest_for_media(ctx, decision.media_id)
    await defer_replies(ctx, decision.media_id)
    return decision


async def identify(
    ctx: Context, *, face_id: uuid.UUID, platform: str, user_id: str, name: str, actor: Actor
) -> Decision:
    """Someone picked who this face is (a chat user): assign and confirm."""
    async with ctx.db.session() as session:
        face = await session.get(Face, face_id, with_for_update=True)
        if face is None:
            raise FaceDecisionError("This face no longer exists (the photo may have been removed).")
        person = await person_for_user(session, platform=platform, user_id=user_id, name=name or user_id)
        await _take(session, face, person.id, actor)
        decision = Decision(face.id, face.media_id, person.display_name, face.state)
    await _after(ctx, decision)
    return decision


async def _take(session: object, face: Face, person_id: uuid.UUID, actor: Actor) -> None:
    """Confirm `face` as `person_id`; another face of the same media that had them loses it."""
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    others = await session.execute(
        select(Face).where(Face.media_id == face.media_id, Face.id != face.id, Face.person_id == person_id)
    )
    for other in others.scalars():
        other.state, other.person_id, other.distance = FaceState.unknown, None, None
        other.decided_by, other.decided_at = None, None
    await session.execute(
        delete(FaceRejection).where(FaceRejection.face_id == face.id, FaceRejection.person_id == person_id)
    )
    face.state, face.person_id = FaceState.confirmed, person_id
    face.decided_by, face.decided_at = actor.user_id, datetime.now(UTC)
    await session.flush()


async def _after(ctx: Context, decision: Decision) -> None:
    changed = await recognition.spread_name(ctx, decision.face_id)
    await recognition.suggest_for_media(ctx, decision.media_id)
    for media_id in {decision.media_id, *changed}:
        await defer_replies(ctx, media_id)
