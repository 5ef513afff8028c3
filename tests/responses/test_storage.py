"""CSV storage: local files under VAR_DIR, and S3 through SigV4-signed requests."""

import asyncio
import datetime as dt
import hashlib
import io
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from responses import s3, services
from responses.storage import ExportMissing, StorageError, aiter_export, csv_writer, export_size

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def collect(location: str) -> bytes:
    async def read():
        return b"".join([part async for part in aiter_export(location)])

    return asyncio.run(read())


# --- Signature Version 4: AWS's published S3 examples -------------------------------------


@pytest.mark.parametrize(
    "url, headers, signed_headers, signature",
    [
        (
            "https://examplebucket.s3.amazonaws.com/test.txt", {"Range": "bytes=0-9"},
            "host;range;x-amz-content-sha256;x-amz-date",
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        ),
        (
            "https://examplebucket.s3.amazonaws.com/?lifecycle", {}, "host;x-amz-content-sha256;x-amz-date",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (
            "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J", {}, "host;x-amz-content-sha256;x-amz-date",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ],
)
def test_sigv4_matches_aws_examples(url, headers, signed_headers, signature):
    signed = s3.sign(
        "GET", url, headers, payload_sha256=s3.EMPTY_SHA256, access_key_id=AWS_KEY_ID, secret_access_key=AWS_SECRET,
        region="us-east-1", now=dt.datetime(2013, 5, 24, tzinfo=dt.timezone.utc),
    )
    assert signed["Authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/20130524/us-east-1/s3/aws4_request, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    assert signed["x-amz-date"] == "20130524T000000Z"


# --- local files ---------------------------------------------------------------------------


def test_local_export_is_published_only_when_complete(exports_dir):
    with csv_writer("r1") as sink:
        sink.write(b"a,b\n")
        assert not (exports_dir / "r1.csv").exists()  # still a partial file
        sink.write(b"1,2\n")
    assert sink.location == "exports/r1.csv"
    assert export_size(sink.location) == 8
    assert collect(sink.location) == b"a,b\n1,2\n"
    assert [p.name for p in exports_dir.iterdir()] == ["r1.csv"]


def test_failed_export_leaves_nothing(exports_dir):
    with pytest.raises(RuntimeError):
        with csv_writer("r2") as sink:
            sink.write(b"a\n")
            raise RuntimeError("database went away")
    assert list(exports_dir.iterdir()) == []


@pytest.mark.parametrize("location", ["exports/missing.csv", "exports/../settings.csv", "querent.sqlite3", "exports/x.txt"])
def test_unknown_or_outside_locations_are_missing(exports_dir, location):
    with pytest.raises(ExportMissing):
        export_size(location)


def _export_aged(name: str, days: float) -> None:
    with csv_writer(name) as sink:
        sink.write(b"n\n1\n")
    path = Path(settings.VAR_DIR) / "exports" / f"{name}.csv"
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp))


def test_exports_past_the_retention_are_pruned_and_nothing_else(exports_dir):
    _export_aged("old", 31)
    _export_aged("fresh", 1)
    partial = exports_dir / ".crashed.1234abcd.part"  # a worker died mid-export long ago
    partial.write_bytes(b"n\n")
    stamp = time.time() - 40 * 86400
    os.utime(partial, (stamp, stamp))
    for stranger in ("notes.txt", "old.csv.bak"):
        (exports_dir / stranger).write_text("not an export")
        os.utime(exports_dir / stranger, (stamp, stamp))
    (exports_dir / "folder.csv").mkdir()
    os.utime(exports_dir / "folder.csv", (stamp, stamp))

    assert services.prune_exports(0) == (0, 0)  # 0 keeps everything
    assert services.prune_exports(30) == (2, len(b"n\n1\n") + len(b"n\n"))
    assert sorted(p.name for p in exports_dir.iterdir()) == ["folder.csv", "fresh.csv", "notes.txt", "old.csv.bak"]
    with pytest.raises(ExportMissing):
        export_size("exports/old.csv")
    assert collect("exports/fresh.csv") == b"n\n1\n"
    assert services.prune_exports(30) == (0, 0)


def test_prune_command_reports_and_uses_the_setting(exports_dir, settings):
    _export_aged("a", 10)
    _export_aged("b", 3)
    settings.CSV_RETENTION_DAYS = 5
    out = io.StringIO()
    call_command("prune_exports", stdout=out)
    assert out.getvalue().strip() == "removed 1 export(s), 4 bytes"
    call_command("prune_exports", "--days", "1", stdout=out)
    assert not any(exports_dir.glob("*.csv"))
    with pytest.raises(CommandError):
        call_command("prune_exports", "--days", "-1")


def test_bad_export_names_are_refused(exports_dir):
    with pytest.raises(ValueError):
        with csv_writer("../escape"):
            pass


# --- S3 against a small in-process S3-compatible server ------------------------------------


class FakeS3(BaseHTTPRequestHandler):
    """Stores PUT bodies by path, answers HEAD and GET; checks what a real server would reject."""

    objects: dict = {}
    requests: list = []

    def log_message(self, *args):
        pass

    def _check_auth(self) -> bool:
        auth = self.headers.get("Authorization", "")
        self.requests.append((self.command, self.path, dict(self.headers)))
        ok = auth.startswith("AWS4-HMAC-SHA256 Credential=test-key/") and "Signature=" in auth
        if not ok:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
        return ok

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if not self._check_auth():
            return
        if hashlib.sha256(body).hexdigest() != self.headers["x-amz-content-sha256"]:
            self.send_response(400)  # XAmzContentSHA256Mismatch
            self.end_headers()
            return
        self.objects[self.path] = body
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _object(self):
        if not self._check_auth():
            return None
        body = self.objects.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
        return body

    def do_HEAD(self):
        body = self._object()
        if body is not None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()

    def do_GET(self):
        body = self._object()
        if body is not None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


@pytest.fixture
def fake_s3(settings, tmp_path):
    FakeS3.objects, FakeS3.requests = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeS3)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.VAR_DIR = tmp_path
    settings.CSV_S3_BUCKET = "exports-bucket"
    settings.CSV_S3_ENDPOINT_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.CSV_S3_REGION = "eu-west-1"
    settings.CSV_S3_PREFIX = "csv/"
    settings.CSV_S3_ACCESS_KEY_ID = "test-key"
    settings.CSV_S3_SECRET_ACCESS_KEY = "test-secret"
    yield FakeS3
    server.shutdown()
    server.server_close()


