"""The OpenAPI 3.1 document, built from the route table and the pydantic models: it cannot drift."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot.api.problems import PROBLEM_TYPE
from bot.api.schemas import ProblemOut
from bot.api.table import Endpoint

REF = "#/components/schemas/{model}"
SCOPES = {
    "media:read": "search media, read a media item and its links",
    "media:write": "upload, tag, delete own uploads",
    "people:read": "list and read people",
    "people:write": "rename, merge, split, link chat identities",
    "admin": "approve, reject, delete any media, manage tokens",
}


def _problem(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_TYPE: {"schema": {"$ref": REF.format(model="ProblemOut")}}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds until the token may call again",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        }
    return response


def _parameters(model: type[BaseModel], where: str, defs: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    defs.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        options = prop.get("anyOf")
        if options and {"type": "null"} in options and where == "query":
            # An optional query parameter is absent, never null.
            rest = [option for option in options if option != {"type": "null"}]
            prop = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
            prop.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        description = prop.pop("description", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
        }
        if description:
            parameter["description"] = description
        parameter["schema"] = prop
        parameters.append(parameter)
    return parameters


def _optional_body(model: type[BaseModel]) -> bool:
    return all(not field.is_required() for field in model.model_fields.values())


def document(endpoints: Sequence[Endpoint], *, version: str = "1.0.0") -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ProblemOut, "serialization")]
    for endpoint in endpoints:
        if endpoint.body is not None:
            wanted.append((endpoint.body, "validation"))
        if endpoint.response is not None:
            wanted.append((endpoint.response, "serialization"))
    refs, top = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF)
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        parameters: list[dict[str, Any]] = []
        if endpoint.params is not None:
            parameters += _parameters(endpoint.params, "path", defs)
        if endpoint.query is not None:
            parameters += _parameters(endpoint.query, "query", defs)
        responses: dict[str, Any] = {}
        if endpoint.response is None:
            responses[str(endpoint.status)] = {"description": HTTPStatus(endpoint.status).phrase}
        else:
            responses[str(endpoint.status)] = {
                "description": HTTPStatus(endpoint.status).phrase,
                "content": {"application/json": {"schema": refs[(endpoint.response, "serialization")]}},
            }
        errors = {401, 403, 429, *endpoint.errors}
        if endpoint.params is not None:
            errors.add(404)
        if endpoint.body is not None:
            errors |= {400, 413, 415, 422}
        if endpoint.query is not None:
            errors |= {400, 422}
        for status in sorted(errors):
            responses[str(status)] = _problem(HTTPStatus(status).phrase, retry_after=status == 429)
        operation: dict[str, Any] = {
            "operationId": endpoint.operation_id,
            "summary": endpoint.summary,
            "tags": [endpoint.tag],
            "parameters": parameters,
            "responses": responses,
            "security": [{"bearer": []}],
            "x-scope": endpoint.scope,
        }
        scope_note = f"Scope: `{endpoint.scope}`." if endpoint.scope else "Any valid token."
        operation["description"] = f"{endpoint.description}\n\n{scope_note}".strip()
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": not _optional_body(endpoint.body),
                "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
            }
        paths.setdefault(endpoint.url, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "facetag API",
            "version": version,
            "description": (
                "The facetag photo library for other internal apps. Authenticate with "
                "`Authorization: Bearer ft_…` (an admin creates tokens with `facetag token create`). "
                "Scopes: "
                + "; ".join(f"`{scope}` {what}" for scope, what in SCOPES.items())
                + ". Errors are `application/problem+json`; every token is rate limited "
                "(429 with `Retry-After`). Lists page with an opaque `cursor`."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token, `ft_…`"}
            },
        },
        "security": [{"bearer": []}],
    }
