"""Settings validation: defaults, placeholders refused, half-configured platforms refused by name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage.settings import Settings, SettingsError, load_settings

SECRETS = (
    "AWS_SECRET_ACCESS_KEY",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "MICROSOFT_APP_PASSWORD",
)

# Enough of everything else that only the secret under test can be wrong.
COMPLETE = {
    "S3_ENDPOINT_URL": "http://s3.internal:8333",
    "AWS_ACCESS_KEY_ID": "AKIAFACETAGTEST",
    "AWS_SECRET_ACCESS_KEY": "a-real-looking-secret-key",
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
    "SLACK_APP_TOKEN": "xapp-1-A1-2-abc",
    "MICROSOFT_APP_ID": "00000000-0000-0000-0000-000000000001",
    "MICROSOFT_APP_PASSWORD": "a-real-client-secret",
    "MICROSOFT_APP_TENANT_ID": "00000000-0000-0000-0000-0000000000aa",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable from the machine running the tests leaks into these settings."""
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)


def settings(**values: str) -> Settings:
    return load_settings(_env_file=None, **values)


def refused(**values: str) -> str:
    with pytest.raises(SettingsError) as caught:
        settings(**values)
    message = str(caught.value)
    assert "\n" not in message, "a settings error is one line"
    return message


def test_defaults_need_nothing() -> None:
    s = settings()
    assert s.data_dir == Path("./data")
    assert (s.host, s.port) == ("0.0.0.0", 3000)  # noqa: S104
    assert s.public_url is None
    assert (s.log_level, s.log_format) == ("info", "auto")
    assert s.database_url is None, "no DATABASE_URL means the embedded Postgres"
    assert s.s3_endpoint_url is None, "no S3_ENDPOINT_URL means the embedded SeaweedFS"
    assert (s.aws_access_key_id, s.aws_secret_access_key) == (None, None)
    assert s.s3_region == "us-east-1"
    assert s.buckets == ("facetag-pending", "facetag-approved", "facetag-faces")
    assert s.presign_ttl_seconds == 900
    assert s.public_media is False
    assert s.max_upload_bytes == 2 * 1024**3
    assert s.max_video_seconds == 3 * 3600
    assert s.worker_concurrency == 2 * (os.cpu_count() or 1)
    assert s.match_threshold is None
    assert s.admin_ids == frozenset()
    assert not s.slack_enabled
    assert not s.teams_enabled
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.slack_file_host_list == ("files.slack.com",)


def test_values_come_from_the_environment_and_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("FACETAG_PORT=4001\nFACETAG_ADMINS= U1, U2 ,,\nS3_REGION=eu-west-3\n")
    monkeypatch.setenv("S3_REGION", "eu-central-1")  # the environment wins over .env
    monkeypatch.setenv("FACETAG_DATA_DIR", "/srv/facetag")
    s = load_settings(_env_file=env_file)
    assert s.port == 4001
    assert s.admin_ids == frozenset({"U1", "U2"})
    assert s.s3_region == "eu-central-1"
    assert s.data_dir == Path("/srv/facetag")


def test_everything_configured_is_accepted() -> None:
    s = settings(**COMPLETE)
    assert s.slack_enabled
    assert s.teams_enabled
    assert s.teams_authority == "https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa"
    assert s.aws_secret_access_key is not None
    assert "a-real-looking-secret-key" not in repr(s), "secrets stay out of reprs and logs"


@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize("placeholder", ["changethis", "changeme", "CHANGE-ME", " ChangeThis ", "TODO"])
def test_placeholder_secrets_are_refused_by_name(name: str, placeholder: str) -> None:
    message = refused(**{**COMPLETE, name: placeholder})
    assert name in message
    assert placeholder.strip() not in message, "the refused value itself is not echoed"


@pytest.mark.parametrize("name", SECRETS)
def test_an_empty_secret_is_refused(name: str) -> None:
    assert name in refused(**{**COMPLETE, name: ""})


def test_slack_bot_token_without_signing_secret_is_refused() -> None:
    message = refused(SLACK_BOT_TOKEN="xoxb-1-2-abc")
    assert message.startswith("SLACK_SIGNING_SECRET is missing")


def test_slack_signing_secret_without_bot_token_is_refused() -> None:
    message = refused(SLACK_SIGNING_SECRET="8f742231b10e8888abcd99yyyzzz85a5")
    assert message.startswith("SLACK_BOT_TOKEN is missing")


def test_slack_socket_mode_needs_no_signing_secret() -> None:
    s = settings(SLACK_BOT_TOKEN="xoxb-1-2-abc", SLACK_APP_TOKEN="xapp-1-A1-2-abc")
    assert s.slack_enabled


@pytest.mark.parametrize(
    "keys",
    [
        {},
        {"AWS_ACCESS_KEY_ID": "AKIAFACETAGTEST"},
        {"AWS_SECRET_ACCESS_KEY": "a-real-looking-secret-key"},
    ],
    ids=["no-keys", "no-secret-key", "no-access-key"],
)
def test_s3_endpoint_without_keys_is_refused(keys: dict[str, str]) -> None:
    message = refused(S3_ENDPOINT_URL="http://s3.internal:8333", **keys)
    assert message.startswith("S3_ENDPOINT_URL is set")
    assert "AWS_ACCESS_KEY_ID" in message
    assert "AWS_SECRET_ACCESS_KEY" in message


def test_aws_keys_without_endpoint_mean_aws_itself() -> None:
    s = settings(AWS_ACCESS_KEY_ID="AKIAFACETAGTEST", AWS_SECRET_ACCESS_KEY="a-real-looking-secret-key")
    assert s.s3_endpoint_url is None


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"MICROSOFT_APP_PASSWORD": "a-real-client-secret"},
        {"MICROSOFT_APP_TENANT_ID": "00000000-0000-0000-0000-0000000000aa"},
    ],
    ids=["alone", "no-tenant", "no-password"],
)
def test_microsoft_app_id_without_password_or_tenant_is_refused(extra: dict[str, str]) -> None:
    message = refused(MICROSOFT_APP_ID="00000000-0000-0000-0000-000000000001", **extra)
    assert message.startswith("MICROSOFT_APP_ID is set")
    assert "MICROSOFT_APP_PASSWORD" in message
    assert "MICROSOFT_APP_TENANT_ID" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FACETAG_PORT", "70000"),
        ("FACETAG_PORT", "http"),
        ("FACETAG_LOG_FORMAT", "xml"),
        ("FACETAG_WORKER_CONCURRENCY", "0"),
        ("PRESIGN_TTL_SECONDS", "0"),
        ("FACETAG_MAX_UPLOAD_BYTES", "-1"),
        ("FACETAG_PUBLIC_MEDIA", "perhaps"),
    ],
)
def test_unusable_values_are_refused_by_name(name: str, value: str) -> None:
    assert refused(**{name: value}).startswith(f"{name}: ")


def test_unusable_environment_values_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACETAG_PORT", "not-a-port")
    assert refused().startswith("FACETAG_PORT: ")


def test_slack_api_url_gets_a_trailing_slash() -> None:
    assert settings(SLACK_API_URL="http://127.0.0.1:9999/api").slack_api_url == "http://127.0.0.1:9999/api/"


def test_host_lists_are_trimmed_and_lowercased() -> None:
    s = settings(SLACK_FILE_HOSTS=" Files.Slack.com, ,files-edu.slack.com ")
    assert s.slack_file_host_list == ("files.slack.com", "files-edu.slack.com")
