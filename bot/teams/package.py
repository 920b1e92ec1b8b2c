"""The Teams app package: manifest/teams/manifest.json with its placeholders filled, plus the two icons.

Placeholders: {{MICROSOFT_APP_ID}} (Teams app id, bot id, webApplicationInfo id),
{{FACETAG_PUBLIC_URL}} (https base URL, no trailing slash), {{FACETAG_PUBLIC_HOST}} (its host).
"""

from __future__ import annotations

import json
import re
import zipfile
from importlib.resources import files
from pathlib import Path
from typing import Any

from yarl import URL

from storage.settings import Settings, SettingsError

PACKAGE_NAME = "facetag-teams.zip"
ICONS = ("color.png", "outline.png")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)  # fixed, so the same inputs give the same bytes


def _asset(name: str) -> bytes:
    return files("manifest").joinpath("teams", name).read_bytes()


def placeholder_values(settings: Settings) -> dict[str, str]:
    """The substitutions, or SettingsError naming what is missing."""
    app_id = settings.microsoft_app_id
    if not app_id or not _GUID.match(app_id):
        raise SettingsError(
            "MICROSOFT_APP_ID must be set to the bot's Entra app id (a GUID) to build the package"
        )
    if not settings.public_url:
        raise SettingsError(
            "FACETAG_PUBLIC_URL must be set (the https address Teams reaches) to build the package"
        )
    url = URL(settings.public_url.strip())
    if url.scheme != "https" or not url.host or url.user or url.query_string or url.fragment:
        raise SettingsError("FACETAG_PUBLIC_URL must be a plain https:// URL to build the Teams package")
    if url.explicit_port not in (None, 443):
        raise SettingsError("FACETAG_PUBLIC_URL must use the default https port for Teams")
    base = str(url.with_path(url.path.rstrip("/"))).rstrip("/")
    return {"MICROSOFT_APP_ID": app_id.lower(), "FACETAG_PUBLIC_URL": base, "FACETAG_PUBLIC_HOST": url.host}


def _fill(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            if match.group(1) not in values:
                raise SettingsError(f"manifest placeholder {match.group(0)} has no value")
            return values[match.group(1)]

        return _PLACEHOLDER.sub(replace, node)
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    return node


def render_manifest(settings: Settings) -> dict[str, Any]:
    """manifest.json with every placeholder replaced (substituted per JSON string, never as raw text)."""
    template = json.loads(_asset("manifest.json"))
    filled: dict[str, Any] = _fill(template, placeholder_values(settings))
    return filled


def build_package(settings: Settings, out: Path) -> Path:
    """Write the upload zip (manifest.json, color.png, outline.png at its root); return its path.

    `out` is the zip file when it ends in .zip, otherwise a directory that receives facetag-teams.zip.
    """
    manifest = render_manifest(settings)
    target = out if out.suffix == ".zip" else out / PACKAGE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    entries = {"manifest.json": json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n"}
    entries.update({name: _asset(name) for name in ICONS})
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    tmp.replace(target)
    return target
