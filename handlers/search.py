"""Search the library: the /photos query language, only what the viewer may see, presigned links."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Text,
    and_,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by

from handlers.context import Context
from handlers.query import Query, QueryError, decode_cursor, encode_cursor
from processing.results import DESKTOP_NAME, THUMB_NAME
from storage.models import Face, FaceState, Media, MediaKind, MediaStatus, Person, Sighting, Tag
from storage.people import identity_column

PAGE = 10


async def presign(
    ctx: Context, media_id: uuid.UUID, bucket: str | None, name: str, *, filename: str | None = None
) -> str:
    """A link to one of a media's objects (`original`, a rendition), valid for PRESIGN_TTL_SECONDS."""
    return await ctx.store.presign_get(
        bucket=bucket or ctx.settings.bucket_pending,
        key=f"{media_id}/{name}",
        ttl=ctx.settings.presign_ttl_seconds,
        filename=filename,
    )


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is searching and what they can see, as the door found out from the platform."""

    platform: str
    user_id: str
    channels: Mapping[str, str]  # conversations the viewer is a member of: id → name
    is_admin: bool = False
    moderates: frozenset[str] = frozenset()  # channel ids


@dataclass(frozen=True, slots=True)
class ResultPerson:
    name: str
    user_id: str | None  # on the viewer's platform
    confirmed: bool
    segments: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class SearchResult:
    media_id: uuid.UUID
    kind: str
    status: str
    filename: str | None
    channel_id: str
    channel_name: str | None
    shared_by: str
    shared_at: datetime
    taken_at: datetime | None
    people: tuple[ResultPerson, ...]
    unknown_faces: int
    tags: tuple[str, ...]
    thumb_url: str | None
    desktop_url: str | None
    original_url: str
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class SearchPage:
    results: tuple[SearchResult, ...]
    total: int
    next_cursor: str | None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _channel_ids(query: Query, viewer: Viewer) -> tuple[set[str], list[str]]:
    wanted: set[str] = set()
    notes: list[str] = []
    by_name = {name.casefold(): cid for cid, name in viewer.channels.items()}
    for ref in query.channels:
        if ref.channel_id:
            wanted.add(ref.channel_id)
        elif ref.name and ref.name.casefold() in by_name:
            wanted.add(by_name[ref.name.casefold()])
        else:
            notes.append(f"You are not in a channel named #{ref.name}.")
            wanted.add("")  # matches nothing
    return wanted, notes


def _person_match(viewer: Viewer, ref_user: str | None, ref_name: str | None) -> ColumnElement[bool]:
    if ref_user:
        by_id: ColumnElement[bool] = getattr(Person, identity_column(viewer.platform)) == ref_user
        return by_id
    name = (ref_name or "").casefold()
    return or_(
        func.lower(Person.display_name) == name, func.lower(Person.display_name).startswith(name + " ")
    )


def seen_in_any(platform: str, channel_ids: Iterable[str]) -> ColumnElement[bool]:
    """The media has a sighting on `platform` in one of `channel_ids` (`media.seen_in`, GIN-indexed)."""
    keys = sorted({f"{platform}:{channel_id}" for channel_id in channel_ids})
    if not keys:
        return false()
    overlap: ColumnElement[bool] = Media.seen_in.overlap(literal(keys, type_=ARRAY(Text)))
    return overlap


def visible_clause(viewer: Viewer, *, pending: bool) -> ColumnElement[bool]:
    """Media shared in a conversation the viewer is in; pending only to admins and moderators."""
    channels = list(viewer.channels)
    if not pending:
        return and_(seen_in_any(viewer.platform, channels), Media.status == MediaStatus.approved)
    if viewer.is_admin:
        return and_(seen_in_any(viewer.platform, channels), Media.status == MediaStatus.pending)
    moderated = [c for c in channels if c in viewer.moderates]
    return and_(Media.status == MediaStatus.pending, seen_in_any(viewer.platform, moderated))


def build_filter(query: Query, viewer: Viewer) -> tuple[ColumnElement[bool], list[str]]:
    if query.pending and not (viewer.is_admin or viewer.moderates):
        raise QueryError("Only admins and channel moderators can search pending media", "type:photo")
    clauses: list[ColumnElement[bool]] = [visible_clause(viewer, pending=query.pending)]
    wanted, notes = _channel_ids(query, viewer)
    if wanted:
        clauses.append(seen_in_any(viewer.platform, wanted))
    for word in query.words:
        pattern = f"%{_escape_like(word)}%"
        clauses.append(
            or_(
                Media.filename.ilike(pattern, escape="\\"),
                exists().where(Tag.media_id == Media.id, Tag.tag == word.casefold()),
                # every sighting's text and file name, lower-cased, one per line (a word has no line break):
                # the same as ILIKE over the sightings, without a join
                Media.search_text.like(func.lower(pattern), escape="\\"),
            )
        )
    for tag in query.tags:
        clauses.append(exists().where(Tag.media_id == Media.id, Tag.tag == tag))
    states = [FaceState.confirmed, FaceState.suggested] if query.include_suggested else [FaceState.confirmed]
    for ref in query.people:
        clauses.append(
            exists().where(
                Face.media_id == Media.id,
                Face.state.in_(states),
                Face.person_id == Person.id,
                _person_match(viewer, ref.user_id, ref.name),
            )
        )
    for ref in query.uploaders:
        if ref.user_id:
            by: ColumnElement[bool] = Sighting.user_id == ref.user_id
        else:
            column = getattr(Person, identity_column(viewer.platform))
            by = Sighting.user_id.in_(
                select(column).where(_person_match(viewer, None, ref.name), column.is_not(None))
            )
        clauses.append(
            exists().where(Sighting.media_id == Media.id, Sighting.platform == viewer.platform, by)
        )
    when = func.coalesce(Media.taken_at, Media.created_at)
    if query.start is not None:
        clauses.append(when >= datetime.combine(query.start, time.min, tzinfo=UTC))
    if query.end is not None:
        clauses.append(when < datetime.combine(query.end, time.min, tzinfo=UTC))
    if query.media_type is not None:
        clauses.append(Media.kind == MediaKind(str(query.media_type)))
    # counters on the media row, kept by the triggers on faces (migration 0003)
    if query.has_faces:  # any face
        clauses.append(Media.face_count > 0)
    if query.has_unknown:  # a face whose state is not confirmed
        clauses.append(Media.unknown_faces > 0)
    return and_(true(), *clauses), notes


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# What a result shows besides the media row, as correlated subqueries of the page query: Postgres evaluates
# them after ORDER BY/LIMIT, for the page's rows only. One query instead of four (page, faces, tags,
# sightings) saves three round trips and the ORM objects of every face and sighting.
def _faces_of(media_id: ColumnElement[uuid.UUID], platform: str) -> ColumnElement[list[list[object]] | None]:
    """[state, name, user id, segments] of every face, by ordinal (name and id null for unknown faces)."""
    column = getattr(Person, identity_column(platform))
    face = func.jsonb_build_array(Face.state, Person.display_name, column, Face.segments)
    return (
        select(func.jsonb_agg(aggregate_order_by(face, Face.ordinal), type_=JSONB))
        .select_from(Face)
        .outerjoin(Person, Person.id == Face.person_id)
        .where(Face.media_id == media_id)
        .scalar_subquery()
    )


def _tags_of(media_id: ColumnElement[uuid.UUID]) -> ColumnElement[list[str] | None]:
    return (
        select(func.array_agg(aggregate_order_by(Tag.tag, Tag.tag)))
        .where(Tag.media_id == media_id)
        .scalar_subquery()
    )


def _first_share(media_id: ColumnElement[uuid.UUID], viewer: Viewer) -> ColumnElement[list[str] | None]:
    """[channel id, channel name, user id] of the first sighting in a conversation the viewer is in."""
    return (
        select(
            func.jsonb_build_array(Sighting.channel_id, Sighting.channel_name, Sighting.user_id, type_=JSONB)
        )
        .where(
            Sighting.media_id == media_id,
            Sighting.platform == viewer.platform,
            Sighting.channel_id.in_(list(viewer.channels)),
        )
        .order_by(Sighting.created_at)
        .limit(1)
        .scalar_subquery()
    )


async def search(
    ctx: Context, query: Query, viewer: Viewer, *, cursor: str | None = None, limit: int = PAGE
) -> SearchPage:
    """One page of results, newest first, with the number of all matches.

    One query finds the matches once: it counts them (a window over all of them) and sorts them for the
    page. Counting touches every match anyway, so sorting them too costs a little more (the viewer's
    24,000 visible media: an 80 ms scan, +40 ms to count and sort, where a count and then a walk down
    ix_media_created_at took 50-90 ms); but the walk reads most of the table when the matches are few or
    old, and the tail of the query mix is made of those. Measured on 100,000 media at load average 7-8:
    `#offsite has:unknown before:2022-11` was a 110 ms count then an 830 ms walk (89,000 rows), now 110 ms
    in all; `@name is:suggested` was 180 ms + 1.4 s, now 45 ms (with migration 0004's index).
    """
    where, notes = build_filter(query, viewer)
    matches = (
        select(
            Media.id,
            Media.kind,
            Media.status,
            Media.filename,
            Media.bucket,
            Media.created_at,
            Media.taken_at,
            Media.processed_at,
            Media.duration_s,
            func.count().over().label("total"),
        )
        .where(where)
        .subquery("matches")
    )
    page = select(
        matches,
        _faces_of(matches.c.id, viewer.platform).label("faces"),
        _tags_of(matches.c.id).label("tags"),
        _first_share(matches.c.id, viewer).label("share"),
    )
    if cursor:  # outside the window: the total counts every match, the page starts after the cursor
        position = decode_cursor(cursor)
        try:
            after_id = uuid.UUID(str(position.media_id))
        except ValueError:
            raise QueryError("That page link is broken or too old; run the search again", "@alice") from None
        page = page.where(
            or_(
                matches.c.created_at < position.sort_at,
                and_(matches.c.created_at == position.sort_at, matches.c.id < after_id),
            )
        )
    page = page.order_by(matches.c.created_at.desc(), matches.c.id.desc()).limit(limit + 1)
    async with ctx.db.session() as session:
        rows = list((await session.execute(page)).mappings())
        total = rows[0]["total"] if rows else 0
        if not rows and cursor:  # past the last page: count the matches on their own
            total = (await session.execute(select(func.count()).select_from(Media).where(where))).scalar_one()
    more = len(rows) > limit
    rows = rows[:limit]
    results = [await _result(ctx, row, viewer) for row in rows]
    next_cursor = encode_cursor(rows[-1]["created_at"], str(rows[-1]["id"])) if more and rows else None
    return SearchPage(results=tuple(results), total=int(total), next_cursor=next_cursor, notes=tuple(notes))


async def _result(ctx: Context, row: RowMapping, viewer: Viewer) -> SearchResult:
    faces, share = row["faces"] or [], row["share"]
    people = [
        ResultPerson(
            name=name,
            user_id=user_id,
            confirmed=state == FaceState.confirmed,
            segments=tuple((float(a), float(b)) for a, b in (segments or [])),
        )
        for state, name, user_id, segments in faces
        if state != FaceState.unknown and name is not None
    ]
    channel_id, channel_name, shared_by = share or ("", None, "")
    media_id, bucket, filename = row["id"], row["bucket"], row["filename"]
    has_renditions = row["processed_at"] is not None
    return SearchResult(
        media_id=media_id,
        kind=row["kind"].value if row["kind"] else "photo",
        status=row["status"].value,
        filename=filename,
        channel_id=channel_id,
        channel_name=(viewer.channels.get(channel_id) if share else None) or channel_name,
        shared_by=shared_by,
        shared_at=row["created_at"],
        taken_at=row["taken_at"],
        people=tuple(people),
        unknown_faces=len(faces) - len(people),
        tags=tuple(row["tags"] or ()),
        thumb_url=await presign(ctx, media_id, bucket, THUMB_NAME) if has_renditions else None,
        desktop_url=await presign(ctx, media_id, bucket, DESKTOP_NAME) if has_renditions else None,
        original_url=await presign(ctx, media_id, bucket, "original", filename=filename),
        duration_s=row["duration_s"],
    )
