"""Connection URLs: which engine, where an SQLite file is, and how to show one without its secret.

Where a URL may lead is not decided here but in `executor.boundary`, by libpq's parser and the
addresses a host resolves to.
"""

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

# SQLAlchemy-style URLs (postgresql+psycopg2://, as Dataherald clients send them) name the same database.
_POSTGRES_SCHEMES = re.compile(r"^(postgres|postgresql)(\+[a-z0-9_]+)?$", re.I)
_SQLITE_SCHEMES = re.compile(r"^sqlite(\+[a-z0-9_]+)?$", re.I)
_MYSQL_SCHEMES = re.compile(r"^(mysql|mariadb)(\+[a-z0-9_]+)?$", re.I)
_DUCKDB_SCHEMES = re.compile(r"^duckdb$", re.I)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else ""


def _is_keyword_conninfo(text: str) -> bool:
    """libpq's `host=... dbname=...` form, which psycopg accepts as well as URLs."""
    if "://" in text or "=" not in text:
        return False
    try:
        return bool(conninfo_to_dict(text))
    except (psycopg.ProgrammingError, ValueError):
        return False


def engine_from_url(url: str) -> str | None:
    url = (url or "").strip()
    scheme = _scheme(url)
    if _POSTGRES_SCHEMES.match(scheme) or (not scheme and _is_keyword_conninfo(url)):
        return "postgresql"
    if _SQLITE_SCHEMES.match(scheme) and url.split("://", 1)[1].startswith("/"):
        return "sqlite"
    if _MYSQL_SCHEMES.match(scheme):
        return "mysql"
    if _DUCKDB_SCHEMES.match(scheme) and url.split("://", 1)[1].startswith("/"):
        return "duckdb"
    return None


def postgres_conninfo(url: str) -> str:
    """What libpq understands: a URL's `+driver` suffix dropped (SQLAlchemy style); `key=value` text as is."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}" if sep else url


def sqlite_file_name(url: str) -> str:
    """The file an `sqlite:///...` (or `duckdb:///...`) URL names, as written (`sqlite:////abs/file`,
    `sqlite:///rel/file`)."""
    raw = unquote(url.split("://", 1)[1][1:].split("?", 1)[0]) if "://" in url else ""
    if not raw or raw == ":memory:":
        raise ValueError("a file data source needs a file path")
    return raw


def sqlite_path(url: str) -> Path:
    """The SQLite file's real path (relative names from the working directory)."""
    return Path(sqlite_file_name(url)).expanduser().resolve()


_SECRET_KEYS = r"(?:password|pass|pwd|sslpassword)"


def mask_url(url: str) -> str:
    """postgresql://user:***@host/db — the password (in userinfo, query string or key=value form) never shown."""
    if not url:
        return ""
    masked = re.sub(r"^([a-z][a-z0-9+.\-]*://[^:/@?#]*):[^@/?#]*@", r"\1:***@", url, flags=re.I)
    masked = re.sub(rf"([?&]{_SECRET_KEYS}=)[^&]*", r"\1***", masked, flags=re.I)
    return re.sub(rf"((?:^|\s){_SECRET_KEYS}\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)", r"\1***", masked, flags=re.I)


def url_password(url: str) -> str | None:
    if "://" not in url:
        try:
            return conninfo_to_dict(url).get("password")
        except (psycopg.ProgrammingError, ValueError):
            return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def redact(text: str, url: str) -> str:
    """Remove the URL's password from a message, whatever form the driver echoed it in."""
    from config.logging import scrub

    password = url_password(url)
    if password:
        text = text.replace(password, "***")
        if unquote(password) != password:
            text = text.replace(unquote(password), "***")
    return scrub(text)
