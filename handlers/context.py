"""Everything a use case needs, handed over by the app wiring."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from handlers.metrics import Metrics
from handlers.ports import ChatPort
from processing.pool import PixelPool
from storage.db import Database
from storage.matching import FaceMatcher
from storage.objects import ObjectStore
from storage.queue import JobQueue
from storage.settings import Settings


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    db: Database
    store: ObjectStore
    queue: JobQueue
    pixels: PixelPool
    matcher: FaceMatcher
    chats: Mapping[str, ChatPort]
    metrics: Metrics
    # Shared files come from the chat file hosts over these kept-alive connections (no cookie jar).
    downloads: aiohttp.ClientSession

    def chat(self, platform: str) -> ChatPort:
        try:
            return self.chats[platform]
        except KeyError:
            raise LookupError(f"no chat door for platform {platform!r} is configured") from None
