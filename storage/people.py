"""People and their chat identities."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Person

_IDENTITY_COLUMNS = {"slack": "slack_user_id", "teams": "teams_aad_id"}


def identity_column(platform: str) -> str:
    try:
        return _IDENTITY_COLUMNS[platform]
    except KeyError:
        raise ValueError(f"people cannot be linked to {platform!r} users") from None


async def person_for_user(session: AsyncSession, *, platform: str, user_id: str, name: str) -> Person:
    """The person linked to a chat user, created on first use (safe under concurrency)."""
    column = identity_column(platform)
    await session.execute(
        insert(Person)
        .values(display_name=name, **{column: user_id})
        .on_conflict_do_nothing(index_elements=[column])
    )
    person = (await session.execute(select(Person).where(getattr(Person, column) == user_id))).scalar_one()
    if name and person.display_name != name and person.display_name == user_id:
        person.display_name = name
    return person
