"""The trust boundary: where a data source may connect.

A data source URL is user input that makes Querent open a connection, so it is treated as data:
parsed by libpq's own parser (the one that will obey it), allow-listed key by key, and judged by
the address its host *resolves* to under the operator's policy, never by how it is spelt
(`127.1`, `2130706433`, `[::ffff:127.0.0.1]`, `?host=`, host lists and socket directories all
reach the same places). The connection then goes to the address that was checked (`hostaddr`), so
a DNS answer that changes between check and connect cannot move it. After connecting, the server
is asked whether it is a Querent database (`is_querent_database`): Querent's own database, however
it was reached, is refused. SQLite files are judged by their real path (symlinks, `..`, `/proc`
resolved) against the operator's directories and by file identity against Querent's own files.

`Refused` carries a message that is safe to show: it is decided before any packet is sent, so it
says nothing about the network that the user did not already write.
"""

import ipaddress
import os
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from django.conf import settings
from psycopg.conninfo import conninfo_to_dict

from .dsn import postgres_conninfo, sqlite_file_name

# Keys a user may set; everything else (passfile, service, sslkeylogfile, sslrootcert, sslkey,
# hostaddr, options, target_session_attrs, ...) reads or writes files on the server, picks other
# hosts, or changes the session: refused by name.
POSTGRES_KEYS = frozenset({"host", "port", "dbname", "user", "password", "sslmode", "channel_binding", "application_name"})

# The table a Querent migration creates in Querent's own database: its presence marks a database
# (PostgreSQL or SQLite, this deployment's or another's) as one no data source may reach.
MARKER_TABLE = "querent_deployment"

# Cloud metadata services that are not already link-local (AWS IPv6, Alibaba, Oracle).
_METADATA = {ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200", "192.0.0.192")}


class Refused(Exception):
    """The URL or path may not be used as a data source; the message names why and is safe to show."""

    def __init__(self, message: str, *, field: str = "connection_url"):
        super().__init__(message)
        self.message = message
        self.field = field


# --- URLs as data --------------------------------------------------------------------------


def postgres_params(url: str) -> dict[str, str]:
    """The URL's connection parameters as libpq reads them, after the key allow-list and shape rules."""
    try:
        params = conninfo_to_dict(postgres_conninfo(url.strip()))
    except (psycopg.ProgrammingError, ValueError, TypeError) as exc:
        raise Refused(f"not a valid PostgreSQL connection URL: {str(exc).strip() or 'cannot be parsed'}") from None
    unknown = sorted(set(params) - POSTGRES_KEYS)
    if unknown:
        raise Refused(
            f"connection parameter {unknown[0]!r} is not allowed; allowed: {', '.join(sorted(POSTGRES_KEYS))}"
        )
    host = str(params.get("host") or "").strip()
    if not host:
        raise Refused("a PostgreSQL data source needs a host name or address")
    if "," in host or "," in str(params.get("port") or ""):
        raise Refused("a data source connects to one host: host lists are not allowed")
    if host.startswith(("/", "@", "\\")) or ":\\" in host:
        raise Refused("a data source connects over TCP: socket directories are not allowed")
    port = str(params.get("port") or "5432").strip()
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise Refused(f"port {port!r} is not a TCP port number")
    return {**params, "host": host, "port": str(int(port))}


# --- where a host may be -------------------------------------------------------------------


def _address(text: str):
    address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on a dual-stack socket
    return address


def _default_refusal(address) -> str | None:
    if address.version == 6:
        embedded = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and _default_refusal(embedded):
            return "IPv6 addresses that embed a refused IPv4 address"
    if address.is_loopback:
        return "loopback addresses"
    if address.is_unspecified:
        return "unspecified addresses (0.0.0.0, ::)"
    if address.is_link_local or address in _METADATA:
        return "link-local and cloud metadata addresses"
    if address.is_multicast or address.is_reserved:
        return "multicast and reserved addresses"
    return None


@lru_cache(maxsize=8)
def _policy(entries: tuple[str, ...]) -> tuple[bool, tuple, frozenset]:
    """(any ordinary address allowed, allowed networks, allowed host names) from the setting."""
    networks, names, anywhere = [], set(), False
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        if entry == "*":
            anywhere = True
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return anywhere, tuple(networks), frozenset(names)


def refusal_for_address(address_text: str, *, host: str = "") -> str | None:
    """Why the operator's policy refuses this resolved address, or None when it may be reached."""
    anywhere, networks, names = _policy(tuple(settings.DATA_SOURCE_ALLOWED_HOSTS))
    address = _address(address_text)
    if any(address in network for network in networks if network.version == address.version):
        return None
    if host and host.lower().rstrip(".") in names and _default_refusal(address) is None:
        return None  # a named host may not smuggle in loopback/metadata: list those as addresses
    reason = _default_refusal(address)
    if reason:
        return f"{reason} are not allowed as data sources (QUERENT_DATA_SOURCE_ALLOWED_HOSTS)"
    if anywhere:
        return None
    return "this address is not in the operator's allowed hosts (QUERENT_DATA_SOURCE_ALLOWED_HOSTS)"


@lru_cache(maxsize=4)
def _own_service_addresses(urls: tuple[str, ...]) -> frozenset[tuple[str, int]]:
    """(address, port) of Querent's own Redis: a data source must never be pointed at it."""
    found = set()
    for url in urls:
        parts = urlsplit(url)
        if not parts.scheme.startswith(("redis", "rediss")) or not parts.hostname:
            continue
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 6379, type=socket.SOCK_STREAM)
        except OSError:
            continue
        found.update((str(_address(info[4][0])), parts.port or 6379) for info in infos)
    return frozenset(found)


