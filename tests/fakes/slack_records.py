"""What the fake Slack records, and the outage knobs tests set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Call:
    """One Web API call: the method, the arguments as parsed, the status and the JSON answered."""

    method: str
    args: dict[str, Any]
    response: dict[str, Any]
    status: int = 200

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return error if isinstance(error, str) else None


@dataclass(frozen=True, slots=True)
class Download:
    """One GET of a file URL; `authorized` is False when the sign-in page was served instead."""

    file_id: str
    authorized: bool
    status: int


@dataclass(frozen=True, slots=True)
class UploadPost:
    ticket: str
    size: int
    status: int


@dataclass(slots=True)
class Outage:
    """The next `remaining` calls fail: HTTP `status` (429 with Retry-After), or 200 with `error`."""

    status: int
    remaining: int
    retry_after: int = 1
    error: str | None = None

    def body(self) -> dict[str, Any] | None:
        if self.error is not None:
            return {"ok": False, "error": self.error}
        if self.status == 429:
            return {"ok": False, "error": "ratelimited"}
        return None


@dataclass(slots=True)
class Knobs:
    outages: dict[str, list[Outage]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)

    def take_outage(self, name: str) -> Outage | None:
        queue = self.outages.get(name, [])
        while queue and queue[0].remaining <= 0:
            queue.pop(0)
        if not queue:
            return None
        queue[0].remaining -= 1
        return queue[0]
