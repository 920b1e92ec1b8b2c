from __future__ import annotations
import asyncio
from bot.api import tokens as api_tokens
from bot.api.limiter import RateLimiter
from handlers import tokens
from storage.settings import Settings
from tests.support.app import run_app
from tests.test_api_schema import _fuzz

async def test_sanity(settings: Settings, monkeypatch) -> None:
    async def boom(call):
        raise RuntimeError("boom")
    monkeypatch.setattr(api_tokens.ENDPOINTS[0], "handler", boom) if False else None
    async with run_app(settings, worker=False) as app:
        ep = app.doors.api.endpoints[0]
        object.__setattr__(ep, "handler", boom)
        app.doors.api.limiter = RateLimiter(rate=10_000, burst=100_000)
        new = await tokens.create_token(app.ctx.db, name="s", scopes=list(tokens.SCOPES), channels=["C1"], created_by="t")
        ops, calls, failures = await asyncio.to_thread(_fuzz, app.url, new.secret)
        print(ops, calls, len(failures), failures[0][:300])
        assert failures
