"""The tables: media, where it was seen, faces, people, tags, channel settings, API tokens."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

EMBEDDING_DIM = 128


class Base(DeclarativeBase):
    pass


class MediaKind(enum.StrEnum):
    photo = "photo"
    video = "video"


class MediaStatus(enum.StrEnum):
    """Where the media is in its life: ingest → processed → approved (or gone)."""

    receiving = "receiving"
    processing = "processing"
    pending = "pending"
    approved = "approved"
    failed = "failed"


class FaceState(enum.StrEnum):
    unknown = "unknown"
    suggested = "suggested"
    confirmed = "confirmed"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda members: [m.value for m in members])


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Person(Base):
    __tablename__ = "people"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    display_name: Mapped[str] = mapped_column(String(200))
    slack_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    teams_aad_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _now()


class Media(Base):
    __tablename__ = "media"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    kind: Mapped[MediaKind | None] = mapped_column(_enum(MediaKind, "media_kind"))
    mime: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    filename: Mapped[str | None] = mapped_column(String(500))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    camera: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[MediaStatus] = mapped_column(
        _enum(MediaStatus, "media_status"), default=MediaStatus.receiving, nullable=False
    )
    bucket: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    info: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _now()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    # Search index, kept by the triggers on sightings (migration 0002); never written by the application:
    # "<platform>:<channel_id>" of every sighting, and every sighting's text and file name (lower-cased).
    seen_in: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]"), nullable=False, deferred=True
    )
    search_text: Mapped[str] = mapped_column(Text, server_default=text("''"), nullable=False, deferred=True)
    # Face counters, kept by the triggers on faces (migration 0003); never written by the application:
    # all faces of the media (has:faces), and those whose state is not confirmed (has:unknown).
    face_count: Mapped[int] = mapped_column(Integer, server_default=text("0"), nullable=False, deferred=True)
    unknown_faces: Mapped[int] = mapped_column(
        Integer, server_default=text("0"), nullable=False, deferred=True
    )

    sightings: Mapped[list[Sighting]] = relationship(back_populates="media", cascade="all, delete-orphan")
    faces: Mapped[list[Face]] = relationship(back_populates="media", cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_media_created_at", "created_at"),
        Index("ix_media_status", "status"),
        Index("ix_media_seen_in", "seen_in", postgresql_using="gin"),
    )


class Sighting(Base):
    """One time a media was shared somewhere: a chat message, an API upload."""

    __tablename__ = "sightings"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    media_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(64), default="")
    channel_id: Mapped[str] = mapped_column(String(200))
    channel_name: Mapped[str | None] = mapped_column(String(200))
    channel_private: Mapped[bool] = mapped_column(Boolean, default=False)
    file_id: Mapped[str] = mapped_column(String(500))
    user_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    filename: Mapped[str | None] = mapped_column(String(500))
    message_ref: Mapped[str | None] = mapped_column(String(200))
    thread_ref: Mapped[str | None] = mapped_column(String(200))
    reply_ref: Mapped[str | None] = mapped_column(String(200))
    conversation: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    error_reported: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _now()

    media: Mapped[Media | None] = relationship(back_populates="sightings")

    __table_args__ = (
        UniqueConstraint("platform", "file_id", name="uq_sightings_platform_file"),
        Index("ix_sightings_media", "media_id"),
        Index("ix_sightings_channel", "platform", "channel_id"),
        Index("ix_sightings_user", "platform", "user_id"),
    )


class Face(Base):
    """A face in a photo, or one person's track in a video."""

    __tablename__ = "faces"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    media_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    box: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    embedding: Mapped[list[float]] = mapped_column(Vector(EMBEDDING_DIM))
    state: Mapped[FaceState] = mapped_column(_enum(FaceState, "face_state"), default=FaceState.unknown)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    distance: Mapped[float | None] = mapped_column(Float)
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    crop_key: Mapped[str | None] = mapped_column(String(300))
    segments: Mapped[list[list[float]] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()

    media: Mapped[Media] = relationship(back_populates="faces")
    person: Mapped[Person | None] = relationship()

    __table_args__ = (
        CheckConstraint("state = 'unknown' OR person_id IS NOT NULL", name="ck_faces_person_when_named"),
        Index("ix_faces_media", "media_id"),
        Index("ix_faces_media_open", "media_id", postgresql_where=text("state <> 'confirmed'")),
        Index("ix_faces_person", "person_id", "state", "media_id"),
        Index("ix_faces_cluster", "cluster_id"),
        Index(
            "ix_faces_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
        Index(
            "ix_faces_confirmed_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
            postgresql_where=text("state = 'confirmed'"),
        ),
    )


class FaceRejection(Base):
    """Someone said this face is not that person: never suggest it again."""

    __tablename__ = "face_rejections"

    face_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    rejected_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()


class Tag(Base):
    __tablename__ = "tags"

    media_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_tags_tag", "tag"),)


class ChannelSettings(Base):
    __tablename__ = "channel_settings"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    auto_approve: Mapped[bool] = mapped_column(Boolean, default=False)
    moderators: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = _now()


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    platform: Mapped[str | None] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(String(64))
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Upload(Base):
    """A direct-to-S3 upload started through the API and not yet completed."""

    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    token_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(200))
    multipart_id: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text, default="")
    completed_media_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _now()
