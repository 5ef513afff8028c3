"""The Chinook demo: exact names and counts on both engines, idempotent loading, the shared row."""

import time

import psycopg
import pytest
from django.core.management import call_command

from config.identity import Principal
from executor.demo import DATA_FILE, ensure_demo_data_source, expected_counts, load_demo
from executor.models import DataSource
from executor.services import run_sql

from .helpers import Approval, source

SCHEMA = {
    "artist": ["id", "name"],
    "album": ["id", "title", "artist_id"],
    "customer": ["id", "first_name", "last_name", "company", "address", "city", "state", "country", "postal_code",
                 "phone", "fax", "email", "support_rep_id"],
    "employee": ["id", "last_name", "first_name", "title", "reports_to", "birth_date", "hire_date", "address", "city",
                 "state", "country", "postal_code", "phone", "fax", "email"],
    "genre": ["id", "name"],
    "media_type": ["id", "name"],
    "track": ["id", "name", "album_id", "media_type_id", "genre_id", "composer", "milliseconds", "bytes", "unit_price"],
    "invoice": ["id", "customer_id", "invoice_date", "billing_address", "billing_city", "billing_state",
                "billing_country", "billing_postal_code", "total"],
    "invoice_line": ["id", "invoice_id", "track_id", "unit_price", "quantity"],
    "playlist": ["id", "name"],
    "playlist_track": ["playlist_id", "track_id"],
    "credit": ["id", "customer_id", "amount", "created_at"],
}


def test_data_file_is_small_and_complete():
    assert DATA_FILE.stat().st_size < 400_000
    counts = expected_counts()
    assert sum(counts.values()) == 15_607 and len(counts) == 11


@pytest.mark.parametrize("fixture", ["demo_pg_url", "demo_sqlite_url"])
def test_exact_tables_columns_and_counts(request, fixture):
    url = request.getfixturevalue(fixture)
    data_source = source(url)
    for table, columns in SCHEMA.items():
        result = run_sql(data_source, f"SELECT * FROM {table} LIMIT 1")
        assert result.columns == columns, table
        count = run_sql(data_source, f"SELECT count(*) AS n FROM {table}").rows[0]["n"]
        assert count == expected_counts().get(table, 0), table


def test_postgres_types_and_foreign_keys(demo_pg_url):
    with psycopg.connect(demo_pg_url) as conn:
        types = dict(conn.execute(
            "SELECT table_name || '.' || column_name, data_type || coalesce('(' || numeric_precision || ',' || numeric_scale || ')', '') "
            "FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall())
        fks = conn.execute(
            "SELECT count(*) FROM information_schema.table_constraints WHERE constraint_type = 'FOREIGN KEY' AND table_schema = 'public'"
        ).fetchone()[0]
    assert types["track.unit_price"] == "numeric(10,2)" and types["invoice.total"] == "numeric(10,2)"
    assert types["invoice_line.unit_price"] == "numeric(10,2)" and types["credit.amount"] == "numeric(10,2)"
    assert types["invoice.invoice_date"] == "timestamp without time zone"
    assert fks == 12


def test_a_known_answer(demo_pg_url, demo_sqlite_url):
    sql = ("SELECT c.first_name || ' ' || c.last_name AS customer, round(sum(i.total), 2) AS spent FROM invoice i "
           "JOIN customer c ON c.id = i.customer_id GROUP BY c.id, c.first_name, c.last_name ORDER BY spent DESC LIMIT 1")
    for url in (demo_pg_url, demo_sqlite_url):
        assert run_sql(source(url), sql).rows == [{"customer": "Helena Holý", "spent": 49.62}]


def test_sequences_continue_after_the_data(fresh_demo_pg_url):
    sql = "INSERT INTO artist (name) VALUES ('New Band') RETURNING id"
    assert run_sql(source(fresh_demo_pg_url), sql, approval=Approval(sql)).rows == [{"id": 276}]


def test_loading_is_idempotent_and_keeps_credits(fresh_demo_pg_url, fresh_demo_sqlite_url):
    sql = "SELECT issue_credit(3, 7.50) AS credit_id"
    for url in (fresh_demo_pg_url, fresh_demo_sqlite_url):
        run_sql(source(url), sql, approval=Approval(sql))
        started = time.perf_counter()
        load_demo(url)
        assert time.perf_counter() - started < 2
        assert run_sql(source(url), "SELECT count(*) AS n FROM credit").rows == [{"n": 1}]
        load_demo(url, force=True)  # a rebuild starts clean
        assert run_sql(source(url), "SELECT count(*) AS n FROM credit").rows == [{"n": 0}]


def test_a_broken_demo_is_rebuilt(fresh_demo_sqlite_url, fresh_demo_pg_url):
    for url in (fresh_demo_sqlite_url, fresh_demo_pg_url):
        sql = "DELETE FROM playlist_track WHERE playlist_id = 1"
        run_sql(source(url), sql, approval=Approval(sql))
        load_demo(url)
        assert run_sql(source(url), "SELECT count(*) AS n FROM playlist_track").rows == [{"n": 8715}]


def test_load_creates_a_missing_postgres_database(demo_pg_url):
    from tests.fixtures.demo_db import pg_url

    name = "querent_demo_created_by_loader"
    admin = pg_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    try:
        started = time.perf_counter()
        load_demo(pg_url(name))
        assert time.perf_counter() - started < 10
        assert run_sql(source(pg_url(name)), "SELECT count(*) AS n FROM track").rows == [{"n": 3503}]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_unsupported_target_is_refused():
    with pytest.raises(ValueError):
        load_demo("oracle://x/y")


@pytest.mark.django_db
def test_ensure_demo_data_source_is_idempotent_and_shared(demo_pg_url, demo_sqlite_url):
    owner = Principal(tenant="default", user_id="system")
    first = ensure_demo_data_source(owner, demo_pg_url)
    again = ensure_demo_data_source(Principal(tenant="other", user_id="someone"), demo_pg_url)
    assert again.pk == first.pk and again.owner == "system"
    assert first.shared and first.engine == "postgresql" and first.actions == ["issue_credit"] and first.name == "Chinook demo"
    assert DataSource.objects.usable_by(Principal(tenant="x", user_id="y")).get() == first
    moved = ensure_demo_data_source(owner, demo_sqlite_url)
    assert moved.pk == first.pk and moved.engine == "sqlite" and DataSource.objects.count() == 1


@pytest.mark.django_db
def test_demo_data_source_fixture(demo_data_source):
    assert demo_data_source.shared and demo_data_source.engine == "postgresql"
    assert demo_data_source.actions == ["issue_credit"]
    assert run_sql(demo_data_source, "SELECT count(*) AS n FROM genre").rows == [{"n": 25}]


@pytest.mark.django_db
def test_management_command(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/demo.sqlite3"
    call_command("load_demo_data", "--url", url, "--tenant", "acme", "--user", "admin")
    call_command("load_demo_data", "--url", url)
    out = capsys.readouterr().out
    assert "Chinook demo ready" in out
    data_source = DataSource.objects.get(shared=True)  # (and the tenant's copy where the data directories allow it)
    assert (data_source.tenant, data_source.owner, data_source.connection_url) == ("acme", "admin", url)
    assert run_sql(data_source, "SELECT count(*) AS n FROM invoice").rows == [{"n": 412}]


@pytest.mark.django_db
def test_management_command_default_url(settings, tmp_path):
    settings.DEMO_DATABASE_URL = f"sqlite:///{tmp_path}/default-demo.sqlite3"
    call_command("load_demo_data")
    assert DataSource.objects.get(shared=True).connection_url == settings.DEMO_DATABASE_URL
