"""AWS Signature Version 4 query-string presigning of S3 GET URLs, without botocore on the hot path.

A /photos page carries up to 30 presigned links (thumbnail, desktop size, original per result).
botocore's `generate_presigned_url` costs about 1-1.5 ms per URL on an idle machine (request model, event
hooks, endpoint rules), 30-45 ms per page, more than the database. The signature itself is four
HMAC-SHA256 rounds for the signing key, which only changes with the date, plus one SHA-256 and one HMAC
per URL: `GetPresigner` derives the key once per UTC day and signs a URL 20 times faster (measured side by
side at load average 7 on 2 cores: 170 µs against botocore's 3.5 ms).

Only path-style URLs on a fixed endpoint with static keys (`S3_ENDPOINT_URL`, as SeaweedFS, MinIO and R2
are used); virtual-hosted AWS buckets and refreshing credentials stay with botocore. The output is the
same URL botocore makes for the same inputs and time (tests/test_presign.py; tests/test_objects.py
checks that SeaweedFS serves them and refuses them once expired).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
_SERVICE = "s3"
_UNRESERVED = "-_.~"  # RFC 3986 unreserved characters besides letters and digits: never escaped


def _encode(value: str) -> str:
    """SigV4 URI encoding of one query key or value (what botocore's `percent_encode` does)."""
    return quote(value, safe=_UNRESERVED)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


class GetPresigner:
    """Presigned GET URLs for one endpoint, region and key pair; the day's signing key is kept."""

    def __init__(self, *, endpoint_url: str, region: str, access_key: str, secret_key: str) -> None:
        parts = urlsplit(endpoint_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._prefix = quote(parts.path.rstrip("/"), safe="/~")
        # the Host header as botocore signs it: no port when it is the scheme's default
        default_port = {"http": 80, "https": 443}.get(parts.scheme)
        self._host = parts.netloc.rsplit("@", 1)[-1] if parts.port != default_port else parts.hostname or ""
        self._region = region
        self._access_key = access_key
        self._secret = ("AWS4" + secret_key).encode("utf-8")
        self._day = ""
        self._signing_key = b""

    def _key_for(self, day: str) -> bytes:
        if day != self._day:
            key = _hmac(_hmac(_hmac(self._secret, day), self._region), _SERVICE)
            self._signing_key, self._day = _hmac(key, "aws4_request"), day
        return self._signing_key

    def url(
        self,
        *,
        bucket: str,
        key: str,
        ttl: int,
        params: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> str:
        """A GET URL for `bucket`/`key` valid `ttl` seconds from `now`; `params` are signed query
        parameters such as ``response-content-disposition``."""
        stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        scope = f"{day}/{self._region}/{_SERVICE}/aws4_request"
        path = f"{self._prefix}/{quote(bucket, safe='')}/{quote(key, safe='/~')}"
        auth = {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{self._access_key}/{scope}",
            "X-Amz-Date": stamp,
            "X-Amz-Expires": str(ttl),
            "X-Amz-SignedHeaders": "host",
        }
        encoded = [(_encode(k), _encode(v)) for k, v in (*(params or {}).items(), *auth.items())]
        canonical_query = "&".join(f"{k}={v}" for k, v in sorted(encoded))
        canonical = f"GET\n{path}\n{canonical_query}\nhost:{self._host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        signature = hmac.new(self._key_for(day), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        query_string = "&".join(f"{k}={v}" for k, v in encoded)
        return f"{self._origin}{path}?{query_string}&X-Amz-Signature={signature}"