def resolve(host: str, port: int) -> str:
    """The one address a connection to host:port goes to, after every address it resolves to passed
    the policy. Refused when any is refused: libpq would try them all."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Unresolvable(host) from None
    own = _own_service_addresses(tuple(u for u in (settings.REDIS_URL, settings.CELERY_BROKER_URL) if u))
    addresses = []
    for info in infos:
        address = str(_address(info[4][0]))
        reason = refusal_for_address(address, host=host)
        if reason:
            raise Refused(f"host {host!r} resolves to {address}: {reason}")
        if (address, port) in own:
            raise Refused(f"host {host!r} is Querent's own message broker")
        addresses.append(address)
    return addresses[0]


class Unresolvable(Exception):
    """The host name has no address now; the caller decides whether that is an error yet."""


def check_postgres_url(url: str) -> dict[str, str]:
    """Validate a URL for storage: shape and policy. A name that does not resolve now is accepted
    (it may resolve from the workers' network) and checked again at every connection."""
    params = postgres_params(url)
    try:
        address = resolve(params["host"], int(params["port"]))
    except Unresolvable:
        return params
    if (address, int(params["port"]), params.get("dbname") or params.get("user")) in _app_database_targets():
        raise Refused("this database belongs to Querent itself and cannot be a data source")
    return params


def _app_database_targets() -> set[tuple[str, int, str]]:
    """Where Querent's own PostgreSQL database is, to refuse it already when a URL is stored (the
    check after connecting is the one that cannot be spelt around)."""
    database = settings.DATABASES["default"]
    if "postgres" not in database["ENGINE"]:
        return set()
    host, port = database.get("HOST") or "localhost", int(database.get("PORT") or 5432)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return set()
    return {(str(_address(info[4][0])), port, str(database["NAME"])) for info in infos}


def postgres_connect_kwargs(url: str) -> dict[str, str]:
    """Keyword arguments for psycopg.connect that reach only the checked address.

    `hostaddr` pins the address (the host name stays for TLS verification); `passfile` points at
    nothing, so a URL without a password never picks one up from the server's ~/.pgpass.
    """
    params = postgres_params(url)
    try:
        address = resolve(params["host"], int(params["port"]))
    except Unresolvable:
        raise Refused(f"host {params['host']!r} could not be resolved") from None
    return {**params, "hostaddr": address, "passfile": os.devnull}


# --- MySQL / MariaDB ---------------------------------------------------------------------

# Query keys a MySQL URL may carry. Everything else is refused by name: PyMySQL's and the C
# client's options reach files (ssl_ca/ssl_key/read_default_file/local_infile), run SQL at
# connect (init_command) or pick other endpoints (unix_socket, named pipes).
MYSQL_KEYS = frozenset({"charset"})
_MYSQL_CHARSETS = frozenset({"utf8mb4", "utf8", "utf8mb3", "latin1", "ascii", "binary"})


def mysql_params(url: str) -> dict:
    """host, port, user, password, database and charset of a mysql:// (or mariadb://) URL."""
    from urllib.parse import parse_qsl, unquote

    try:
        parts = urlsplit(url.strip())
        port = parts.port or 3306
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise Refused(f"not a valid MySQL connection URL: {exc}") from None
    keys = [key for key, _ in query]
    unknown = sorted(set(keys) - MYSQL_KEYS)
    if unknown:
        raise Refused(f"connection parameter {unknown[0]!r} is not allowed; allowed: {', '.join(sorted(MYSQL_KEYS))}")
    if len(keys) != len(set(keys)):
        raise Refused("a connection parameter is given twice")
    options = dict(query)
    charset = options.get("charset", "utf8mb4").lower()
    if charset not in _MYSQL_CHARSETS:
        raise Refused(f"charset {charset!r} is not supported; use one of {', '.join(sorted(_MYSQL_CHARSETS))}")
    host = (parts.hostname or "").strip()
    if not host:
        raise Refused("a MySQL data source needs a host name or address")
    if host.startswith(("/", "@", "\\")) or "," in parts.netloc.rsplit("@", 1)[-1]:
        raise Refused("a data source connects to one host over TCP")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise Refused("a MySQL data source names one database: mysql://user:password@host:3306/database")
    return {
        "host": host, "port": port, "user": unquote(parts.username or ""), "password": unquote(parts.password or ""),
        "database": database, "charset": charset,
    }


def check_mysql_url(url: str) -> dict:
    """Validate for storage: shape and policy (a name that does not resolve now is checked at connect)."""
    params = mysql_params(url)
    try:
        resolve(params["host"], params["port"])
    except Unresolvable:
        pass
    return params


def mysql_connect_kwargs(url: str) -> dict:
    """PyMySQL keyword arguments that reach only the checked address, with nothing read from files."""
    params = mysql_params(url)
    try:
        address = resolve(params["host"], params["port"])
    except Unresolvable:
        raise Refused(f"host {params['host']!r} could not be resolved") from None
    # No TLS yet (docs/decisions.md): PyMySQL's default "preferred" TLS verifies nothing and builds a
    # CA context per connection (0.1-0.4 s measured here), which every per-call connection would pay.
    return {**params, "host": address, "local_infile": False, "read_default_file": None, "init_command": None,
            "ssl_disabled": True}


def check_not_querent_mysql(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s", (MARKER_TABLE,)
        )
        if cur.fetchone():
            raise Refused("this database belongs to Querent itself and cannot be a data source")


# --- after connecting: is this Querent's own database? -------------------------------------

_PG_MARKER_SQL = (
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relname = %s AND relkind IN ('r', 'p', 'v'))"
)


