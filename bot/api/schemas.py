"""Request and response bodies of the REST API; their JSON Schemas make the OpenAPI document."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

_NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid UTF-8") from None
    return value


Text = Annotated[str, StringConstraints(pattern=_NO_CONTROL), AfterValidator(_utf8)]
Line = Annotated[str, StringConstraints(pattern=_ONE_LINE), AfterValidator(_utf8)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x20\x7f]+$")]
Scope = Literal["media:read", "media:write", "people:read", "people:write", "admin"]
Platform = Literal["slack", "teams"]
Cursor = Annotated[str, StringConstraints(max_length=1024, pattern=r"^[A-Za-z0-9_-]*$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------------------- requests


class SearchParams(Model):
    q: Annotated[
        Line, Field(max_length=1000, description="The /photos query language, e.g. `@alice #offsite`")
    ] = ""
    cursor: Annotated[Cursor | None, Field(description="`next_cursor` of the previous page")] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class PeopleParams(Model):
    name: Annotated[Line | None, Field(max_length=200, description="Part of the name")] = None
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class MediaPath(Model):
    media_id: uuid.UUID


class TagPath(Model):
    media_id: uuid.UUID
    tag: Annotated[Line, Field(min_length=1, max_length=100)]


class PersonPath(Model):
    person_id: uuid.UUID


class IdentityPath(Model):
    person_id: uuid.UUID
    platform: Platform


class FacePath(Model):
    face_id: uuid.UUID


class UploadPath(Model):
    upload_id: uuid.UUID


class TokenPath(Model):
    token_id: uuid.UUID


class TagsBody(Model):
    tags: Annotated[list[Annotated[Line, Field(max_length=100)]], Field(min_length=1, max_length=50)]


class RejectBody(Model):
    reason: Annotated[Line, Field(max_length=500)] = ""


class UploadBody(Model):
    filename: Annotated[Line, Field(min_length=1, max_length=500)]
    content_type: Annotated[
        str,
        Field(
            pattern=r"^(image|video)/[A-Za-z0-9][A-Za-z0-9.+-]{0,80}$",
            description="image/… or video/…; send it as Content-Type on the PUT",
        ),
    ]
    size_bytes: Annotated[int, Field(ge=1, le=2**53)]
    channel_id: Annotated[Id, Field(description="Where the upload is shared (visibility, approval)")]
    sha256: Annotated[str | None, Field(pattern=r"^[0-9a-fA-F]{64}$", description="Checked on complete")] = (
        None
    )
    text: Annotated[
        Text, Field(max_length=4000, description="Like a chat message: #hashtags become tags")
    ] = ""
    multipart: Annotated[bool | None, Field(description="Default: multipart above 64 MiB")] = None


class PartBody(Model):
    part_number: Annotated[int, Field(ge=1, le=10000)]
    etag: Annotated[
        Line, Field(min_length=1, max_length=200, description="The ETag header of the part's PUT")
    ]


class CompleteBody(Model):
    parts: Annotated[list[PartBody] | None, Field(max_length=10000, description="Multipart uploads only")] = (
        None
    )


class RenameBody(Model):
    name: Annotated[Line, Field(min_length=1, max_length=200)]


class MergeBody(Model):
    person_id: Annotated[uuid.UUID, Field(description="This person is merged into the one in the path")]


class SplitBody(Model):
    name: Annotated[
        Line | None,
        Field(max_length=200, description="A new person for the face; none: the face becomes unknown"),
    ] = None


class IdentityBody(Model):
    user_id: Id


class TokenBody(Model):
    name: Annotated[Line, Field(min_length=1, max_length=200)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=5)]
    platform: Platform = "slack"
    user_id: Annotated[Id | None, Field(max_length=64, description="Act for this chat user")] = None
    channels: Annotated[
        list[Id], Field(default_factory=list, max_length=500, description="A service token's channels")
    ]


# ---------------------------------------------------------------------------------------- responses


class ProblemOut(Model):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, object]] | None = None


class TokenOut(Model):
    id: uuid.UUID
    name: str
    scopes: list[str]
    platform: str
    user_id: str | None
    channels: list[str]
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewTokenOut(Model):
    token: TokenOut
    secret: Annotated[str, Field(description="Shown once: only its SHA-256 is stored")]


class TokensOut(Model):
    tokens: list[TokenOut]


class LinksOut(Model):
    thumbnail: str | None
    desktop: str | None
    original: str | None


class PersonRefOut(Model):
    id: uuid.UUID
    name: str
    slack_user_id: str | None
    teams_aad_id: str | None


class BoxOut(Model):
    left: int
    top: int
    right: int
    bottom: int


class FaceOut(Model):
    id: uuid.UUID
    ordinal: int
    box: Annotated[BoxOut, Field(description="Pixels of the full-size picture (video: of its best frame)")]
    state: Literal["unknown", "suggested", "confirmed"]
    person: PersonRefOut | None
    confidence: float | None
    decided_by: str | None
    segments: list[list[float]]


class ShareOut(Model):
    platform: str
    channel_id: str
    channel_name: str | None
    user_id: str
    shared_at: datetime


class ApprovalOut(Model):
    state: Literal["receiving", "processing", "pending", "approved", "failed"]
    approved_at: datetime | None
    approved_by: str | None


class MediaOut(Model):
    id: uuid.UUID
    kind: Literal["photo", "video"]
    mime: str | None
    size_bytes: int | None
    filename: str | None
    width: int | None
    height: int | None
    duration_s: float | None
    taken_at: datetime | None
    camera: str | None
    created_at: datetime
    processed_at: datetime | None
    approval: ApprovalOut
    error: str | None
    faces: list[FaceOut]
    tags: list[str]
    shares: list[ShareOut]
    links: LinksOut


class ResultPersonOut(Model):
    name: str
    user_id: str | None
    confirmed: bool
    segments: list[list[float]]


class SearchItemOut(Model):
    id: uuid.UUID
    kind: str
    status: str
    filename: str | None
    channel_id: str
    channel_name: str | None
    shared_by: str
    shared_at: datetime
    taken_at: datetime | None
    duration_s: float | None
    people: list[ResultPersonOut]
    unknown_faces: int
    tags: list[str]
    links: LinksOut


class SearchOut(Model):
    query: str
    description: str
    total: int
    items: list[SearchItemOut]
    next_cursor: str | None
    notes: list[str]


class TagsOut(Model):
    media_id: uuid.UUID
    tags: list[str]


class PartUrlOut(Model):
    part_number: int
    url: str


class UploadOut(Model):
    upload_id: uuid.UUID
    method: Literal["PUT"]
    url: Annotated[str | None, Field(description="PUT the whole file here (single uploads)")]
    headers: Annotated[dict[str, str], Field(description="Send these headers with the PUT")]
    part_size: Annotated[int | None, Field(description="Multipart: every part but the last has this size")]
    parts: list[PartUrlOut]
    expires_at: datetime


class CompletedOut(Model):
    upload_id: uuid.UUID
    media_id: uuid.UUID
    status: str
    duplicate: bool


class PersonOut(Model):
    id: uuid.UUID
    name: str
    slack_user_id: str | None
    teams_aad_id: str | None
    confirmed_faces: int
    suggested_faces: int
    created_at: datetime


class PeopleOut(Model):
    people: list[PersonOut]
    next_cursor: str | None


class SplitOut(Model):
    face_id: uuid.UUID
    media_id: uuid.UUID
    state: str
    person: PersonOut | None
