"""Shared plumbing of the Teams fakes: fixture paths, activity.schema.json checks, local servers."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import jsonschema  # type: ignore[import-untyped]
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.shared import FIXTURES

ACTIVITY_SCHEMA = FIXTURES / "teams" / "botframework" / "activity.schema.json"
CONNECTOR_SWAGGER = FIXTURES / "teams" / "botframework" / "botframework-channel.swagger.json"

Json = dict[str, Any]


# --------------------------------------------------------------------------- schema


@functools.cache
def _activity_validator() -> Any:
    schema = json.loads(ACTIVITY_SCHEMA.read_text(encoding="utf-8"))
    root = {
        "$schema": schema["$schema"],
        "definitions": schema["definitions"],
        "$ref": "#/definitions/Activity",
    }
    return jsonschema.Draft7Validator(root)


@functools.cache
def _swagger_definitions() -> Json:
    definitions: Json = json.loads(CONNECTOR_SWAGGER.read_text(encoding="utf-8"))["definitions"]
    return definitions


def connector_shape_errors(definition: str, body: object) -> list[str]:
    """Every way `body` breaks the swagger definition `definition` (e.g. "PagedMembersResult")."""
    root = {"definitions": _swagger_definitions(), "$ref": f"#/definitions/{definition}"}
    errors = jsonschema.Draft4Validator(root).iter_errors(body)
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def activity_errors(activity: Mapping[str, Any]) -> list[str]:
    """Every violation of activity.schema.json, as 'path: message' lines (empty when valid)."""
    errors = _activity_validator().iter_errors(dict(activity))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def validate_activity(activity: Mapping[str, Any]) -> None:
    problems = activity_errors(activity)
    if problems:
        raise AssertionError("activity violates activity.schema.json:\n" + "\n".join(problems))


# --------------------------------------------------------------------------- local server


class LocalServer:
    """An aiohttp app on 127.0.0.1 and a free port; `async with` starts and stops it."""

    def __init__(self) -> None:
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


@functools.cache
def fixed_rsa_key(slot: str) -> rsa.RSAPrivateKey:
    """One RSA key per role, generated once per test run (key generation is the slow part)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def connector_error(status: int, code: str, message: str) -> web.Response:
    """The connector's ErrorResponse shape (swagger definition ErrorResponse)."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
