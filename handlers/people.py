"""People: list, look up, rename, merge two into one, split a face off, link chat identities."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import recognition
from handlers.context import Context
from handlers.media import defer_replies
from handlers.ports import Actor
from handlers.query import QueryError, decode_cursor, encode_cursor
from storage.models import Face, FaceRejection, FaceState, Person
from storage.people import identity_column

PAGE = 50


class PeopleError(Exception):
    """The change cannot be made; the message is for whoever asked."""


class PersonMissing(PeopleError):
    """No such person (or face)."""


@dataclass(frozen=True, slots=True)
class PersonSummary:
    id: uuid.UUID
    name: str
    slack_user_id: str | None
    teams_aad_id: str | None
    confirmed_faces: int
    suggested_faces: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PeoplePage:
    people: tuple[PersonSummary, ...]
    next_cursor: str | None


async def _summaries(
    session: AsyncSession, where: object, *, limit: int | None = None
) -> list[PersonSummary]:
    confirmed = func.count(Face.id).filter(Face.state == FaceState.confirmed).label("confirmed")
    suggested = func.count(Face.id).filter(Face.state == FaceState.suggested).label("suggested")
    query = (
        select(Person, confirmed, suggested)
        .outerjoin(Face, Face.person_id == Person.id)
        .where(where)  # type: ignore[arg-type]
        .group_by(Person.id)
        .order_by(Person.created_at.desc(), Person.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        PersonSummary(
            id=person.id,
            name=person.display_name,
            slack_user_id=person.slack_user_id,
            teams_aad_id=person.teams_aad_id,
            confirmed_faces=int(n_confirmed),
            suggested_faces=int(n_suggested),
            created_at=person.created_at,
        )
        for person, n_confirmed, n_suggested in await session.execute(query)
    ]


async def list_people(
    ctx: Context, *, name: str | None = None, cursor: str | None = None, limit: int = PAGE
) -> PeoplePage:
    """People newest first, optionally whose name contains `name`; QueryError for a broken cursor."""
    clauses: list[ColumnElement[bool]] = []
    if name:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(Person.display_name.ilike(f"%{escaped}%", escape="\\"))
    if cursor:
        position = decode_cursor(cursor)
        try:
            after = uuid.UUID(str(position.media_id))
        except ValueError:
            raise QueryError("That page link is broken or too old; list again", "") from None
        clauses.append(
            or_(
                Person.created_at < position.sort_at,
                and_(Person.created_at == position.sort_at, Person.id < after),
            )
        )
    async with ctx.db.session() as session:
        found = await _summaries(
            session, and_(*clauses) if clauses else Person.id.is_not(None), limit=limit + 1
        )
    more = len(found) > limit
    found = found[:limit]
    next_cursor = encode_cursor(found[-1].created_at, str(found[-1].id)) if more and found else None
    return PeoplePage(people=tuple(found), next_cursor=next_cursor)


async def get_person(ctx: Context, *, person_id: uuid.UUID) -> PersonSummary:
    async with ctx.db.session() as session:
        found = await _summaries(session, Person.id == person_id)
    if not found:
        raise PersonMissing("There is no such person.")
    return found[0]


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 200:
        raise PeopleError("A name is 1 to 200 characters.")
    return cleaned


async def _faces_of(session: AsyncSession, person_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.execute(select(Face.media_id).where(Face.person_id == person_id))
    return set(rows.scalars())


async def rename_person(ctx: Context, *, person_id: uuid.UUID, name: str) -> PersonSummary:
    cleaned = _clean_name(name)
    async with ctx.db.session() as session:
        person = await session.get(Person, person_id, with_for_update=True)
        if person is None:
            raise PersonMissing("There is no such person.")
        person.display_name = cleaned
        media = await _faces_of(session, person_id)
    for media_id in media:
        await defer_replies(ctx, media_id)
    return await get_person(ctx, person_id=person_id)


async def merge_people(ctx: Context, *, keep_id: uuid.UUID, merge_id: uuid.UUID) -> PersonSummary:
    """`merge_id` was the same person as `keep_id`: move faces, rejections and identities, then drop it.

    Where both had a face in one media, the kept person's confirmed face wins and the other
    becomes unknown (a media never has the same person twice)."""
    if keep_id == merge_id:
        raise PeopleError("Merge two different people.")
    async with ctx.db.session() as session:
        keep = await session.get(Person, keep_id, with_for_update=True)
        merge = await session.get(Person, merge_id, with_for_update=True)
        if keep is None or merge is None:
            raise PersonMissing("There is no such person.")
        for platform in ("slack", "teams"):
            column = identity_column(platform)
            theirs, ours = getattr(merge, column), getattr(keep, column)
            if theirs and ours and theirs != ours:
                raise PeopleError(
                    f"Both people are linked to different {platform} users; unlink one of them first."
                )
        keep_faces = list((await session.execute(select(Face).where(Face.person_id == keep_id))).scalars())
        merge_faces = list((await session.execute(select(Face).where(Face.person_id == merge_id))).scalars())
        by_media = {face.media_id: face for face in keep_faces}
        for face in merge_faces:
            other = by_media.get(face.media_id)
            if other is not None:
                loser = (
                    face if other.state == FaceState.confirmed or face.state != FaceState.confirmed else other
                )
                winner = other if loser is face else face
                loser.state, loser.person_id, loser.distance = FaceState.unknown, None, None
                loser.decided_by = loser.decided_at = None
                winner.person_id = keep_id
            else:
                face.person_id = keep_id
        await session.flush()
        await session.execute(
            insert(FaceRejection)
            .from_select(
                ["face_id", "person_id", "rejected_by", "created_at"],
                select(
                    FaceRejection.face_id,
                    literal(keep_id, type_=PG_UUID(as_uuid=True)),
                    FaceRejection.rejected_by,
                    FaceRejection.created_at,
                ).where(FaceRejection.person_id == merge_id),
            )
            .on_conflict_do_nothing()
        )
        identities = {
            column: getattr(merge, column)
            for column in ("slack_user_id", "teams_aad_id")
            if getattr(merge, column) and not getattr(keep, column)
        }
        await session.execute(delete(Person).where(Person.id == merge_id))
        await session.flush()
        if identities:
            await session.execute(update(Person).where(Person.id == keep_id).values(**identities))
        touched = {f.media_id for f in keep_faces} | {f.media_id for f in merge_faces}
    for media_id in touched:
        await defer_replies(ctx, media_id)
    return await get_person(ctx, person_id=keep_id)


@dataclass(frozen=True, slots=True)
class SplitFace:
    face_id: uuid.UUID
    media_id: uuid.UUID
    state: str
    person: PersonSummary | None


async def split_face(ctx: Context, *, face_id: uuid.UUID, name: str | None, actor: Actor) -> SplitFace:
    """Take a face away from its person: to a new person called `name`, or back to unknown.

    The old person is never suggested for that face again."""
    cleaned = _clean_name(name) if name is not None else None
    async with ctx.db.session() as session:
        face = await session.get(Face, face_id, with_for_update=True)
        if face is None:
            raise PersonMissing("There is no such face.")
        old = face.person_id
        if old is None:
            raise PeopleError("This face belongs to nobody yet; there is nothing to split off.")
        await session.execute(
            insert(FaceRejection)
            .values(face_id=face.id, person_id=old, rejected_by=actor.user_id)
            .on_conflict_do_nothing()
        )
        now = datetime.now(UTC)
        if cleaned is not None:
            person = Person(id=uuid.uuid4(), display_name=cleaned)
            session.add(person)
            await session.flush()
            face.state, face.person_id, face.distance = FaceState.confirmed, person.id, None
        else:
            face.state, face.person_id, face.distance = FaceState.unknown, None, None
        face.decided_by, face.decided_at = actor.user_id, now
        new_person, media_id = face.person_id, face.media_id
    if new_person is None:
        await recognition.suggest_for_media(ctx, media_id)
    await defer_replies(ctx, media_id)
    async with ctx.db.session() as session:
        face = await session.get(Face, face_id)
        assert face is not None
        state, person_id = face.state.value, face.person_id
    return SplitFace(
        face_id=face_id,
        media_id=media_id,
        state=state,
        person=await get_person(ctx, person_id=person_id) if person_id else None,
    )


async def link_identity(
    ctx: Context, *, person_id: uuid.UUID, platform: str, user_id: str | None
) -> PersonSummary:
    """Link a person to a chat user (or unlink with None); a user already linked elsewhere is refused."""
    try:
        column = identity_column(platform)
    except ValueError:
        raise PeopleError("The platform is slack or teams.") from None
    async with ctx.db.session() as session:
        person = await session.get(Person, person_id, with_for_update=True)
        if person is None:
            raise PersonMissing("There is no such person.")
        if user_id is not None:
            holder = (
                await session.execute(
                    select(Person.id).where(getattr(Person, column) == user_id, Person.id != person_id)
                )
            ).scalar_one_or_none()
            if holder is not None:
                raise PeopleError(
                    f"That {platform} user is already linked to person {holder}; merge them instead."
                )
        setattr(person, column, user_id)
        media = await _faces_of(session, person_id)
    for media_id in media:
        await defer_replies(ctx, media_id)
    return await get_person(ctx, person_id=person_id)
