"""Who owns a team: the owners of a team moderate its channels (approve or reject what is shared there)
that they are members of. Owning a team is not being in each of its channels (private and shared
channels have their own members), so callers (bot.teams.viewers) only ask about channels whose roster
has the user; this module answers "who owns the team", per team, nothing about channels.

  team → Entra group id   `channelData.team.aadGroupId` when the share's activity carried it, else
                          GET {serviceUrl}v3/teams/{teamId} (`aadGroupId`; kept, it never changes)
  group id → owners       Microsoft Graph (bot.teams.graph), cached per team for `ttl`

Fail closed: an owner list that cannot be read means "no owners". A refusal (4xx: the team did not
grant TeamMember.Read.Group, the bot was removed) is logged and cached like an answer, so Graph is
not asked again on every search; throttling, 5xx, timeouts and anything unexpected are logged, not
cached, and answered with None, so that callers do not cache what they built from it either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.teams.activities import Address
from bot.teams.connector import Connector, ConnectorError, TeamsTransientError
from bot.teams.graph import Graph, GraphError

log = logging.getLogger(__name__)

OWNERS_TTL = 60.0
OWNERS_TIMEOUT = 3.0  # the team lookup and every Graph page together; extensions answer within 5 s


class TeamOwners:
    """Owners of Teams teams (Entra object ids), per (serviceUrl, team id)."""

    def __init__(
        self,
        connector: Connector,
        graph: Graph,
        *,
        ttl: float = OWNERS_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connector = connector
        self.graph = graph
        self.ttl = ttl
        self._clock = clock
        self._groups: dict[tuple[str, str], str] = {}
        self._owners: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}

    def forget(self) -> None:
        self._owners.clear()

    async def of(self, where: Address) -> frozenset[str] | None:
        """The owners of the team of a channel conversation (empty elsewhere); None: unknown right now."""
        if not where.team_id:
            return frozenset()
        key = (where.service_url, where.team_id)
        cached = self._owners.get(key)
        if cached and self._clock() - cached[0] < self.ttl:
            return cached[1]
        try:
            owners = await asyncio.wait_for(self._read(key, where), OWNERS_TIMEOUT)
        except (TeamsTransientError, TimeoutError) as exc:
            log.warning("teams: cannot read the owners of %s now: %s", key[1], exc or type(exc).__name__)
            return None
        except (ConnectorError, GraphError) as exc:
            log.warning("teams: cannot read the owners of %s: %s", key[1], exc)
            owners = frozenset()
        except Exception:  # e.g. no Graph token: fail closed, never crash a search
            log.exception("teams: cannot read the owners of %s", key[1])
            return None
        self._owners[key] = (self._clock(), owners)
        return owners

    async def _read(self, key: tuple[str, str], where: Address) -> frozenset[str]:
        group = where.aad_group_id or self._groups.get(key)
        if group is None:
            group = await self.connector.team_group_id(where)
            if group is None:
                log.warning("teams: the connector gave no Entra group id for team %s", key[1])
                return frozenset()
            self._groups[key] = group
        return await self.graph.team_owners(group)
