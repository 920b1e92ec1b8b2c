"""The Teams app package: schema-valid manifest, icons of the right size, refuses to build half-configured."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from PIL import Image

from bot.teams.package import build_package, render_manifest
from storage.settings import Settings, SettingsError, load_settings
from tests.support.shared import FIXTURES

SCHEMA = FIXTURES / "teams" / "schemas" / "MicrosoftTeams.schema.json"
TEMPLATE = Path(__file__).resolve().parents[1] / "manifest" / "teams" / "manifest.json"
APP_ID = "3f2b8c1d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "MICROSOFT_APP_ID": APP_ID,
        "MICROSOFT_APP_PASSWORD": "fake-client-secret~not-a-real-one",
        "MICROSOFT_APP_TENANT_ID": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "FACETAG_PUBLIC_URL": "https://photos.contoso.example/",
    }
    values.update(overrides)
    return load_settings(**values)


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return schema


def test_manifest_validates_against_the_teams_schema() -> None:
    manifest = render_manifest(_settings())
    schema = _schema()
    validator_class = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_class(schema).iter_errors(manifest), key=lambda e: list(e.absolute_path))
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []
    # draft-04 ignores `const`; check the pinned schema version by hand
    assert manifest["manifestVersion"] == schema["properties"]["manifestVersion"]["const"]
    assert manifest["$schema"].endswith(f"/v{manifest['manifestVersion']}/MicrosoftTeams.schema.json")


def test_manifest_declares_what_the_bot_needs() -> None:
    manifest = render_manifest(_settings())
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert bot["supportsFiles"] is True
    [extension] = manifest["composeExtensions"]
    [command] = extension["commands"]
    assert (command["id"], command["type"]) == ("searchPhotos", "query")
    assert [p["name"] for p in command["parameters"]] == ["query"]
    rsc = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert {"name": "ChannelMessage.Read.Group", "type": "Application"} in rsc
    assert manifest["webApplicationInfo"]["id"] == APP_ID
    assert manifest["validDomains"] == ["photos.contoso.example"]
    assert manifest["developer"]["privacyUrl"] == "https://photos.contoso.example/privacy"
    assert "{{" not in json.dumps(manifest)


def test_template_uses_only_known_placeholders() -> None:
    found = set(re.findall(r"\{\{(\w+)\}\}", TEMPLATE.read_text(encoding="utf-8")))
    assert found == {"MICROSOFT_APP_ID", "FACETAG_PUBLIC_URL", "FACETAG_PUBLIC_HOST"}


def test_package_zip_has_manifest_and_icons_at_the_root(tmp_path: Path) -> None:
    path = build_package(_settings(), tmp_path / "out")
    assert path == tmp_path / "out" / "facetag-teams.zip"
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        color = Image.open(io.BytesIO(archive.read("color.png")))
        outline = Image.open(io.BytesIO(archive.read("outline.png"))).convert("RGBA")
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert (color.format, color.size) == ("PNG", (192, 192))
    assert outline.size == (32, 32)
    alphas = [outline.getpixel((x, y)) for x in range(32) for y in range(32)]
    visible = [p for p in alphas if isinstance(p, tuple) and p[3] > 0]
    assert visible, "outline icon is empty"
    assert len(visible) < len(alphas), "outline icon needs a transparent background"
    assert {p[:3] for p in visible} == {(255, 255, 255)}, "outline icon must be white on transparent"


def test_package_is_reproducible_and_accepts_a_zip_path(tmp_path: Path) -> None:
    first = build_package(_settings(), tmp_path / "a.zip")
    second = build_package(_settings(), tmp_path / "b.zip")
    assert first.name == "a.zip"
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"FACETAG_PUBLIC_URL": None}, "FACETAG_PUBLIC_URL"),
        ({"FACETAG_PUBLIC_URL": "http://photos.contoso.example"}, "https"),
        ({"FACETAG_PUBLIC_URL": "https://photos.contoso.example:8443"}, "port"),
        ({"MICROSOFT_APP_ID": "not-a-guid"}, "MICROSOFT_APP_ID"),
    ],
)
def test_refuses_to_build_without_app_id_and_public_url(
    tmp_path: Path, overrides: dict[str, object], complaint: str
) -> None:
    with pytest.raises(SettingsError, match=complaint):
        build_package(_settings(**overrides), tmp_path)
    assert not any(tmp_path.iterdir())


def test_refuses_to_build_when_teams_is_off(tmp_path: Path) -> None:
    settings = load_settings(FACETAG_PUBLIC_URL="https://photos.contoso.example")
    if settings.microsoft_app_id:  # pragma: no cover - a developer's .env enabled Teams
        pytest.skip("MICROSOFT_APP_ID comes from the environment")
    with pytest.raises(SettingsError, match="MICROSOFT_APP_ID"):
        build_package(settings, tmp_path)
