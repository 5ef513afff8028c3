"""How large a request body may be, by path: file uploads of data have their own, larger limit
(QUERENT_UPLOAD_MAX_BYTES; streamed to disk as they arrive), every other body the general one
(QUERENT_MAX_BODY_BYTES). Read by the web process while a body arrives and by the middleware."""

from django.conf import settings

UPLOAD_PATHS = ("/api/v1/data-sources/uploads",)


def is_upload_path(path: str) -> bool:
    return path.rstrip("/") in UPLOAD_PATHS


def body_limit(path: str) -> int:
    if is_upload_path(path):
        return max(settings.UPLOAD_MAX_BYTES, settings.MAX_BODY_BYTES)
    return settings.MAX_BODY_BYTES
