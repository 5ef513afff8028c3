"""Where CSV exports live: files under VAR_DIR/exports by default, an S3-compatible bucket when
QUERENT_CSV_S3_BUCKET is set. Writers take bytes as they come and publish the file only when it is
complete (rename, or upload of a finished temporary file), so a failed export leaves nothing behind.
Readers hand back an async iterator, which an ASGI server streams without buffering the file.

A location is what `csv_file_path` shows: `exports/<name>.csv` (relative to VAR_DIR) or
`s3://bucket/key` (Dataherald's own form).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings

from . import s3

CHUNK = 256 * 1024
LOCAL_DIR = "exports"


class StorageError(Exception):
    """The export store failed; the message is safe to show."""


class ExportMissing(Exception):
    """No file at that location (deleted, or never written)."""


class _Sink:
    """A binary writer; for S3 it also hashes (SigV4 signs the payload's SHA-256) what passes through.

    Without hashing, `write` is the file's own method: a million-row COPY calls it once per row.
    """

    def __init__(self, path: Path, *, hashing: bool):
        self.path = path
        self.file = open(path, "wb", buffering=1024 * 1024)
        self.digest = hashlib.sha256() if hashing else None
        self.write = self._hashing_write if hashing else self.file.write

    def _hashing_write(self, data) -> None:
        self.digest.update(data)
        self.file.write(data)

    @property
    def size(self) -> int:
        if not self.file.closed:
            self.file.flush()
        return self.path.stat().st_size

    def close(self) -> None:
        self.file.close()


def _export_root() -> Path:
    root = Path(settings.VAR_DIR) / LOCAL_DIR
    root.mkdir(parents=True, exist_ok=True)
    return root


def _s3_config() -> s3.S3Config | None:
    bucket = getattr(settings, "CSV_S3_BUCKET", None)
    if not bucket:
        return None
    key_id = getattr(settings, "CSV_S3_ACCESS_KEY_ID", None)
    secret = getattr(settings, "CSV_S3_SECRET_ACCESS_KEY", None)
    if not key_id or not secret:
        raise StorageError("QUERENT_CSV_S3_BUCKET is set but the S3 access key id or secret is missing")
    return s3.S3Config(
        bucket=bucket, region=getattr(settings, "CSV_S3_REGION", None) or "us-east-1", access_key_id=key_id,
        secret_access_key=secret, endpoint_url=getattr(settings, "CSV_S3_ENDPOINT_URL", None) or None,
    )


@contextmanager
def csv_writer(name: str):
    """Yields a sink for the CSV bytes; on a clean exit the file is published and `sink.location`
    says where. `name` must be a plain file stem (the response id)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad export name {name!r}")
    config = _s3_config()
    root = _export_root()
    final = root / f"{name}.csv"
    partial = root / f".{name}.{uuid.uuid4().hex[:8]}.part"
    sink = _Sink(partial, hashing=config is not None)
    try:
        yield sink
        sink.close()
        if config is None:
            os.replace(partial, final)
            sink.location = f"{LOCAL_DIR}/{final.name}"
        else:
            key = f"{getattr(settings, 'CSV_S3_PREFIX', '') or ''}{name}.csv"
            try:
                s3.put_file(config, key, partial, size=sink.size, sha256=sink.digest.hexdigest())
            except s3.S3Error as exc:
                raise StorageError(str(exc)) from None
            sink.location = f"s3://{config.bucket}/{key}"
    finally:
        sink.close()
        partial.unlink(missing_ok=True)


def _local_path(location: str) -> Path:
    root = _export_root().resolve()
    path = (Path(settings.VAR_DIR) / location).resolve()
    # Locations are written by us, but a stored value is still never allowed to leave the export folder.
    if path.parent != root or path.suffix != ".csv":
        raise ExportMissing(location)
    return path


def _split_s3(location: str) -> tuple[s3.S3Config, str]:
    config = _s3_config()
    bucket, _, key = location.removeprefix("s3://").partition("/")
    if config is None or bucket != config.bucket or not key:
        raise StorageError(f"{location} is not in the configured export bucket")
    return config, key


def export_size(location: str) -> int:
    """Bytes in the export; ExportMissing when it is gone, StorageError when the store fails."""
    if location.startswith("s3://"):
        config, key = _split_s3(location)
        try:
            size = s3.head(config, key)
        except s3.S3Error as exc:
            raise StorageError(str(exc)) from None
        if size is None:
            raise ExportMissing(location)
        return size
    path = _local_path(location)
    if not path.is_file():
        raise ExportMissing(location)
    return path.stat().st_size


async def aiter_export(location: str):
    """The export's bytes, chunk by chunk."""
    if location.startswith("s3://"):
        config, key = _split_s3(location)
        async for data in s3.aiter_object(config, key, CHUNK):
            yield data
        return
    read_file = sync_to_async(_read_chunk, thread_sensitive=False)
    handle = await sync_to_async(open, thread_sensitive=False)(_local_path(location), "rb")
    try:
        while data := await read_file(handle):
            yield data
    finally:
        handle.close()


def _read_chunk(handle) -> bytes:
    return handle.read(CHUNK)


def prune_local_exports(older_than_seconds: float, now: float | None = None) -> tuple[int, int]:
    """Delete local exports (and partial files a crash left) last written before the cutoff.

    Returns (files, bytes) removed. A download already streaming keeps its open file; the next
    request for it gets "no longer exists". Only this store's own names in its own folder are touched.
    """
    cutoff = (time.time() if now is None else now) - older_than_seconds
    files = size = 0
    for entry in os.scandir(_export_root()):
        is_ours = entry.name.endswith(".csv") or (entry.name.startswith(".") and entry.name.endswith(".part"))
        try:
            if not is_ours or not entry.is_file(follow_symlinks=False):
                continue
            info = entry.stat(follow_symlinks=False)
            if info.st_mtime >= cutoff:
                continue
            os.unlink(entry.path)
        except FileNotFoundError:  # another worker pruned it first
            continue
        files += 1
        size += info.st_size
    return files, size