def check_not_querent_postgres(conn: psycopg.Connection) -> None:
    """Refuse a connection that reached a Querent database (ours or another deployment's), however
    the URL was spelt. One catalog read, visible to every role whatever its grants."""
    with conn.cursor() as cur:
        cur.execute(_PG_MARKER_SQL, (MARKER_TABLE,))
        if cur.fetchone()[0]:
            raise Refused("this database belongs to Querent itself and cannot be a data source")


def check_not_querent_sqlite(conn) -> None:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MARKER_TABLE,)).fetchone()
    if row:
        raise Refused("this database belongs to Querent itself and cannot be a data source")


# --- SQLite files --------------------------------------------------------------------------


def _sqlite_real_path(url: str) -> Path:
    """The real path of the file an SQLite URL names; `file:` URIs (memory, other VFSs) refused."""
    try:
        raw = sqlite_file_name(url)
    except ValueError:
        raw = ""
    if not raw or raw.startswith("file:"):
        if url.lower().startswith("duckdb"):
            raise Refused("a DuckDB data source needs a file or folder path: duckdb:////absolute/path/file.duckdb")
        raise Refused("an SQLite data source needs a file path: sqlite:////absolute/path/file.sqlite3")
    return Path(raw).expanduser().resolve()


def sqlite_roots() -> list[Path]:
    """Directories whose files may be data sources: QUERENT_SQLITE_DATA_SOURCE_DIRS, by default
    Querent's data folder (uploads, the tenants' demo copies)."""
    configured = settings.SQLITE_DATA_SOURCE_DIRS or [str(Path(settings.VAR_DIR) / "data")]
    return [Path(p).expanduser().resolve() for p in configured]


def _own_files() -> list[Path]:
    """Querent's own SQLite files: the app database, the embedded broker and result store."""
    files = []
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        files.append(Path(str(database["NAME"])))
    for url in (settings.CELERY_BROKER_URL, settings.CELERY_RESULT_BACKEND):
        if url and "sqlite:///" in url:
            files.append(Path(url.split("sqlite:///", 1)[1].split("?", 1)[0]))
    return files


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # hard links and bind mounts included
    except OSError:
        return a.resolve() == b.resolve()


def sqlite_file(url: str, *, demo_url: str | None = None) -> Path:
    """The real path of an SQLite data source, if the operator's directories allow it."""
    path = _sqlite_real_path(url)
    if any(_same_file(path, own) for own in _own_files()):
        raise Refused("this file belongs to Querent itself and cannot be a data source")
    demo = demo_url if demo_url is not None else settings.DEMO_DATABASE_URL
    if demo and demo.startswith("sqlite") and "://" in demo:
        try:
            if path == _sqlite_real_path(demo):
                return path
        except Refused:
            pass
    return _under_data_roots(path, "SQLite data sources must be files")


def duckdb_path(url: str) -> Path:
    """The real path of a DuckDB data source (a database file, or a folder of CSV/Parquet/JSON
    files), under the same rules as SQLite files: the operator's directories, never Querent's own."""
    path = _sqlite_real_path(url)
    if any(_same_file(path, own) for own in _own_files()):
        raise Refused("this file belongs to Querent itself and cannot be a data source")
    return _under_data_roots(path, "DuckDB data sources must be files or folders")


def _under_data_roots(path: Path, what: str) -> Path:
    roots = sqlite_roots()
    if not any(path.is_relative_to(root) for root in roots):
        raise Refused(f"{what} under the operator's data directories (QUERENT_SQLITE_DATA_SOURCE_DIRS)")
    checkout = Path(settings.BASE_DIR).resolve()
    if path.is_relative_to(checkout) and not any(root.is_relative_to(checkout) and path.is_relative_to(root) for root in roots):
        raise Refused("files inside Querent's installation cannot be data sources")
    return path
