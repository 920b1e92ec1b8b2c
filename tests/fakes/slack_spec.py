"""What each Slack Web API method requires, read from the recorded slack-api-ref fixtures.

The fake Slack enforces these (required arguments, bot scopes) and only answers error codes that
the reference documents for the method, plus the errors common to every method.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.support.shared import FIXTURES

SLACK_FIXTURES = FIXTURES / "slack"
METHODS_DIR = SLACK_FIXTURES / "slack-api-ref" / "methods"
API_SAMPLES_DIR = SLACK_FIXTURES / "java-slack-sdk" / "api"
EVENT_SAMPLES_DIR = SLACK_FIXTURES / "java-slack-sdk" / "events"
APP_BACKEND_SAMPLES_DIR = SLACK_FIXTURES / "java-slack-sdk" / "app-backend"
MANIFEST_SCHEMA_DIR = SLACK_FIXTURES / "manifest-schema"

# The four conversation types, and the scope family prefix each one needs.
SCOPE_PREFIX_BY_TYPE = {"public_channel": "channels", "private_channel": "groups", "im": "im", "mpim": "mpim"}

# `invalid_auth` is global in Slack; the reference lists it under auth.test and in several examples.
GLOBAL_ERRORS = frozenset({"invalid_auth", "not_authed"})

# Methods the fake serves that the recorded reference does not cover; transcribed from docs.slack.dev.
_LOCAL_SPECS: dict[str, dict[str, Any]] = {
    "views.update": {
        "http_method": "POST",
        "json_input": True,
        "required": ("view",),
        "scopes": (),
        "errors": (
            "duplicate_external_id",
            "hash_conflict",
            "not_found",
            "view_too_large",
            "invalid_arguments",
        ),
    },
    "users.conversations": {
        "http_method": "GET",
        "json_input": False,
        "required": (),
        "scopes": ("channels:read", "groups:read", "im:read", "mpim:read"),
        "errors": ("invalid_cursor", "invalid_limit", "invalid_types", "user_not_found", "missing_scope"),
    },
}


# What Slack answers when a required argument is missing, where the method documents a fitting code.
_MISSING_ARGUMENT_ERRORS = {
    "channel": "channel_not_found",
    "ts": "message_not_found",
    "user": "user_not_found",
    "file": "file_not_found",
    "files": "file_not_found",
    "length": "missing_argument",
    "filename": "missing_argument",
    "name": "invalid_name",
    "timestamp": "no_item_specified",
}
_MISSING_ARGUMENT_OVERRIDES = {
    ("chat.postEphemeral", "user"): "user_not_in_channel",
    ("reactions.add", "channel"): "no_item_specified",
}


def missing_argument_error(method: str, arg: str) -> str:
    return _MISSING_ARGUMENT_OVERRIDES.get((method, arg)) or _MISSING_ARGUMENT_ERRORS.get(
        arg, "invalid_arguments"
    )


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    http_method: str
    required: tuple[str, ...]  # without `token`
    bot_scopes: tuple[str, ...]  # any one of a per-conversation-type family, else all
    errors: frozenset[str]  # every code the method may answer
    json_input: bool = False  # does the method read a JSON body? Others ignore one.

    @property
    def per_conversation_type(self) -> bool:
        prefixes = {scope.split(":", 1)[0] for scope in self.bot_scopes}
        return len(self.bot_scopes) > 1 and prefixes <= set(SCOPE_PREFIX_BY_TYPE.values())


@cache
def common_errors() -> frozenset[str]:
    data = json.loads((METHODS_DIR / "_errors_common.json").read_text())
    return frozenset(data["errors"]) | GLOBAL_ERRORS


def _example_errors(examples: dict[str, Any] | None) -> set[str]:
    found: set[str] = set()
    for example in (examples or {}).values():
        body = example.get("example") if isinstance(example, dict) else None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            found.add(body["error"])
    return found


@cache
def method_spec(name: str) -> MethodSpec:
    path = METHODS_DIR / f"{name}.json"
    if not path.exists():
        local = _LOCAL_SPECS[name]
        return MethodSpec(
            name=name,
            http_method=local["http_method"],
            required=tuple(local["required"]),
            bot_scopes=tuple(local["scopes"]),
            errors=frozenset(local["errors"]) | common_errors(),
            json_input=local["json_input"],
        )
    data = json.loads(path.read_text())
    required = tuple(arg for arg in data.get("args", {}).get("required", []) if arg != "token")
    errors = set(data.get("errors") or {}) | _example_errors(data.get("examples"))
    return MethodSpec(
        name=name,
        http_method=data.get("http_method", "POST"),
        required=required,
        bot_scopes=tuple((data.get("scope") or {}).get("bot", [])),
        errors=frozenset(errors) | common_errors(),
        json_input=bool(data.get("json_input_supported")),
    )


def has_reference(name: str) -> bool:
    return (METHODS_DIR / f"{name}.json").exists()


def api_sample(name: str) -> dict[str, Any] | None:
    """The recorded (blanked) response sample for a method, if there is one."""
    path = API_SAMPLES_DIR / f"{name}.json"
    if not path.exists():
        return None
    sample: dict[str, Any] = json.loads(path.read_text())
    return sample


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
