"""The trust boundary: a data source URL reaches only what the operator's policy allows, and never
Querent's own database, broker or files, however it is spelt."""

import ipaddress
import os
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from executor import boundary
from executor.boundary import Refused
from executor.models import DataSource
from executor.services import SqlError, run_sql, test_connection
from tests.fixtures.demo_db import pg_url
from tests.support.ports import closed_port, listening_port

PRODUCTION_POLICY = ["*"]


@pytest.fixture
def production_policy(settings):
    settings.DATA_SOURCE_ALLOWED_HOSTS = PRODUCTION_POLICY
    boundary._policy.cache_clear()
    yield settings
    boundary._policy.cache_clear()


def source(url: str, name: str = "Probe") -> DataSource:
    return DataSource(name=name, engine="postgresql" if not url.startswith("sqlite") else "sqlite", connection_url=url)


# --- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, key",
    [
        ("postgresql://u@db.example.com/d?sslkeylogfile=/tmp/querent-keylog", "sslkeylogfile"),
        ("postgresql://u@db.example.com/d?passfile=/root/.pgpass", "passfile"),
        ("postgresql://u@db.example.com/d?service=prod", "service"),
        ("postgresql://u@db.example.com/d?hostaddr=127.0.0.1", "hostaddr"),
        ("postgresql://u@db.example.com/d?options=-cdefault_transaction_read_only%3Doff", "options"),
        ("postgresql://u@db.example.com/d?sslrootcert=/etc/shadow", "sslrootcert"),
        ("postgresql://u@db.example.com/d?sslkey=/etc/ssl/private/k.pem", "sslkey"),
        ("postgresql://u@db.example.com/d?target_session_attrs=any", "target_session_attrs"),
        ("host=db.example.com dbname=d sslcrl=/etc/passwd", "sslcrl"),
    ],
)
def test_keys_outside_the_allow_list_are_refused_by_name(url, key):
    with pytest.raises(Refused, match=repr(key)):
        boundary.postgres_params(url)


@pytest.mark.parametrize(
    "url, problem",
    [
        ("postgresql://u@127.0.0.1,db.example.com/d", "host lists"),
        ("host=db.example.com,127.0.0.1 dbname=d", "host lists"),
        ("postgresql:///d?host=/var/run/postgresql", "socket directories"),
        ("postgresql://u@%2Fvar%2Frun%2Fpostgresql/d", "socket directories"),
        ("postgresql://u@@abstract/d", "socket"),
        ("postgresql:///d", "needs a host"),
        ("postgresql://u@db.example.com:99999/d", "TCP port"),
    ],
)
def test_shapes_that_lead_elsewhere_are_refused(url, problem):
    with pytest.raises(Refused, match=problem):
        boundary.postgres_params(url)


def test_allowed_keys_pass_through_and_the_port_is_normalised():
    params = boundary.postgres_params("postgresql+psycopg2://u:p@db.example.com:05432/sales?sslmode=require")
    assert params == {"user": "u", "password": "p", "host": "db.example.com", "port": "5432", "dbname": "sales", "sslmode": "require"}


# --- addresses ---------------------------------------------------------------------------

LOOPBACK_SPELLINGS = [
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.255.255.254",
    "localhost", "::1", "[::1]", "::ffff:127.0.0.1", "[::ffff:7f00:1]", "0:0:0:0:0:0:0:1",
]
OTHER_REFUSED = ["0.0.0.0", "0", "::", "169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254", "100.100.100.200",
                 "224.0.0.1", "240.0.0.1", "::7f00:1", "2002:7f00:1::"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS + OTHER_REFUSED)
def test_the_production_default_refuses_loopback_link_local_and_metadata_however_spelt(production_policy, host):
    with pytest.raises(Refused, match="not allowed as data sources"):
        boundary.postgres_connect_kwargs(f"postgresql://u@{host if ':' not in host or host.startswith('[') else f'[{host}]'}:5432/d")


def test_a_listed_network_is_allowed_and_the_connection_is_pinned_to_the_checked_address(settings):
    settings.DATA_SOURCE_ALLOWED_HOSTS = ["127.0.0.1/32"]
    boundary._policy.cache_clear()
    kwargs = boundary.postgres_connect_kwargs("postgresql://u@127.1:5432/d")
    assert kwargs["hostaddr"] == "127.0.0.1" and kwargs["host"] == "127.1" and kwargs["passfile"] == os.devnull
    with pytest.raises(Refused, match="not in the operator's allowed hosts"):
        boundary.postgres_connect_kwargs("postgresql://u@10.1.2.3:5432/d")
    boundary._policy.cache_clear()


