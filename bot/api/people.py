"""People endpoints: list, get, rename, merge, split a face off, link chat identities."""

from __future__ import annotations

from pydantic import BaseModel

from bot.api.problems import Problem
from bot.api.schemas import (
    FacePath,
    IdentityBody,
    IdentityPath,
    MergeBody,
    PeopleOut,
    PeopleParams,
    PersonOut,
    PersonPath,
    RenameBody,
    SplitBody,
    SplitOut,
)
from bot.api.table import Call, Endpoint
from handlers import people, tagging
from handlers.query import QueryError
from storage.models import Face


def person_out(person: people.PersonSummary) -> PersonOut:
    return PersonOut(
        id=person.id,
        name=person.name,
        slack_user_id=person.slack_user_id,
        teams_aad_id=person.teams_aad_id,
        confirmed_faces=person.confirmed_faces,
        suggested_faces=person.suggested_faces,
        created_at=person.created_at,
    )


def _problem(exc: people.PeopleError) -> Problem:
    return Problem(404 if isinstance(exc, people.PersonMissing) else 409, str(exc))


async def list_people(call: Call) -> BaseModel:
    params = call.query_as(PeopleParams)
    try:
        page = await people.list_people(call.ctx, name=params.name, cursor=params.cursor, limit=params.limit)
    except QueryError as exc:
        raise Problem(400, exc.problem) from None
    return PeopleOut(people=[person_out(p) for p in page.people], next_cursor=page.next_cursor)


async def get_person(call: Call) -> BaseModel:
    try:
        return person_out(await people.get_person(call.ctx, person_id=call.params_as(PersonPath).person_id))
    except people.PeopleError as exc:
        raise _problem(exc) from None


async def rename_person(call: Call) -> BaseModel:
    try:
        person = await people.rename_person(
            call.ctx, person_id=call.params_as(PersonPath).person_id, name=call.body_as(RenameBody).name
        )
    except people.PeopleError as exc:
        raise _problem(exc) from None
    return person_out(person)


async def merge_people(call: Call) -> BaseModel:
    try:
        person = await people.merge_people(
            call.ctx, keep_id=call.params_as(PersonPath).person_id, merge_id=call.body_as(MergeBody).person_id
        )
    except people.PeopleError as exc:
        raise _problem(exc) from None
    return person_out(person)


async def split_face(call: Call) -> BaseModel:
    face_id = call.params_as(FacePath).face_id
    async with call.ctx.db.session() as session:
        face = await session.get(Face, face_id)
        media_id = face.media_id if face is not None else None
    if media_id is None or not await tagging.can_see(call.ctx, media_id=media_id, viewer=await call.viewer()):
        raise Problem(404, "There is no such face, or this token cannot see its media.")
    name = call.body_as(SplitBody).name if call.body is not None else None
    try:
        done = await people.split_face(call.ctx, face_id=face_id, name=name, actor=call.actor)
    except people.PeopleError as exc:
        raise _problem(exc) from None
    return SplitOut(
        face_id=done.face_id,
        media_id=done.media_id,
        state=done.state,
        person=person_out(done.person) if done.person else None,
    )


async def link_identity(call: Call) -> BaseModel:
    path = call.params_as(IdentityPath)
    try:
        person = await people.link_identity(
            call.ctx,
            person_id=path.person_id,
            platform=path.platform,
            user_id=call.body_as(IdentityBody).user_id,
        )
    except people.PeopleError as exc:
        raise _problem(exc) from None
    return person_out(person)


async def unlink_identity(call: Call) -> BaseModel:
    path = call.params_as(IdentityPath)
    try:
        person = await people.link_identity(
            call.ctx, person_id=path.person_id, platform=path.platform, user_id=None
        )
    except people.PeopleError as exc:
        raise _problem(exc) from None
    return person_out(person)


ENDPOINTS = (
    Endpoint(
        "GET",
        "/people",
        "listPeople",
        "List people, newest first",
        "people",
        list_people,
        "people:read",
        PeopleOut,
        query=PeopleParams,
    ),
    Endpoint(
        "GET",
        "/people/{person_id}",
        "getPerson",
        "One person",
        "people",
        get_person,
        "people:read",
        PersonOut,
        params=PersonPath,
    ),
    Endpoint(
        "PATCH",
        "/people/{person_id}",
        "renamePerson",
        "Rename a person",
        "people",
        rename_person,
        "people:write",
        PersonOut,
        params=PersonPath,
        body=RenameBody,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        "/people/{person_id}/merge",
        "mergePeople",
        "Merge another person into this one",
        "people",
        merge_people,
        "people:write",
        PersonOut,
        params=PersonPath,
        body=MergeBody,
        errors=(409,),
        description="Faces, rejections and chat identities move over; the other person is deleted.",
    ),
    Endpoint(
        "PUT",
        "/people/{person_id}/identities/{platform}",
        "linkIdentity",
        "Link a person to a chat user",
        "people",
        link_identity,
        "people:write",
        PersonOut,
        params=IdentityPath,
        body=IdentityBody,
        errors=(409,),
    ),
    Endpoint(
        "DELETE",
        "/people/{person_id}/identities/{platform}",
        "unlinkIdentity",
        "Unlink a person from their chat user",
        "people",
        unlink_identity,
        "people:write",
        PersonOut,
        params=IdentityPath,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        "/faces/{face_id}/split",
        "splitFace",
        "Split a face off its person: to a new person, or back to unknown",
        "people",
        split_face,
        "people:write",
        SplitOut,
        params=FacePath,
        body=SplitBody,
        errors=(409,),
        description="The old person is never suggested for that face again.",
    ),
)
