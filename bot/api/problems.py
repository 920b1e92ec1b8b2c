"""Errors as RFC 9457 `application/problem+json`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web

PROBLEM_TYPE = "application/problem+json"
_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid",
    429: "rate-limited",
    500: "server-error",
    502: "upstream-error",
    503: "unavailable",
}


class Problem(Exception):
    """Raise to answer with a problem document; `detail` is one plain sentence for the caller."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = errors


def slug(status: int) -> str:
    return _SLUGS.get(status, "error")


def problem_response(problem: Problem, *, instance: str | None = None) -> web.Response:
    body: dict[str, object] = {
        "type": f"/api/v1/problems/{slug(problem.status)}",
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance is not None:
        body["instance"] = instance
    if problem.errors is not None:
        body["errors"] = problem.errors
    return web.Response(
        status=problem.status,
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        content_type=PROBLEM_TYPE,
        headers=problem.headers,
    )
