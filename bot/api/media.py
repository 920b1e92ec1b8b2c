"""Media endpoints: search, one item, tags, approval, delete."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from bot.api.problems import Problem
from bot.api.schemas import (
    ApprovalOut,
    BoxOut,
    FaceOut,
    LinksOut,
    MediaOut,
    MediaPath,
    PersonRefOut,
    RejectBody,
    ResultPersonOut,
    SearchItemOut,
    SearchOut,
    SearchParams,
    ShareOut,
    TagPath,
    TagsBody,
    TagsOut,
)
from bot.api.table import Call, Endpoint, Reply
from handlers import approval, items, search, tagging
from handlers.ports import PersonView
from handlers.query import QueryError, describe, parse

NOT_FOUND = "There is no such media, or this token cannot see it."


def _person(person: PersonView) -> PersonRefOut:
    return PersonRefOut(
        id=person.id, name=person.name, slack_user_id=person.slack_user_id, teams_aad_id=person.teams_aad_id
    )


def media_out(detail: items.MediaDetail) -> MediaOut:
    return MediaOut(
        id=detail.id,
        kind="video" if detail.kind == "video" else "photo",
        mime=detail.mime,
        size_bytes=detail.size_bytes,
        filename=detail.filename,
        width=detail.width,
        height=detail.height,
        duration_s=detail.duration_s,
        taken_at=detail.taken_at,
        camera=detail.camera,
        created_at=detail.created_at,
        processed_at=detail.processed_at,
        approval=ApprovalOut(
            state=detail.status,
            approved_at=detail.approved_at,
            approved_by=detail.approved_by,
        ),
        error=detail.error,
        faces=[
            FaceOut(
                id=face.id,
                ordinal=face.ordinal,
                box=BoxOut(left=face.box[0], top=face.box[1], right=face.box[2], bottom=face.box[3]),
                state=face.state,
                person=_person(face.person) if face.person else None,
                confidence=face.confidence,
                decided_by=face.decided_by,
                segments=[[a, b] for a, b in face.segments],
            )
            for face in detail.faces
        ],
        tags=list(detail.tags),
        shares=[
            ShareOut(
                platform=s.platform,
                channel_id=s.channel_id,
                channel_name=s.channel_name,
                user_id=s.user_id,
                shared_at=s.shared_at,
            )
            for s in detail.shares
        ],
        links=LinksOut(thumbnail=detail.thumb_url, desktop=detail.desktop_url, original=detail.original_url),
    )


async def search_media(call: Call) -> BaseModel:
    params = call.query_as(SearchParams)
    viewer = await call.viewer()
    try:
        query = parse(params.q)
        page = await search.search(call.ctx, query, viewer, cursor=params.cursor, limit=params.limit)
    except QueryError as exc:
        raise Problem(400, str(exc)) from None
    return SearchOut(
        query=params.q,
        description=describe(query),
        total=page.total,
        next_cursor=page.next_cursor,
        notes=list(page.notes),
        items=[
            SearchItemOut(
                id=r.media_id,
                kind=r.kind,
                status=r.status,
                filename=r.filename,
                channel_id=r.channel_id,
                channel_name=r.channel_name,
                shared_by=r.shared_by,
                shared_at=r.shared_at,
                taken_at=r.taken_at,
                duration_s=r.duration_s,
                people=[
                    ResultPersonOut(
                        name=p.name,
                        user_id=p.user_id,
                        confirmed=p.confirmed,
                        segments=[[a, b] for a, b in p.segments],
                    )
                    for p in r.people
                ],
                unknown_faces=r.unknown_faces,
                tags=list(r.tags),
                links=LinksOut(thumbnail=r.thumb_url, desktop=r.desktop_url, original=r.original_url),
            )
            for r in page.results
        ],
    )


async def _detail(call: Call) -> items.MediaDetail:
    media_id = call.params_as(MediaPath).media_id
    detail = await items.media_detail(call.ctx, media_id=media_id, viewer=await call.viewer())
    if detail is None:
        raise Problem(404, NOT_FOUND)
    return detail


async def get_media(call: Call) -> BaseModel:
    return media_out(await _detail(call))


async def delete_media(call: Call) -> Reply:
    detail = await _detail(call)
    viewer = await call.viewer()
    if not (viewer.is_admin or await items.shared_by(call.ctx, media_id=detail.id, viewer=viewer)):
        raise Problem(403, "Only an admin token or whoever uploaded the media may delete it.")
    await items.delete_media(call.ctx, media_id=detail.id)
    return Reply()


async def _tags_target(call: Call) -> MediaPath:
    media_id = getattr(call.params, "media_id", None)
    assert isinstance(media_id, uuid.UUID)
    if not await tagging.can_see(call.ctx, media_id=media_id, viewer=await call.viewer()):
        raise Problem(404, NOT_FOUND)
    return MediaPath(media_id=media_id)


async def add_tags(call: Call) -> BaseModel:
    path = await _tags_target(call)
    try:
        tags = tagging.clean_tags(list(call.body_as(TagsBody).tags))
    except tagging.TaggingError as exc:
        raise Problem(422, str(exc)) from None
    now = await tagging.add_tags(call.ctx, media_id=path.media_id, tags=tags, actor=call.actor)
    return TagsOut(media_id=path.media_id, tags=now)


async def remove_tag(call: Call) -> BaseModel:
    path = await _tags_target(call)
    try:
        tags = tagging.clean_tags([call.params_as(TagPath).tag])
    except tagging.TaggingError as exc:
        raise Problem(422, str(exc)) from None
    now = await tagging.remove_tags(call.ctx, media_id=path.media_id, tags=tags, actor=call.actor)
    return TagsOut(media_id=path.media_id, tags=now)


async def _moderated(call: Call) -> items.MediaDetail:
    """Admins, and (with a user's admin-scoped token) moderators of a channel it was shared in."""
    detail = await _detail(call)
    viewer = await call.viewer()
    if viewer.is_admin:
        return detail
    if not call.token.is_service:
        channels = await approval.channels_of(call.ctx, media_id=detail.id, platform=viewer.platform)
        if channels & viewer.moderates:
            return detail
    raise Problem(403, "Only admins and this media's channel moderators may approve or reject it.")


async def approve_media(call: Call) -> BaseModel:
    detail = await _moderated(call)
    try:
        await approval.approve(call.ctx, media_id=detail.id, actor_id=call.token.actor_id)
    except approval.ApprovalError as exc:
        raise Problem(409, str(exc)) from None
    return media_out(await _detail(call))


async def reject_media(call: Call) -> Reply:
    detail = await _moderated(call)
    reason = call.body_as(RejectBody).reason if call.body is not None else ""
    try:
        await approval.reject(call.ctx, media_id=detail.id, actor_id=call.token.actor_id, reason=reason)
    except approval.ApprovalError as exc:
        raise Problem(409, str(exc)) from None
    return Reply()


ENDPOINTS = (
    Endpoint(
        "GET",
        "/media",
        "searchMedia",
        "Search with the /photos query language",
        "media",
        search_media,
        "media:read",
        SearchOut,
        query=SearchParams,
        description="Newest first; the same query language, visibility and paging as `/photos`.",
    ),
    Endpoint(
        "GET",
        "/media/{media_id}",
        "getMedia",
        "A media item: metadata, faces, tags, approval, links",
        "media",
        get_media,
        "media:read",
        MediaOut,
        params=MediaPath,
        description="Links are presigned S3 URLs that expire (PRESIGN_TTL_SECONDS).",
    ),
    Endpoint(
        "DELETE",
        "/media/{media_id}",
        "deleteMedia",
        "Delete a media and everything derived from it",
        "media",
        delete_media,
        "media:write",
        None,
        status=204,
        params=MediaPath,
        description="Admin tokens may delete anything they see; others only what they uploaded.",
    ),
    Endpoint(
        "POST",
        "/media/{media_id}/tags",
        "addTags",
        "Add tags",
        "media",
        add_tags,
        "media:write",
        TagsOut,
        params=MediaPath,
        body=TagsBody,
    ),
    Endpoint(
        "DELETE",
        "/media/{media_id}/tags/{tag}",
        "removeTag",
        "Remove a tag",
        "media",
        remove_tag,
        "media:write",
        TagsOut,
        params=TagPath,
        errors=(422,),
    ),
    Endpoint(
        "POST",
        "/media/{media_id}/approve",
        "approveMedia",
        "Approve a pending media (moves it to the approved bucket)",
        "approval",
        approve_media,
        "admin",
        MediaOut,
        params=MediaPath,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        "/media/{media_id}/reject",
        "rejectMedia",
        "Reject a pending media (removes it and everything derived from it)",
        "approval",
        reject_media,
        "admin",
        None,
        status=204,
        params=MediaPath,
        body=RejectBody,
        errors=(409,),
    ),
)
