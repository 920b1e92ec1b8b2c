"""schemathesis against the served OpenAPI document: no 5xx, every response matches the schema."""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from bot.api.limiter import RateLimiter
from handlers import tokens
from storage.models import Person
from storage.settings import Settings
from tests.support.app import run_app

EXAMPLES = 12


def _fuzz(url: str, secret: str) -> tuple[int, int, list[str]]:
    """Every operation with a bounded number of generated cases; returns (operations, calls, failures)."""
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {secret}"}
    failures: list[str] = []
    operations = calls = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1

        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case[Any]) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(
                base_url=url,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
            )

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis reports a FailureGroup
            failures.append(f"{operation.label}: {exc}")
    return operations, calls, failures


async def test_schemathesis_finds_no_server_errors_and_no_schema_drift(settings: Settings) -> None:
    async with run_app(settings, worker=False) as app:
        app.doors.api.limiter = RateLimiter(rate=10_000, burst=100_000)
        new = await tokens.create_token(
            app.ctx.db, name="schemathesis", scopes=list(tokens.SCOPES), channels=["C1"], created_by="tests"
        )
        async with app.ctx.db.session() as session:
            session.add(Person(display_name="Someone", slack_user_id="U1"))
        operations, calls, failures = await asyncio.to_thread(_fuzz, app.url, new.secret)
        assert operations == len(app.doors.api.endpoints)
        assert calls >= 3 * operations
        assert not failures, "\n\n".join(failures)