def test_a_listed_name_cannot_bring_in_loopback(settings):
    settings.DATA_SOURCE_ALLOWED_HOSTS = ["localhost"]
    boundary._policy.cache_clear()
    with pytest.raises(Refused):
        boundary.postgres_connect_kwargs("postgresql://u@localhost:5432/d")
    boundary._policy.cache_clear()


def test_querents_own_redis_is_refused(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    boundary._own_service_addresses.cache_clear()
    with pytest.raises(Refused, match="message broker"):
        boundary.postgres_connect_kwargs("postgresql://u@127.1:6379/d")
    boundary._own_service_addresses.cache_clear()


# --- the property: nothing that resolves to a refused target is accepted ------------------

_loopback_v4 = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(1, 254)).map(lambda t: f"127.{t[0]}.{t[1]}.{t[2]}")
_refused_v4 = st.one_of(
    _loopback_v4,
    st.tuples(st.integers(0, 255), st.integers(0, 255)).map(lambda t: f"169.254.{t[0]}.{t[1]}"),
    st.just("0.0.0.0"),
)


def _spellings(v4: str) -> list[str]:
    """Ways libpq (through getaddrinfo) reaches the same IPv4 address."""
    a, b, c, d = (int(x) for x in v4.split("."))
    number = (a << 24) | (b << 16) | (c << 8) | d
    return [v4, str(number), hex(number), f"0{oct(a)[2:]}.{b}.{c}.{d}", f"{a}.{(b << 16) | (c << 8) | d}",
            f"[::ffff:{v4}]", f"[::ffff:{(a << 8 | b):x}:{(c << 8 | d):x}]"]


_extra = st.dictionaries(
    st.sampled_from(["sslmode", "application_name", "user", "password", "channel_binding"]),
    st.sampled_from(["disable", "prefer", "require", "x", "p%40ss"]),
    max_size=3,
)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=_refused_v4, spelling=st.integers(0, 6), form=st.sampled_from(["url", "query", "keyword", "driver"]),
       port=st.integers(1, 65535), extra=_extra)
def test_property_no_spelling_of_a_refused_address_is_accepted(production_policy, target, spelling, form, port, extra):
    host = _spellings(target)[spelling]
    query = "&".join(f"{k}={v}" for k, v in extra.items())
    if form == "url":
        url = f"postgresql://{host}:{port}/d" + (f"?{query}" if query else "")
    elif form == "driver":
        url = f"postgresql+psycopg://{host}:{port}/d" + (f"?{query}" if query else "")
    elif form == "query":  # the netloc names a harmless host, the query overrides it
        url = f"postgresql://db.example.com/d?host={host.strip('[]')}&port={port}" + (f"&{query}" if query else "")
    else:
        url = f"host={host.strip('[]')} port={port} dbname=d " + " ".join(f"{k}={v}" for k, v in extra.items())
    try:
        kwargs = boundary.postgres_connect_kwargs(url)
    except Refused:
        return
    # Accepted only if what libpq would connect to is not a refused address.
    assert boundary.refusal_for_address(kwargs["hostaddr"]) is None
    assert not ipaddress.ip_address(kwargs["hostaddr"]).is_loopback, (url, kwargs)
    raise AssertionError(f"{url!r} reached {kwargs['hostaddr']}")


# --- after connecting: Querent's own database ---------------------------------------------


def _app_db_spellings() -> list[str]:
    params = connection.settings_dict
    name, user, port = params["NAME"], params.get("USER") or "postgres", params.get("PORT") or 5432
    return [
        f"postgresql://{user}@127.0.0.1:{port}/{name}",
        f"postgresql://{user}@127.1:{port}/{name}",
        f"postgresql://{user}@2130706433:{port}/{name}",
        f"postgresql://{user}@0x7f000001:{port}/{name}",
        f"postgresql://{user}@localhost:{port}/{name}",
        f"postgresql://{user}@[::ffff:127.0.0.1]:{port}/{name}",
        f"postgresql://{user}@127.0.0.1:{port}/postgres?dbname={name}",
        f"postgresql://{user}@db.example.invalid/{name}?host=127.0.0.1&port={port}",
        f"postgres+psycopg2://{user}@127.0.0.1:{port}/{name}",
        f"host=127.0.0.1 port={port} dbname={name} user={user}",
        f"postgresql://127.0.0.1:{port}/{name}?user={user}",
        f"postgresql://{user}@127.0.0.1:0{port}/{name}",
    ]


