"""The smallest S3 client CSV exports need: signed PUT, HEAD and streamed GET of one object.

AWS Signature Version 4 in headers (no presigned URLs), path-style addressing, so it talks to AWS
S3 and S3-compatible servers (MinIO, Ceph, R2, ...) alike. Written here rather than adding boto3:
three requests do not justify botocore's size, and httpx is already a dependency.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import httpx

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class S3Error(Exception):
    """A failed request; the message names the bucket and status, never a credential."""


@dataclass(frozen=True)
class S3Config:
    bucket: str
    region: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    endpoint_url: str | None = None  # None: AWS's regional endpoint

    @property
    def endpoint(self) -> str:
        return (self.endpoint_url or f"https://s3.{self.region}.amazonaws.com").rstrip("/")

    def object_url(self, key: str) -> str:
        return f"{self.endpoint}/{quote(self.bucket, safe='')}/{quote(key, safe='/-_.~')}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret_access_key: str, date: str, region: str, service: str = "s3") -> bytes:
    key = _hmac(("AWS4" + secret_access_key).encode(), date)
    return _hmac(_hmac(_hmac(key, region), service), "aws4_request")


def _canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def sign(
    method: str,
    url: str,
    headers: dict[str, str],
    *,
    payload_sha256: str,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """`headers` plus host, x-amz-date, x-amz-content-sha256 and Authorization (SigV4, service s3).

    The URL's path must already be percent-encoded as it will be sent; S3 signs it as is.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urlsplit(url)
    signed = {k.lower(): " ".join(str(v).strip().split()) for k, v in headers.items()}
    signed.setdefault("host", parts.netloc)
    signed["x-amz-date"] = amz_date
    signed["x-amz-content-sha256"] = payload_sha256
    names = sorted(signed)
    canonical_request = "\n".join([
        method.upper(),
        parts.path or "/",
        _canonical_query(parts.query),
        "".join(f"{name}:{signed[name]}\n" for name in names),
        ";".join(names),
        payload_sha256,
    ])
    scope = f"{date}/{region}/s3/aws4_request"
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest(),
    ])
    signature = hmac.new(signing_key(secret_access_key, date, region), string_to_sign.encode(), hashlib.sha256).hexdigest()
    out = {**headers, "x-amz-date": amz_date, "x-amz-content-sha256": payload_sha256}
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def _signed(config: S3Config, method: str, key: str, headers: dict | None = None, payload_sha256: str = EMPTY_SHA256):
    url = config.object_url(key)
    return url, sign(
        method, url, headers or {}, payload_sha256=payload_sha256, access_key_id=config.access_key_id,
        secret_access_key=config.secret_access_key, region=config.region,
    )


def _fail(config: S3Config, action: str, key: str, response: httpx.Response) -> S3Error:
    return S3Error(f"S3 {action} of s3://{config.bucket}/{key} failed: HTTP {response.status_code}")


def put_file(config: S3Config, key: str, path, *, size: int, sha256: str, content_type: str = "text/csv") -> None:
    """Upload a local file in one streamed PUT (S3 takes up to 5 GB this way)."""
    url, headers = _signed(
        config, "PUT", key, {"Content-Type": content_type, "Content-Length": str(size)}, payload_sha256=sha256
    )

    def chunks():
        with open(path, "rb") as source:
            while data := source.read(1024 * 1024):
                yield data

    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            response = client.put(url, content=chunks(), headers=headers)
    except httpx.HTTPError as exc:
        raise S3Error(f"S3 upload to s3://{config.bucket}/{key} failed: {type(exc).__name__}") from None
    if response.status_code not in (200, 201, 204):
        raise _fail(config, "upload", key, response)


def head(config: S3Config, key: str) -> int | None:
    """The object's size, or None when it does not exist."""
    url, headers = _signed(config, "HEAD", key)
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            response = client.head(url, headers=headers)
    except httpx.HTTPError as exc:
        raise S3Error(f"S3 HEAD of s3://{config.bucket}/{key} failed: {type(exc).__name__}") from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise _fail(config, "HEAD", key, response)
    return int(response.headers.get("content-length", 0))


async def aiter_object(config: S3Config, key: str, chunk_size: int = 256 * 1024):
    """The object's bytes as they arrive (async, so an ASGI server streams them without buffering)."""
    url, headers = _signed(config, "GET", key)
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                raise _fail(config, "download", key, response)
            async for data in response.aiter_bytes(chunk_size):
                yield data
