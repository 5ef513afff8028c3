"""The trust boundary for MySQL / MariaDB and DuckDB sources: no URL key that reaches files or runs
SQL at connect, the host policy by resolved address with the connection pinned to it, and file
paths under the operator's directories only."""

import pytest

from executor import boundary
from executor.boundary import Refused
from executor.models import DataSource
from executor.services import test_connection


@pytest.fixture
def production_policy(settings):
    settings.DATA_SOURCE_ALLOWED_HOSTS = ["*"]
    boundary._policy.cache_clear()
    yield settings
    boundary._policy.cache_clear()


@pytest.mark.parametrize(
    "key",
    ["ssl_ca", "ssl_key", "ssl_cert", "ssl", "local_infile", "init_command", "read_default_file",
     "read_default_group", "unix_socket", "named_pipe", "auth_plugin_map", "server_public_key", "defer_connect"],
)
def test_keys_that_reach_files_or_run_sql_are_refused_by_name(key):
    with pytest.raises(Refused, match=f"'{key}' is not allowed"):
        boundary.mysql_params(f"mysql://u:p@db.example.com:3306/shop?{key}=/etc/passwd")


@pytest.mark.parametrize(
    "url, problem",
    [
        ("mysql://u:p@/shop", "needs a host"),
        ("mysql://u:p@db.example.com", "names one database"),
        ("mysql://u:p@db.example.com/a/b", "names one database"),
        ("mysql://u:p@db.example.com:99999/shop", "not a valid MySQL connection URL"),
        ("mysql://u:p@h1,h2/shop", "one host"),
        ("mysql://u:p@db.example.com/shop?charset=utf8mb4&charset=latin1", "twice"),
        ("mysql://u:p@db.example.com/shop?charset=koi8r", "not supported"),
    ],
)
def test_shapes_that_lead_elsewhere_are_refused(url, problem):
    with pytest.raises(Refused, match=problem):
        boundary.mysql_params(url)


def test_sqlalchemy_and_mariadb_spellings_are_the_same_engine():
    from executor.dsn import engine_from_url

    for url in ("mysql://u@h/d", "mysql+pymysql://u@h/d", "mariadb://u@h/d", "mariadb+mariadbconnector://u@h/d"):
        assert engine_from_url(url) == "mysql"
    assert engine_from_url("duckdb:////data/x.duckdb") == "duckdb"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "[::ffff:127.0.0.1]", "169.254.169.254", "localhost", "0.0.0.0"])
def test_the_production_default_refuses_loopback_and_metadata_however_spelt(production_policy, host):
    with pytest.raises(Refused):
        boundary.mysql_connect_kwargs(f"mysql://u:p@{host}:3306/shop")


def test_the_connection_is_pinned_to_the_checked_address_and_reads_no_file(settings):
    settings.DATA_SOURCE_ALLOWED_HOSTS = ["127.0.0.1/32"]
    boundary._policy.cache_clear()
    kwargs = boundary.mysql_connect_kwargs("mysql://u:p%40ss@127.1:3307/shop")
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 3307 and kwargs["password"] == "p@ss"
    assert kwargs["local_infile"] is False and kwargs["read_default_file"] is None and kwargs["init_command"] is None
    with pytest.raises(Refused, match="not in the operator's allowed hosts"):
        boundary.mysql_connect_kwargs("mysql://u@10.1.2.3:3306/d")
    boundary._policy.cache_clear()


def test_querents_own_redis_port_is_refused(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    boundary._own_service_addresses.cache_clear()
    with pytest.raises(Refused, match="message broker"):
        boundary.mysql_connect_kwargs("mysql://u@127.0.0.1:6379/d")
    boundary._own_service_addresses.cache_clear()


@pytest.mark.django_db
def test_a_refused_url_is_a_validation_error_naming_the_key():
    from django.core.exceptions import ValidationError

    data_source = DataSource(name="x", engine="mysql", connection_url="mysql://u:p@db.example.com/d?local_infile=1",
                             tenant="t", owner="o")
    with pytest.raises(ValidationError, match="local_infile"):
        data_source.full_clean()


def test_a_refused_url_is_a_clean_connection_failure():
    ok, message = test_connection(DataSource(name="x", engine="mysql", connection_url="mysql://u:p@h/d?init_command=x"))
    assert not ok and "init_command" in message


def test_duckdb_paths_outside_the_data_directories_are_refused(settings, tmp_path):
    settings.SQLITE_DATA_SOURCE_DIRS = [str(tmp_path / "allowed")]
    (tmp_path / "allowed").mkdir()
    for url in ("duckdb:////etc/passwd", f"duckdb:///{tmp_path}/allowed/../x.duckdb", f"duckdb:///{settings.BASE_DIR}/x.duckdb",
                "duckdb:///:memory:", "duckdb:///file:x?mode=memory"):
        with pytest.raises(Refused):
            boundary.duckdb_path(url)
    assert boundary.duckdb_path(f"duckdb:///{tmp_path}/allowed/x.duckdb") == tmp_path / "allowed" / "x.duckdb"
