"""API tokens: create (shown once, stored as a SHA-256), verify, revoke, list.

A token acts either for one chat user (`platform` + `user_id`: it sees what that user sees) or as
a service limited to the channels it lists (`platform` + `channels`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update

from storage.db import Database
from storage.models import ApiToken

PREFIX = "ft_"
SCOPES: tuple[str, ...] = ("media:read", "media:write", "people:read", "people:write", "admin")
PLATFORMS: tuple[str, ...] = ("slack", "teams")
TOUCH_EVERY = timedelta(seconds=60)
"""`last_used_at` is written at most this often per token."""

_SECRET = re.compile(r"ft_[A-Za-z0-9_-]{20,100}")
_ID = re.compile(r"[^\x00-\x20\x7f]{1,200}")


class TokenError(ValueError):
    """The token cannot be created as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: uuid.UUID
    name: str
    scopes: tuple[str, ...]
    platform: str
    user_id: str | None  # set: acts for this chat user
    channels: tuple[str, ...]  # a service token's channels (a user's, where the platform cannot say)
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def is_service(self) -> bool:
        return self.user_id is None

    @property
    def actor_id(self) -> str:
        """Who the token's actions are recorded as."""
        return self.user_id if self.user_id is not None else f"token:{self.id}"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class NewToken:
    info: TokenInfo
    secret: str  # shown once; only its hash is stored


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        scopes=tuple(row.scopes),
        platform=row.platform or "slack",
        user_id=row.user_id,
        channels=tuple(row.channels or ()),
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def check_request(
    *, name: str, scopes: list[str], platform: str, user_id: str | None, channels: list[str]
) -> tuple[str, list[str], list[str]]:
    """Validated (name, scopes, channels); TokenError with a plain sentence otherwise."""
    name = name.strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise TokenError("Give the token a name of 1 to 200 printable characters.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise TokenError(f"Unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}.")
    if not scopes:
        raise TokenError(f"Give the token at least one scope: {', '.join(SCOPES)}.")
    if platform not in PLATFORMS:
        raise TokenError(f"The platform is one of {', '.join(PLATFORMS)}.")
    cleaned = list(dict.fromkeys(c.strip() for c in channels if c.strip()))
    if any(not _ID.fullmatch(c) for c in cleaned) or (user_id is not None and not _ID.fullmatch(user_id)):
        raise TokenError("Channel and user ids are 1 to 200 characters without spaces.")
    if user_id is None and not cleaned:
        raise TokenError("A token acts for one chat user (--user) or for listed channels (--channel).")
    if user_id is not None and len(user_id) > 64:
        raise TokenError("The user id is at most 64 characters.")
    return name, [s for s in SCOPES if s in scopes], cleaned


async def create_token(
    db: Database,
    *,
    name: str,
    scopes: list[str],
    platform: str = "slack",
    user_id: str | None = None,
    channels: list[str] | None = None,
    created_by: str,
) -> NewToken:
    name, ordered, cleaned = check_request(
        name=name, scopes=scopes, platform=platform, user_id=user_id, channels=channels or []
    )
    secret = PREFIX + secrets.token_urlsafe(32)
    async with db.session() as session:
        row = ApiToken(
            id=uuid.uuid4(),
            name=name,
            token_hash=digest(secret),
            scopes=ordered,
            platform=platform,
            user_id=user_id,
            channels=cleaned,
            created_by=created_by[:64],
        )
        session.add(row)
        await session.flush()
        await session.refresh(row)
        return NewToken(info=_info(row), secret=secret)


async def verify_token(db: Database, *, secret: str) -> TokenInfo | None:
    """The live token for a presented secret; None for unknown, malformed or revoked ones."""
    if not _SECRET.fullmatch(secret):
        return None
    now = datetime.now(UTC)
    async with db.session() as session:
        row = (
            await session.execute(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
        ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        await session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == row.id,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_EVERY),
            )
            .values(last_used_at=now)
        )
        return _info(row)


async def revoke_token(db: Database, *, token_id: uuid.UUID) -> bool:
    """Revoke a token at once; False when there is no such live token."""
    async with db.session() as session:
        done = await session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
            .returning(ApiToken.id)
        )
        return done.scalar_one_or_none() is not None


async def get_token(db: Database, *, token_id: uuid.UUID) -> TokenInfo | None:
    async with db.session() as session:
        row = await session.get(ApiToken, token_id)
        return _info(row) if row else None


async def list_tokens(db: Database, *, include_revoked: bool = False) -> list[TokenInfo]:
    query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    async with db.session() as session:
        return [_info(row) for row in (await session.execute(query)).scalars()]
