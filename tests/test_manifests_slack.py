"""The shipped Slack app manifest validates against Slack's manifest schema and asks for every scope
the bot's Web API calls and event subscriptions need."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no types-jsonschema in the dev extras
import pytest
import yaml

from bot.slack.manifest import dump, render_manifest
from storage.settings import Settings, SettingsError
from tests.fakes.slack import MANIFEST, SERVED_METHODS, manifest_bot_scopes
from tests.fakes.slack_spec import MANIFEST_SCHEMA_DIR, SLACK_FIXTURES, method_spec

PLACEHOLDER = "${FACETAG_PUBLIC_URL}"
PUBLIC_URL = "https://facetag.example.org"
SCHEMAS = ("manifest.schema.1.0.0.json", "manifest.schema.2.0.0.json")
EVENTS_DIR = SLACK_FIXTURES / "slack-api-ref" / "events"


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def manifest(public_url: str | None = PUBLIC_URL) -> dict[str, Any]:
    text = MANIFEST.read_text()
    if public_url is not None:
        text = text.replace(PLACEHOLDER, public_url)
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def errors(instance: Any, schema_name: str) -> list[str]:
    schema = load(MANIFEST_SCHEMA_DIR / schema_name)
    validator = jsonschema.Draft7Validator(schema)
    return sorted("/".join(map(str, e.absolute_path)) for e in validator.iter_errors(instance))


@pytest.mark.parametrize(
    ("example", "schema", "valid"),
    [
        ("v1.manifest.valid.json", SCHEMAS[0], True),
        ("v1.manifest.invalid.json", SCHEMAS[0], False),
        ("v2.manifest.valid.json", SCHEMAS[1], True),
        ("v2.manifest.invalid.json", SCHEMAS[1], False),
    ],
)
def test_the_schemas_own_examples(example: str, schema: str, valid: bool) -> None:
    """A check of how the validator is used: Slack's examples come out as Slack says."""
    jsonschema.Draft7Validator.check_schema(load(MANIFEST_SCHEMA_DIR / schema))
    assert (errors(load(MANIFEST_SCHEMA_DIR / example), schema) == []) is valid


@pytest.mark.parametrize("schema", SCHEMAS)
def test_manifest_validates_with_a_public_url(schema: str) -> None:
    assert errors(manifest(), schema) == []


def test_the_placeholder_is_only_where_urls_go_and_must_be_replaced() -> None:
    assert errors(manifest(public_url=None), SCHEMAS[0]) == [
        "features/slash_commands/0/url",
        "settings/event_subscriptions/request_url",
        "settings/interactivity/request_url",
    ]
    assert [v for v in strings(manifest(public_url=None)) if PLACEHOLDER in v] == [
        f"{PLACEHOLDER}/slack/events"
    ] * 3


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_what_the_schema_leaves_to_a_non_standard_keyword() -> None:
    """`background_color` is constrained with `regex`, which JSON Schema validators ignore."""
    color = manifest()["display_information"]["background_color"]
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", color)


def test_features_and_settings() -> None:
    m = manifest()
    features, settings = m["features"], m["settings"]
    assert features["app_home"] == {
        "home_tab_enabled": True,
        "messages_tab_enabled": True,
        "messages_tab_read_only_enabled": False,
    }
    assert features["bot_user"]["display_name"]
    [command] = features["slash_commands"]
    assert (command["command"], command["url"]) == ("/photos", f"{PUBLIC_URL}/slack/events")
    [shortcut] = features["shortcuts"]
    assert (shortcut["name"], shortcut["type"], shortcut["callback_id"]) == (
        "Tag this photo",
        "message",
        "tag_media",
    )
    assert settings["interactivity"] == {"is_enabled": True, "request_url": f"{PUBLIC_URL}/slack/events"}
    assert settings["event_subscriptions"]["request_url"] == f"{PUBLIC_URL}/slack/events"
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "message.channels",
        "message.groups",
        "message.im",
        "message.mpim",
        "file_shared",
        "app_home_opened",
        "member_joined_channel",
    }
    assert settings["socket_mode_enabled"] is False


def test_scopes_cover_every_method_the_bot_calls() -> None:
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    needed = {scope for method in SERVED_METHODS for scope in method_spec(method).bot_scopes}
    assert needed - scopes == set()
    assert {"commands"} <= scopes  # slash commands and shortcuts


def test_scopes_cover_every_subscribed_event() -> None:
    m = manifest()
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    for event in m["settings"]["event_subscriptions"]["bot_events"]:
        needed = set(load(EVENTS_DIR / f"{event}.json")["scopes"])
        # an event needing one scope per conversation type is delivered for each granted type; we want all
        assert needed - scopes == set(), event


def test_the_fake_installs_what_the_manifest_asks_for() -> None:
    assert manifest_bot_scopes() == set(manifest()["oauth_config"]["scopes"]["bot"])


def _settings(**env: str) -> Settings:
    return Settings.model_validate(env)


def _urls(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items() if k in ("url", "request_url")] + [
            u for v in value.values() for u in _urls(v)
        ]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return []


def test_the_rendered_http_manifest_is_the_template_with_the_public_url() -> None:
    rendered = render_manifest(_settings(FACETAG_PUBLIC_URL=PUBLIC_URL + "/"), socket_mode=False)
    assert rendered == manifest()
    assert yaml.safe_load(dump(rendered)) == rendered


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_socket_mode_manifest_validates_and_has_no_request_urls(schema: str) -> None:
    rendered = render_manifest(_settings(), socket_mode=True)
    assert errors(rendered, schema) == []
    assert _urls(rendered) == []
    assert rendered["settings"]["socket_mode_enabled"] is True
    # everything else is the HTTP manifest's
    http = manifest()
    http["settings"]["socket_mode_enabled"] = True
    assert _urls(http) != []
    del http["features"]["slash_commands"][0]["url"]
    del http["settings"]["event_subscriptions"]["request_url"]
    del http["settings"]["interactivity"]["request_url"]
    assert rendered == http


@pytest.mark.parametrize("url", [None, "http://facetag.example.org", "https://facetag.example.org/?x=1"])
def test_an_http_manifest_needs_a_plain_https_public_url(url: str | None) -> None:
    settings = _settings(**({"FACETAG_PUBLIC_URL": url} if url else {}))
    with pytest.raises(SettingsError, match="FACETAG_PUBLIC_URL"):
        render_manifest(settings, socket_mode=False)
