"""Search the library: the /photos query language, only what the viewer may see, presigned links."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import (
    ColumnElement,
    Interval,
    Select,
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
from sqlalchemy.dialects.postgresql import ARRAY

from handlers.context import Context
from handlers.query import Query, QueryError, decode_cursor, encode_cursor
from processing.images import DESKTOP_NAME, THUMB_NAME
from storage.models import Face, FaceState, Media, MediaKind, MediaStatus, Person, Sighting, Tag
from storage.people import identity_column

PAGE = 10


async def presign(ctx: Context, media: Media, name: str, *, filename: str | None = None) -> str:
    """A link to one of a media's objects (`original`, a rendition), valid for PRESIGN_TTL_SECONDS."""
    return await ctx.store.presign_get(
        bucket=media.bucket or ctx.settings.bucket_pending,
        key=f"{media.id}/{name}",
        ttl=ctx.settings.presign_ttl_seconds,
        filename=filename,
    )


# Fewer matches than this: the page is sorted from the matches rather than read off ix_media_created_at.
SORT_MATCHES_BELOW = 200


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


async def search(
    ctx: Context, query: Query, viewer: Viewer, *, cursor: str | None = None, limit: int = PAGE
) -> SearchPage:
    where, notes = build_filter(query, viewer)
    page: Select[Media] = select(Media).where(where)
    if cursor:
        position = decode_cursor(cursor)
        try:
            after_id = uuid.UUID(str(position.media_id))
        except ValueError:
            raise QueryError("That page link is broken or too old; run the search again", "@alice") from None
        page = page.where(
            or_(
                Media.created_at < position.sort_at,
                and_(Media.created_at == position.sort_at, Media.id < after_id),
            )
        )
    async with ctx.db.session() as session:
        total = int(
            (await session.execute(select(func.count()).select_from(Media).where(where))).scalar_one()
        )
        # Newest first. Walking ix_media_created_at backwards until `limit + 1` rows pass the filter is
        # fast when many media match, but reads most of the index when few do (a rare word, a person
        # nobody is tagged as): then sort the matches instead; the same order, a key the index cannot serve.
        newest: ColumnElement[datetime] = Media.created_at.expression
        if total <= SORT_MATCHES_BELOW:
            newest = Media.created_at + literal(timedelta(0), Interval())
        page = page.order_by(newest.desc(), Media.id.desc()).limit(limit + 1)
        media = list((await session.execute(page)).scalars()) if total else []
        more = len(media) > limit
        media = media[:limit]
        results = await _describe(ctx, session, media, viewer)
    next_cursor = encode_cursor(media[-1].created_at, str(media[-1].id)) if more and media else None
    return SearchPage(results=tuple(results), total=total, next_cursor=next_cursor, notes=tuple(notes))


async def _describe(ctx: Context, session: object, media: list[Media], viewer: Viewer) -> list[SearchResult]:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    if not media:
        return []
    ids = [m.id for m in media]
    column = getattr(Person, identity_column(viewer.platform))
    faces = await session.execute(
        select(Face.media_id, Face.state, Face.segments, Person.display_name, column)
        .outerjoin(Person, Person.id == Face.person_id)
        .where(Face.media_id.in_(ids))
        .order_by(Face.ordinal)
    )
    people: dict[uuid.UUID, list[ResultPerson]] = defaultdict(list)
    unknown: dict[uuid.UUID, int] = defaultdict(int)
    for media_id, state, segments, name, user_id in faces:
        if state == FaceState.unknown or name is None:
            unknown[media_id] += 1
            continue
        people[media_id].append(
            ResultPerson(
                name=name,
                user_id=user_id,
                confirmed=state == FaceState.confirmed,
                segments=tuple((float(a), float(b)) for a, b in (segments or [])),
            )
        )
    tags: dict[uuid.UUID, list[str]] = defaultdict(list)
    for media_id, tag in await session.execute(
        select(Tag.media_id, Tag.tag).where(Tag.media_id.in_(ids)).order_by(Tag.tag)
    ):
        tags[media_id].append(tag)
    sightings: dict[uuid.UUID, Sighting] = {}
    rows = await session.execute(
        select(Sighting)
        .where(
            Sighting.media_id.in_(ids),
            Sighting.platform == viewer.platform,
            Sighting.channel_id.in_(list(viewer.channels)),
        )
        .order_by(Sighting.created_at)
    )
    for sighting in rows.scalars():
        sightings.setdefault(sighting.media_id, sighting)  # type: ignore[arg-type]
    results = []
    for m in media:
        s = sightings.get(m.id)
        has_renditions = m.processed_at is not None
        results.append(
            SearchResult(
                media_id=m.id,
                kind=m.kind.value if m.kind else "photo",
                status=m.status.value,
                filename=m.filename,
                channel_id=s.channel_id if s else "",
                channel_name=(viewer.channels.get(s.channel_id) if s else None)
                or (s.channel_name if s else None),
                shared_by=s.user_id if s else "",
                shared_at=m.created_at,
                taken_at=m.taken_at,
                people=tuple(people[m.id]),
                unknown_faces=unknown[m.id],
                tags=tuple(tags[m.id]),
                thumb_url=await presign(ctx, m, THUMB_NAME) if has_renditions else None,
                desktop_url=await presign(ctx, m, DESKTOP_NAME) if has_renditions else None,
                original_url=await presign(ctx, m, "original", filename=m.filename),
                duration_s=m.duration_s,
            )
        )
    return results
