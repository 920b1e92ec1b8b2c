"""storage.presign makes the very URL botocore makes for the same inputs and time (no server needed).

That the URLs work and expire on a real server is in tests/test_objects.py (SeaweedFS).
"""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import botocore.auth
import pytest
from botocore.config import Config

from storage.presign import GetPresigner

NOW = datetime(2026, 11, 25, 23, 59, 58, tzinfo=UTC)


def _botocore_url(
    endpoint: str, region: str, *, bucket: str, key: str, ttl: int, disposition: str | None
) -> str:
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    params = {"Bucket": bucket, "Key": key}
    if disposition is not None:
        params["ResponseContentDisposition"] = disposition
    return str(client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl))


@pytest.mark.parametrize(
    ("endpoint", "region", "key", "ttl", "disposition"),
    [
        ("http://127.0.0.1:8333", "us-east-1", "0f9e/thumb_h200.jpg", 900, None),
        (
            "http://localhost:9000",
            "eu-west-1",
            "0f9e/original",
            60,
            "attachment; filename=\"_n_code _beach_.jpg\"; filename*=UTF-8''%C3%9Cn%C3%AFcode%20_beach_.jpg",
        ),
        ("https://s3.example.com", "auto", "a b/ü+%~x!*'();:@&=$,?#[].jpg", 604800, "inline"),
        ("https://s3.example.com:443/prefix", "us-west-2", "k", 1, None),
    ],
)
def test_same_url_as_botocore(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, region: str, key: str, ttl: int, disposition: str | None
) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    expected = _botocore_url(
        endpoint, region, bucket="facetag-pending", key=key, ttl=ttl, disposition=disposition
    )
    presigner = GetPresigner(
        endpoint_url=endpoint,
        region=region,
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    )
    extra = {} if disposition is None else {"response-content-disposition": disposition}
    assert presigner.url(bucket="facetag-pending", key=key, ttl=ttl, params=extra, now=NOW) == expected


def test_signing_key_follows_the_date() -> None:
    """The cached signing key is the day's: a URL signed after midnight equals a fresh presigner's."""
    args = {
        "endpoint_url": "http://127.0.0.1:8333",
        "region": "us-east-1",
        "access_key": "A",
        "secret_key": "S",
    }
    long_lived = GetPresigner(**args)
    long_lived.url(bucket="b", key="k", ttl=60, now=NOW)
    tomorrow = datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC)
    assert long_lived.url(bucket="b", key="k", ttl=60, now=tomorrow) == GetPresigner(**args).url(
        bucket="b", key="k", ttl=60, now=tomorrow
    )