def test_s3_export_round_trip(fake_s3, tmp_path):
    payload = b"n\n" + b"".join(b"%d\n" % i for i in range(20000))
    with csv_writer("resp-1") as sink:
        for start in range(0, len(payload), 4096):
            sink.write(payload[start : start + 4096])
    assert sink.location == "s3://exports-bucket/csv/resp-1.csv"
    assert fake_s3.objects["/exports-bucket/csv/resp-1.csv"] == payload
    assert export_size(sink.location) == len(payload)
    assert collect(sink.location) == payload
    method, _, headers = fake_s3.requests[0]
    assert method == "PUT" and "/eu-west-1/s3/aws4_request" in headers["Authorization"]
    assert "test-secret" not in str(fake_s3.requests)
    assert not list((tmp_path / "exports").iterdir())  # the local staging file is gone


def test_s3_missing_object_and_foreign_bucket(fake_s3):
    with pytest.raises(ExportMissing):
        export_size("s3://exports-bucket/csv/nothing.csv")
    with pytest.raises(StorageError):
        export_size("s3://someone-elses-bucket/file.csv")


def test_s3_rejected_upload_is_a_storage_error(fake_s3, settings, tmp_path):
    settings.CSV_S3_ACCESS_KEY_ID = "wrong-key"
    with pytest.raises(StorageError, match="HTTP 403"):
        with csv_writer("resp-2") as sink:
            sink.write(b"a\n")
    assert not list((tmp_path / "exports").iterdir())


def test_the_workers_prune_loop_prunes_at_once_and_stops_when_asked(exports_dir, settings):
    from responses import tasks

    _export_aged("stale", 40)
    settings.CSV_RETENTION_DAYS = 30
    tasks._prune_stop.set()  # a worker shutting down: one pass, then the loop returns
    try:
        pruner = tasks._on_worker_ready()
        pruner.join(timeout=10)
        assert not pruner.is_alive()
    finally:
        tasks._prune_stop.clear()
    assert not (exports_dir / "stale.csv").exists()
