"""Who a Teams user is and which conversations they may see media of (`handlers.search.Viewer`).

Teams has no "conversations of this user" API for bots, so the door starts from what it knows: the
conversations facetag has Teams sightings in. For each one:
  personal chat   only its owner (every sighting there was sent by that user; no connector call)
  group chat      the chat's roster     GET {serviceUrl}v3/conversations/{chat id}/pagedmembers
  channel         the channel's roster  GET {serviceUrl}v3/conversations/{channel id}/pagedmembers
(the channel's conversation id without `;messageid=…`: a standard channel answers the team's members,
a private or shared channel only its own). Rosters are cached per (serviceUrl, chat or channel) and
viewers per user, both for `VIEWER_TTL`; they are read concurrently, all within `ROSTER_TIMEOUT`. A
roster that cannot be read counts as "not a member" (fail closed) and the viewer is then not cached.

Owners of a team (bot.teams.owners, Microsoft Graph) moderate its channels that they are members of:
those channels join `Viewer.moderates` (a private channel's owner-but-not-member does not see it, so
does not moderate it either). Owners that cannot be read count as "not an owner", and after a
transient failure the viewer is not cached either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on

from bot.teams.activities import PLATFORM, Address
from bot.teams.cards import Member
from bot.teams.connector import Connector, TeamsTransientError
from bot.teams.owners import TeamOwners
from handlers import roles
from handlers.context import Context
from handlers.ports import Actor
from handlers.search import Viewer
from storage.models import Sighting

log = logging.getLogger(__name__)

VIEWER_TTL = 60.0
ROSTER_TIMEOUT = 3.0  # all roster reads of one request; the messaging extension answers within 5 s
CONCURRENT_ROSTERS = 8
PERSONAL = "personal"
CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class _Conversation:
    channel_id: str  # as sightings store it
    name: str
    where: Address

    @property
    def roster_key(self) -> tuple[str, str]:
        """The conversation whose members may see it: the chat, or the channel (not its team)."""
        return _roster_key(self.where)

    @property
    def team_key(self) -> tuple[str, str]:
        """The team of a channel (owners are per team); no team id outside channels."""
        return self.where.service_url, self.where.team_id or ""


def _roster_key(where: Address) -> tuple[str, str]:
    """Whose roster a conversation's members are, as cached: (serviceUrl, chat or channel id)."""
    return where.service_url, where.base_conversation


@dataclass(frozen=True, slots=True)
class _Roster:
    members: tuple[Member, ...]
    ids: frozenset[str]  # their Entra object ids


def _conversation_type() -> ColumnElement[str]:
    kind: ColumnElement[str] = Sighting.conversation.op("->>")("conversation_type")
    return kind


