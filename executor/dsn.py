"""Connection URLs: which engine, where the SQLite file is, and how to show one without its secret."""

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings

# SQLAlchemy-style URLs (postgresql+psycopg2://, as Dataherald clients send them) name the same database.
_POSTGRES_SCHEMES = re.compile(r"^(postgres|postgresql)(\+[a-z0-9_]+)?$", re.I)
_SQLITE_SCHEMES = re.compile(r"^sqlite(\+[a-z0-9_]+)?$", re.I)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else ""


def engine_from_url(url: str) -> str | None:
    scheme = _scheme(url or "")
    if _POSTGRES_SCHEMES.match(scheme):
        return "postgresql"
    if _SQLITE_SCHEMES.match(scheme) and url.split("://", 1)[1].startswith("/"):
        return "sqlite"
    return None


def postgres_conninfo(url: str) -> str:
    """The URL libpq understands: the `+driver` suffix dropped."""
    rest = url.split("://", 1)[1]
    return f"postgresql://{rest}"


def sqlite_path(url: str) -> Path:
    """`sqlite:////abs/file` and `sqlite:///rel/file` (relative to the working directory)."""
    raw = unquote(url.split("://", 1)[1][1:].split("?", 1)[0])
    if not raw or raw == ":memory:":
        raise ValueError("an SQLite data source needs a file path")
    return Path(raw).expanduser().resolve()


def mask_url(url: str) -> str:
    """postgresql://user:***@host/db — the password (in userinfo or query string) never shown."""
    if not url:
        return ""
    masked = re.sub(r"^([a-z][a-z0-9+.\-]*://[^:/@?#]*):[^@/?#]*@", r"\1:***@", url, flags=re.I)
    return re.sub(r"([?&](?:password|pass|pwd|sslpassword)=)[^&]*", r"\1***", masked, flags=re.I)


def same_database_as_app(url: str) -> bool:
    """True when `url` names Querent's own database (a data source must never expose it)."""
    from django.db import connections

    app = settings.DATABASES["default"]
    app_engine = connections["default"].vendor  # "postgresql" for Django's backend and config.postgres alike
    engine = engine_from_url(url)
    try:
        if engine == "sqlite" and app_engine == "sqlite":
            return sqlite_path(url) == Path(str(app["NAME"])).resolve()
        if engine == "postgresql" and app_engine == "postgresql":
            parts = urlsplit(postgres_conninfo(url))
            same_host = _local(parts.hostname) == _local(app.get("HOST"))
            same_port = int(parts.port or 5432) == int(app.get("PORT") or 5432)
            return same_host and same_port and unquote(parts.path.lstrip("/")) == app["NAME"]
    except (ValueError, TypeError):
        return False
    return False


def _local(host) -> str:
    host = str(host or "")
    return "localhost" if host in {"", "localhost", "127.0.0.1", "::1"} else host.lower()


def sqlite_path_allowed(url: str) -> bool:
    """SQLite files must sit under QUERENT_SQLITE_DATA_SOURCE_DIRS when that is set; never in var/ except the demo."""
    try:
        path = sqlite_path(url)
    except ValueError:
        return False
    demo = settings.DEMO_DATABASE_URL
    if engine_from_url(demo) == "sqlite" and path == sqlite_path(demo):
        return True
    allowed = [Path(p).expanduser().resolve() for p in getattr(settings, "SQLITE_DATA_SOURCE_DIRS", [])]
    if allowed:
        return any(path.is_relative_to(root) for root in allowed)
    # Querent's own files (app database, broker, results) live in var/: off limits by default.
    return not path.is_relative_to(Path(settings.VAR_DIR).resolve())


def redact(text: str, url: str) -> str:
    """Remove the URL's password from a message, whatever form the driver echoed it in."""
    from config.logging import scrub

    password = None
    try:
        password = urlsplit(url).password
    except ValueError:
        pass
    if password:
        text = text.replace(password, "***")
        if unquote(password) != password:
            text = text.replace(unquote(password), "***")
    return scrub(text)