@pytest.mark.django_db
def test_querents_own_database_is_refused_after_connecting_however_reached():
    if connection.vendor != "postgresql":
        pytest.skip("the app database is PostgreSQL in services mode only")
    for url in _app_db_spellings():
        with pytest.raises(SqlError, match="belongs to Querent itself"):
            run_sql(source(url), "SELECT key FROM django_session")


@pytest.mark.django_db
def test_another_querent_deployments_database_is_refused_too(demo_pg_url):
    """The marker, not this deployment's settings, decides: a copy of Querent's tables anywhere is refused."""
    url = demo_pg_url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {boundary.MARKER_TABLE} (id uuid)")
    try:
        with pytest.raises(SqlError, match="belongs to Querent itself"):
            run_sql(source(url), "SELECT 1")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {boundary.MARKER_TABLE}")
    assert run_sql(source(url), "SELECT 1 AS one").rows == [{"one": 1}]


def test_a_connection_attempt_never_writes_a_file(tmp_path, demo_pg_url):
    keylog = tmp_path / "keylog.txt"
    ok, message = test_connection(source(f"{demo_pg_url}?sslkeylogfile={keylog}&sslmode=prefer"))
    assert not ok and "sslkeylogfile" in message
    assert not keylog.exists()


def test_open_and_closed_ports_read_the_same(demo_pg_url):
    """No port oracle: a closed port, a port with another service, a wrong database all say the same."""
    messages = []
    with listening_port() as open_port:
        for url in (f"postgresql://u@127.0.0.1:{closed_port()}/d", f"postgresql://u@127.0.0.1:{open_port}/d",
                    pg_url("querent_no_such_database_here")):
            ok, message = test_connection(source(url, name="Probe"))
            assert not ok
            messages.append(message.split(" (reference ", 1)[0])
    assert len(set(messages)) == 1, messages


# --- SQLite files --------------------------------------------------------------------------


@pytest.fixture
def sqlite_policy(settings, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    settings.SQLITE_DATA_SOURCE_DIRS = [str(allowed)]
    return allowed


def _sqlite_db(path: Path) -> Path:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    return path


def test_sqlite_paths_outside_the_data_directories_are_refused(sqlite_policy, tmp_path, settings):
    outside = _sqlite_db(tmp_path / "other.sqlite3")
    link = sqlite_policy / "link.sqlite3"
    link.symlink_to(outside)
    for url in (
        f"sqlite:///{outside}",
        f"sqlite:///{sqlite_policy}/../other.sqlite3",
        f"sqlite:///{link}",
        f"sqlite:////proc/self/root{outside}",
        f"sqlite:////proc/self/cwd/{os.path.relpath(outside, os.getcwd())}",
        "sqlite:////etc/passwd",
        f"sqlite:///{settings.BASE_DIR}/db.sqlite3",
        "sqlite:///file:x?mode=memory",
    ):
        with pytest.raises(Refused):
            boundary.sqlite_file(url, demo_url="")
    inside = _sqlite_db(sqlite_policy / "ok.sqlite3")
    assert boundary.sqlite_file(f"sqlite:///{inside}", demo_url="") == inside
    assert run_sql(source(f"sqlite:///{inside}"), "SELECT x FROM t").rows == [{"x": 1}]


def test_querents_own_sqlite_files_are_refused_even_inside_the_data_directory(sqlite_policy, settings, tmp_path):
    broker = _sqlite_db(tmp_path / "broker.sqlite3")
    settings.CELERY_BROKER_URL = f"querent-sqla+sqlite:///{broker}"
    hard_link = sqlite_policy / "innocent.sqlite3"
    os.link(broker, hard_link)
    with pytest.raises(Refused, match="belongs to Querent itself"):
        boundary.sqlite_file(f"sqlite:///{hard_link}", demo_url="")
    # A file that carries Querent's marker (another deployment's app database) is refused when opened.
    app_copy = _sqlite_db(sqlite_policy / "app.sqlite3")
    import sqlite3

    conn = sqlite3.connect(app_copy)
    conn.execute(f"CREATE TABLE {boundary.MARKER_TABLE} (id)")
    conn.commit()
    conn.close()
    with pytest.raises(SqlError, match="belongs to Querent itself"):
        run_sql(source(f"sqlite:///{app_copy}"), "SELECT 1")