class TeamsViewers:
    """Builds and caches `Viewer`s for Teams users (keyed by Entra object id)."""

    def __init__(
        self,
        ctx: Context,
        connector: Connector,
        *,
        owners: TeamOwners | None = None,
        ttl: float = VIEWER_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        self.connector = connector
        self.owners = owners  # None: nobody is a team owner (no Graph)
        self.ttl = ttl
        self._clock = clock
        self._viewers: dict[str, tuple[float, Viewer]] = {}
        self._rosters: dict[tuple[str, str], tuple[float, _Roster]] = {}
        self._reads: dict[tuple[str, str], asyncio.Task[_Roster]] = {}  # rosters being read

    async def close(self) -> None:
        """Stop roster reads still running in the background (the app is shutting down)."""
        reads = list(self._reads.values())
        for read in reads:
            read.cancel()
        await asyncio.gather(*reads, return_exceptions=True)

    def forget(self, user_id: str | None = None) -> None:
        """Drop cached viewers (one user's, or everyone's and every roster)."""
        if user_id is None:
            self._viewers.clear()
            self._rosters.clear()
            if self.owners is not None:
                self.owners.forget()
        else:
            self._viewers.pop(user_id, None)

    async def get(self, user_id: str) -> Viewer:
        """Every conversation this user may see media of."""
        cached = self._viewers.get(user_id)
        if cached and self._clock() - cached[0] < self.ttl:
            return cached[1]
        channels, owned, complete = await self._channels(user_id)
        viewer = await self._viewer(user_id, channels)
        if owned:
            viewer = replace(viewer, moderates=viewer.moderates | owned)
        if complete:
            self._viewers[user_id] = (self._clock(), viewer)
        return viewer

    async def here(self, user_id: str, channel_id: str, name: str) -> Viewer:
        """Only the conversation the user is talking in (whatever is shown there, all its members see)."""
        return await self._viewer(user_id, {channel_id: name})

    async def owned(self, user_id: str, channel_ids: set[str]) -> frozenset[str]:
        """Those of these channels (ids as sightings store them) that the user is in and whose team
        they own."""
        if self.owners is None or not channel_ids:
            return frozenset()
        async with self.ctx.db.session() as session:
            rows = await session.execute(
                select(Sighting.channel_id, Sighting.channel_name, Sighting.conversation)
                .where(
                    Sighting.platform == PLATFORM,
                    Sighting.channel_id.in_(channel_ids),
                    _conversation_type() == CHANNEL,
                )
                .ext(distinct_on(Sighting.channel_id))
                .order_by(Sighting.channel_id, Sighting.created_at.desc())
            )
            channels = [
                _Conversation(str(cid), str(name or ""), Address.from_mapping(conversation or {}))
                for cid, name, conversation in rows
            ]
        member_of, _ = await self._member_of(user_id, channels)
        owned, _ = await self._owned_teams(user_id, member_of)
        return owned

    async def reviewer(self, viewer: Viewer) -> Viewer:
        """For admins reviewing pending media: every Teams conversation (admins may approve anything)."""
        if not viewer.is_admin:
            return viewer
        async with self.ctx.db.session() as session:
            rows = await session.execute(
                select(Sighting.channel_id, func.max(Sighting.channel_name))
                .where(Sighting.platform == PLATFORM)
                .group_by(Sighting.channel_id)
            )
            channels = {str(cid): str(name or "a chat") for cid, name in rows}
        return Viewer(
            platform=PLATFORM,
            user_id=viewer.user_id,
            channels=channels,
            is_admin=True,
            moderates=viewer.moderates,
        )

    async def _viewer(self, user_id: str, channels: dict[str, str]) -> Viewer:
        actor = Actor(PLATFORM, user_id)
        return Viewer(
            platform=PLATFORM,
            user_id=user_id,
            channels=channels,
            is_admin=roles.is_admin(self.ctx, actor, platform_admin=False),
            moderates=await roles.moderated_channels(self.ctx, actor),
        )

    async def _channels(self, user_id: str) -> tuple[dict[str, str], frozenset[str], bool]:
        """The conversations the user is in, the channels among them they own, and whether every
        roster and owner list could be read (else the answer is not cached)."""
        personal, shared = await self._conversations(user_id)
        channels = dict(personal)
        member_of, complete = await self._member_of(user_id, shared)
        channels.update((c.channel_id, c.name) for c in member_of)
        owned, owners_complete = await self._owned_teams(user_id, member_of)
        return channels, owned, complete and owners_complete

    async def _member_of(
        self, user_id: str, conversations: list[_Conversation]
    ) -> tuple[list[_Conversation], bool]:
        """Those of `conversations` whose roster has the user (one read per chat or channel, at most
        `CONCURRENT_ROSTERS` at a time, all within `ROSTER_TIMEOUT`); False when a roster could not be
        read now."""
        keys = {c.roster_key: c.where for c in conversations}
        gate = asyncio.Semaphore(CONCURRENT_ROSTERS)
        deadline = asyncio.get_running_loop().time() + ROSTER_TIMEOUT

        async def read(key: tuple[str, str], where: Address) -> tuple[tuple[str, str], _Roster | None]:
            async with gate:
                return key, await self._roster(key, where, deadline)

        rosters = dict(await asyncio.gather(*(read(k, w) for k, w in keys.items())))
        member_of = [c for c in conversations if (r := rosters.get(c.roster_key)) and user_id in r.ids]
        return member_of, all(r is not None for r in rosters.values())

    async def members(self, where: Address) -> tuple[Member, ...]:
        """The people of a chat or channel (cached like every roster; empty when it cannot be read
        within `ROSTER_TIMEOUT`)."""
        roster = await self._roster(
            _roster_key(where), where, asyncio.get_running_loop().time() + ROSTER_TIMEOUT
        )
        return roster.members if roster else ()

    async def _owned_teams(
        self, user_id: str, conversations: list[_Conversation]
    ) -> tuple[frozenset[str], bool]:
        """The channels among `conversations` whose team the user owns; False when an owner list
        could not be read now."""
        if self.owners is None:
            return frozenset(), True
        owners = self.owners
        teams = {c.team_key: c.where for c in conversations if c.where.team_id}
        gate = asyncio.Semaphore(CONCURRENT_ROSTERS)

        async def read(key: tuple[str, str], where: Address) -> tuple[tuple[str, str], frozenset[str] | None]:
            async with gate:
                return key, await owners.of(where)

        found = dict(await asyncio.gather(*(read(k, w) for k, w in teams.items())))
        owned = frozenset(c.channel_id for c in conversations if user_id in (found.get(c.team_key) or ()))
        return owned, all(o is not None for o in found.values())

    async def _roster(self, key: tuple[str, str], where: Address, deadline: float) -> _Roster | None:
        """A chat's or channel's members; None when they cannot be read now
        (by `deadline`, in the event loop's time). A read that misses the deadline goes on in the
        background and is cached when done, so a team too big to page through in one search's time
        is found by a later one; searches that need the same roster meanwhile share that read."""
        cached = self._rosters.get(key)
        if cached and self._clock() - cached[0] < self.ttl:
            return cached[1]
        read = self._reads.get(key)
        if read is None:
            read = self._reads[key] = asyncio.create_task(self._read_roster(key, where))
            read.add_done_callback(lambda done: self._read_done(key, done))
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(asyncio.shield(read), max(remaining, 0.0))
        except (TeamsTransientError, TimeoutError) as exc:
            log.warning("teams: cannot read the roster of %s now: %s", key[1], exc or type(exc).__name__)
            return None
        except Exception:  # e.g. no outbound token: fail closed, never crash a search
            log.exception("teams: cannot read the roster of %s", key[1])
            return None

    async def _read_roster(self, key: tuple[str, str], where: Address) -> _Roster:
        members = tuple(await self.connector.members(where))
        roster = _Roster(members, frozenset(m.aad_object_id for m in members))
        self._rosters[key] = (self._clock(), roster)
        return roster

    def _read_done(self, key: tuple[str, str], read: asyncio.Task[_Roster]) -> None:
        if self._reads.get(key) is read:
            del self._reads[key]
        if not read.cancelled():
            read.exception()  # retrieved: the searches that waited for this read have logged its failure

    async def _conversations(self, user_id: str) -> tuple[dict[str, str], list[_Conversation]]:
        """The user's own personal chats, and every group chat and channel with Teams sightings."""
        kind = _conversation_type()
        async with self.ctx.db.session() as session:
            own = await session.execute(
                select(Sighting.channel_id, func.max(Sighting.channel_name))
                .where(Sighting.platform == PLATFORM, Sighting.user_id == user_id, kind == PERSONAL)
                .group_by(Sighting.channel_id)
            )
            personal = {str(cid): str(name or "your chat with facetag") for cid, name in own}
            rows = await session.execute(
                select(Sighting.channel_id, Sighting.channel_name, Sighting.conversation)
                .where(Sighting.platform == PLATFORM, or_(kind.is_(None), kind != PERSONAL))
                .ext(distinct_on(Sighting.channel_id))
                .order_by(Sighting.channel_id, Sighting.created_at.desc())
            )
            shared = [
                _Conversation(str(cid), str(name or "a group chat"), Address.from_mapping(conversation or {}))
                for cid, name, conversation in rows
            ]
        return personal, [c for c in shared if c.where.service_url and c.roster_key[1]]
