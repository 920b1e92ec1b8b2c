"""The Bot Framework signing keys: fetched from MICROSOFT_JWKS_URL, cached, refreshed on an unknown `kid`."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

log = logging.getLogger(__name__)


class JwksUnavailableError(RuntimeError):
    """The key set could not be fetched and no cached copy exists."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    key: jwt.PyJWK
    endorsements: frozenset[str] | None  # Bot Framework keys list the channels they may sign for


def _parse(document: Any) -> dict[str, SigningKey]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksUnavailableError("JWKS document has no 'keys' array")
    keys: dict[str, SigningKey] = {}
    for raw in document["keys"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
            continue
        if raw.get("use", "sig") != "sig" or raw.get("kty") != "RSA":
            continue
        try:
            parsed = jwt.PyJWK(raw, algorithm="RS256")
        except jwt.PyJWTError:
            log.warning("skipping unusable JWKS key %s", raw.get("kid"))
            continue
        endorsements = raw.get("endorsements")
        keys[raw["kid"]] = SigningKey(
            kid=raw["kid"],
            key=parsed,
            endorsements=frozenset(str(e) for e in endorsements) if isinstance(endorsements, list) else None,
        )
    return keys


class JwksCache:
    """Async key cache. Refetches after `ttl` seconds, or when a token names an unknown `kid` —
    but at most once per `min_refresh` seconds, so forged `kid`s cannot turn into a request flood."""

    def __init__(self, url: str, *, ttl: float, min_refresh: float, timeout: float = 10.0) -> None:
        self._url = url
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> SigningKey | None:
        """The key named `kid`, or None when the key set does not contain it."""
        now = time.monotonic()
        fresh = self._fetched_at is not None and now - self._fetched_at < self._ttl
        if fresh and kid in self._keys:
            return self._keys[kid]
        may_refresh = self._fetched_at is None or now - self._fetched_at >= self._min_refresh
        if may_refresh or not fresh:
            await self._refresh(kid)
        return self._keys.get(kid)

    async def _refresh(self, kid: str) -> None:
        async with self._lock:
            if self._fetched_at is not None:
                age = time.monotonic() - self._fetched_at
                if age < self._ttl and (kid in self._keys or age < self._min_refresh):
                    return  # another waiter refreshed while we queued
            try:
                async with (
                    aiohttp.ClientSession(timeout=self._timeout) as session,
                    session.get(self._url, headers={"Accept": "application/json"}) as response,
                ):
                    response.raise_for_status()
                    document = await response.json(content_type=None)
                self._keys = _parse(document)
                self._fetched_at = time.monotonic()
            except (aiohttp.ClientError, TimeoutError, ValueError, JwksUnavailableError) as exc:
                if self._fetched_at is None:
                    raise JwksUnavailableError(f"cannot fetch {self._url}: {exc}") from exc
                log.warning("JWKS refresh failed, keeping %d cached keys: %s", len(self._keys), exc)
                self._fetched_at = time.monotonic() - self._ttl + self._min_refresh
