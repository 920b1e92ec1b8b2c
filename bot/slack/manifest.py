"""The Slack app manifest to paste at api.slack.com/apps: manifest/slack.yaml made ready for one install.

Over HTTP, Slack posts events, interactivity and `/photos` to `${FACETAG_PUBLIC_URL}/slack/events`; the
template's placeholder becomes the install's https address. With Socket Mode (`SLACK_APP_TOKEN`), Slack
sends all of it over the WebSocket instead: the manifest then turns `socket_mode_enabled` on and has no
request URLs (Slack ignores them in Socket Mode, and none is public).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import yaml
from yarl import URL

from storage.settings import Settings, SettingsError

PLACEHOLDER = "${FACETAG_PUBLIC_URL}"


def template() -> str:
    return files("manifest").joinpath("slack.yaml").read_text(encoding="utf-8")


def render_manifest(settings: Settings, *, socket_mode: bool) -> dict[str, Any]:
    """The manifest for this install; SettingsError when HTTP mode has no https FACETAG_PUBLIC_URL."""
    if socket_mode:
        manifest: dict[str, Any] = yaml.safe_load(template())
        for command in manifest["features"].get("slash_commands", []):
            command.pop("url", None)
        manifest["settings"]["event_subscriptions"].pop("request_url", None)
        manifest["settings"]["interactivity"].pop("request_url", None)
        manifest["settings"]["socket_mode_enabled"] = True
        return manifest
    base = _public_url(settings)
    rendered: dict[str, Any] = yaml.safe_load(template().replace(PLACEHOLDER, base))
    return rendered


def _public_url(settings: Settings) -> str:
    if not settings.public_url:
        raise SettingsError(
            "FACETAG_PUBLIC_URL must be set (the https address Slack posts to), or use --socket-mode"
        )
    url = URL(settings.public_url)
    if url.scheme != "https" or not url.host or url.query_string or url.fragment:
        raise SettingsError("FACETAG_PUBLIC_URL must be a plain https:// URL for Slack to post to")
    return str(url).rstrip("/")


def dump(manifest: dict[str, Any]) -> str:
    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
