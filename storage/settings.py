"""The one settings object: every knob facetag reads, from the environment or `.env`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = frozenset({"changethis", "changeme", "change-me", "secret", "xxx", "todo", "placeholder", ""})


class SettingsError(ValueError):
    """A setting is missing or unusable; the message names the variable."""


def _is_placeholder(value: SecretStr | None) -> bool:
    return value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDERS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(Path("./data"), alias="FACETAG_DATA_DIR")
    host: str = Field("0.0.0.0", alias="FACETAG_HOST")  # noqa: S104 - a server binds all interfaces by default
    port: int = Field(3000, alias="FACETAG_PORT", ge=0, le=65535)
    public_url: str | None = Field(None, alias="FACETAG_PUBLIC_URL")
    log_level: str = Field("info", alias="FACETAG_LOG_LEVEL")
    log_format: str = Field("auto", alias="FACETAG_LOG_FORMAT", pattern="^(auto|json|console)$")

    database_url: str | None = Field(None, alias="DATABASE_URL")

    s3_endpoint_url: str | None = Field(None, alias="S3_ENDPOINT_URL")
    s3_region: str = Field("us-east-1", alias="S3_REGION")
    aws_access_key_id: str | None = Field(None, alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: SecretStr | None = Field(None, alias="AWS_SECRET_ACCESS_KEY")
    bucket_pending: str = Field("facetag-pending", alias="S3_BUCKET_PENDING")
    bucket_approved: str = Field("facetag-approved", alias="S3_BUCKET_APPROVED")
    bucket_faces: str = Field("facetag-faces", alias="S3_BUCKET_FACES")
    presign_ttl_seconds: int = Field(900, alias="PRESIGN_TTL_SECONDS", ge=1, le=7 * 24 * 3600)
    public_media: bool = Field(False, alias="FACETAG_PUBLIC_MEDIA")

    max_upload_bytes: int = Field(2 * 1024**3, alias="FACETAG_MAX_UPLOAD_BYTES", gt=0)
    max_video_seconds: float = Field(3 * 3600, alias="FACETAG_MAX_VIDEO_SECONDS", gt=0)
    admins: str = Field("", alias="FACETAG_ADMINS")
    # Jobs at once per worker: twice the cores, so downloads, uploads and queries overlap pixel work.
    worker_concurrency: int = Field(
        default_factory=lambda: 2 * (os.cpu_count() or 1), alias="FACETAG_WORKER_CONCURRENCY", ge=1
    )
    face_engine: Literal["dlib"] = Field("dlib", alias="FACETAG_FACE_ENGINE")
    match_threshold: float | None = Field(None, alias="FACETAG_MATCH_THRESHOLD")

    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    slack_file_hosts: str = Field("files.slack.com", alias="SLACK_FILE_HOSTS")

    microsoft_app_id: str | None = Field(None, alias="MICROSOFT_APP_ID")
    microsoft_app_password: SecretStr | None = Field(None, alias="MICROSOFT_APP_PASSWORD")
    microsoft_app_tenant_id: str | None = Field(None, alias="MICROSOFT_APP_TENANT_ID")
    microsoft_authority: str | None = Field(None, alias="MICROSOFT_AUTHORITY")
    microsoft_jwks_url: str = Field(
        "https://login.botframework.com/v1/.well-known/keys", alias="MICROSOFT_JWKS_URL"
    )
    teams_file_hosts: str = Field(
        "smba.trafficmanager.net,*.sharepoint.com,*.botframework.com", alias="TEAMS_FILE_HOSTS"
    )
    microsoft_graph_url: str = Field("https://graph.microsoft.com/v1.0/", alias="MICROSOFT_GRAPH_URL")

    @field_validator("slack_api_url", "microsoft_graph_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Self:
        secrets = {
            "AWS_SECRET_ACCESS_KEY": self.aws_secret_access_key,
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_APP_TOKEN": self.slack_app_token,
            "MICROSOFT_APP_PASSWORD": self.microsoft_app_password,
        }
        for name, value in secrets.items():
            if _is_placeholder(value):
                raise SettingsError(f"{name} is set to a placeholder value; set a real secret or unset it")
        if self.s3_endpoint_url and not (self.aws_access_key_id and self.aws_secret_access_key):
            raise SettingsError(
                "S3_ENDPOINT_URL is set but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are missing; "
                "set both, or unset S3_ENDPOINT_URL to use the embedded SeaweedFS"
            )
        if bool(self.slack_bot_token) != bool(self.slack_signing_secret) and not self.slack_app_token:
            missing = "SLACK_SIGNING_SECRET" if self.slack_bot_token else "SLACK_BOT_TOKEN"
            raise SettingsError(
                f"{missing} is missing: Slack needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"
            )
        if self.microsoft_app_id and not (self.microsoft_app_password and self.microsoft_app_tenant_id):
            raise SettingsError(
                "MICROSOFT_APP_ID is set but MICROSOFT_APP_PASSWORD or MICROSOFT_APP_TENANT_ID is missing"
            )
        return self

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def teams_enabled(self) -> bool:
        return self.microsoft_app_id is not None

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.admins.split(",") if part.strip())

    @property
    def slack_file_host_list(self) -> tuple[str, ...]:
        return tuple(part.strip().lower() for part in self.slack_file_hosts.split(",") if part.strip())

    @property
    def teams_file_host_list(self) -> tuple[str, ...]:
        return tuple(part.strip().lower() for part in self.teams_file_hosts.split(",") if part.strip())

    @property
    def teams_authority(self) -> str:
        return self.microsoft_authority or f"https://login.microsoftonline.com/{self.microsoft_app_tenant_id}"

    @property
    def buckets(self) -> tuple[str, str, str]:
        return (self.bucket_pending, self.bucket_approved, self.bucket_faces)


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise SettingsError with one clear line when something is wrong."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc", ())
        name = str(loc[0]) if loc else "settings"
        ctx = first.get("ctx", {})
        inner = ctx.get("error") if isinstance(ctx, dict) else None
        if isinstance(inner, SettingsError):
            raise SettingsError(str(inner)) from None
        raise SettingsError(f"{name}: {first['msg']}") from None
