"""Introspection of the demo on both engines, the cache, and bounded summaries for big schemas."""

import sqlite3
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from executor import schema as schema_module
from executor.errors import SqlError
from executor.schema import get_schema, introspect, render_summary, schema_summary

from .helpers import source


def _table(schema, name):
    return next(t for t in schema["tables"] if t["name"] == name)


@pytest.mark.parametrize("fixture", ["demo_pg_url", "demo_sqlite_url"])
def test_introspects_the_demo(request, fixture):
    schema = introspect(source(request.getfixturevalue(fixture)))
    names = {t["name"] for t in schema["tables"]}
    assert names == {
        "artist", "album", "customer", "employee", "genre", "media_type", "track", "invoice", "invoice_line",
        "playlist", "playlist_track", "credit",
    }
    track = _table(schema, "track")
    assert [c["name"] for c in track["columns"]][:3] == ["id", "name", "album_id"]
    assert track["primary_key"] == ["id"]
    assert {(tuple(fk["columns"]), fk["ref_table"], tuple(fk["ref_columns"])) for fk in track["foreign_keys"]} == {
        (("album_id",), "album", ("id",)), (("media_type_id",), "media_type", ("id",)), (("genre_id",), "genre", ("id",)),
    }
    assert _table(schema, "playlist_track")["primary_key"] == ["playlist_id", "track_id"]
    assert "numeric(10,2)" in {c["type"] for c in track["columns"]}
    genre_name = next(c for c in _table(schema, "genre")["columns"] if c["name"] == "name")
    assert genre_name["samples"] == ["Rock", "Jazz", "Metal"]
    assert _table(schema, "track")["rows"] == 3503
    assert any(f["name"] == "issue_credit" for f in schema["functions"])


def test_postgres_action_signature_is_described(demo_pg_url):
    text = render_summary(introspect(source(demo_pg_url)))
    assert "issue_credit(p_customer_id integer, p_amount numeric) returns integer" in text


def test_summary_of_the_demo_is_compact_and_complete(demo_pg_url):
    text = render_summary(introspect(source(demo_pg_url)), 6000, name="Chinook demo")
    assert len(text) <= 6000
    for table in ("invoice_line", "customer", "credit", "media_type"):
        assert f"\n{table} " in text
    assert "album_id int ->album.id" in text
    assert "more tables not shown" not in text


@pytest.mark.django_db
def test_schema_is_cached_on_the_row_by_fingerprint(demo_data_source, monkeypatch):
    first = get_schema(demo_data_source)
    demo_data_source.refresh_from_db()
    assert demo_data_source.schema_cache == first and demo_data_source.schema_refreshed_at
    updated_at = demo_data_source.updated_at

    calls = []
    monkeypatch.setattr(schema_module, "introspect", lambda ds: calls.append(ds) or {"tables": [], "functions": []})
    assert get_schema(demo_data_source) == first and calls == []  # fresh: no introspection
    demo_data_source.refresh_from_db()
    assert demo_data_source.updated_at == updated_at  # caching does not count as an edit

    demo_data_source.schema_refreshed_at = timezone.now() - timedelta(days=1)
    assert get_schema(demo_data_source) == {"tables": [], "functions": []} and len(calls) == 1  # expired

    demo_data_source.connection_url += "?application_name=x"  # another connection: cache not used
    get_schema(demo_data_source)
    assert len(calls) == 2
    get_schema(demo_data_source, refresh=True)
    assert len(calls) == 3


@pytest.mark.django_db
def test_stale_cache_beats_no_schema_when_unreachable(demo_data_source, monkeypatch):
    cached = get_schema(demo_data_source)
    demo_data_source.schema_refreshed_at = timezone.now() - timedelta(days=1)

    def down(ds):
        raise SqlError("could not connect to data source 'Chinook demo': refused")

    monkeypatch.setattr(schema_module, "introspect", down)
    assert get_schema(demo_data_source) == cached


@pytest.mark.django_db
def test_a_load_that_defers_the_stored_schema_reads_it_once_per_process(demo_data_source, django_assert_num_queries):
    from executor.models import DataSource

    schema_module._remembered.clear()
    stored = get_schema(demo_data_source)  # introspects and stores
    deferred = DataSource.objects.defer("schema_cache").get(pk=demo_data_source.pk)
    with django_assert_num_queries(1):  # the deferred column, read once
        assert get_schema(deferred) == stored
    again = DataSource.objects.defer("schema_cache").get(pk=demo_data_source.pk)
    with django_assert_num_queries(0):  # this process has read this very introspection
        assert get_schema(again) is get_schema(deferred)

    # A newer introspection (another process refreshed it) is a different one: read from the row.
    DataSource.objects.filter(pk=demo_data_source.pk).update(schema_cache={"tables": [], "functions": []}, schema_refreshed_at=timezone.now())
    newer = DataSource.objects.defer("schema_cache").get(pk=demo_data_source.pk)
    with django_assert_num_queries(1):
        assert get_schema(newer) == {"tables": [], "functions": []}


@pytest.mark.django_db
def test_the_summary_without_a_question_is_rendered_once_per_introspection(demo_data_source, monkeypatch):
    schema_module._summaries.clear()
    renders = []
    real = schema_module.render_summary
    monkeypatch.setattr(schema_module, "render_summary", lambda *a, **k: renders.append(a) or real(*a, **k))
    first = schema_summary(demo_data_source)
    assert schema_summary(demo_data_source) == first and len(renders) == 1
    schema_summary(demo_data_source, question="tracks by genre")  # a question ranks tables: rendered for it
    assert len(renders) == 2
    demo_data_source.name = "Renamed"
    assert "Renamed" in schema_summary(demo_data_source) and len(renders) == 3
    demo_data_source.store_schema({"tables": [], "functions": []}, timezone.now())  # a new introspection
    assert schema_summary(demo_data_source) != first and len(renders) == 4


def test_the_run_load_leaves_the_stored_schema_out():
    from threads.store.orm import runs_to_execute

    assert "schema_cache" not in str(runs_to_execute().query).split(" FROM ")[0]


def test_summary_when_unreachable_says_why():
    text = schema_summary(source("postgresql://u:topsecret@127.0.0.1:1/x", name="Warehouse"))
    assert "unavailable" in text and "Warehouse" in text and "topsecret" not in text


def _many_tables_sqlite(path, count=300):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE hub (id INTEGER PRIMARY KEY, name TEXT)")
    for i in range(count - 1):
        extra = ", ".join(f"attribute_{j} TEXT" for j in range(i % 12))
        conn.execute(
            f"CREATE TABLE table_{i:03d} (id INTEGER PRIMARY KEY, hub_id INTEGER REFERENCES hub(id), label TEXT"
            + (f", {extra}" if extra else "")
            + ")"
        )
    conn.execute("INSERT INTO hub (name) VALUES ('central')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("max_chars", [800, 2000, 6000])
def test_summary_is_bounded_for_300_tables(tmp_path, max_chars):
    path = tmp_path / "big.sqlite3"
    _many_tables_sqlite(path)
    schema = introspect(source(f"sqlite:///{path}", actions=[]))
    assert len(schema["tables"]) == 300
    text = render_summary(schema, max_chars)
    assert len(text) <= max_chars
    assert "more tables not shown" in text
    lines = text.splitlines()
    assert lines[1].startswith("hub")  # linked to by every other table: most relevant without a question
    asked = render_summary(schema, max_chars, question="what labels does table_250 have?")
    assert asked.splitlines()[1].startswith("table_250")
    assert len(asked) <= max_chars


def test_summary_is_bounded_for_300_postgres_tables(fresh_demo_pg_url):
    ddl = ["CREATE SCHEMA warehouse"] + [
        f"CREATE TABLE warehouse.fact_{i:03d} (id serial PRIMARY KEY, customer_id int REFERENCES public.customer(id), "
        f"note text, amount numeric(12,2))"
        for i in range(300)
    ]
    with psycopg.connect(fresh_demo_pg_url) as conn:
        conn.execute("; ".join(ddl))  # one round trip, one transaction
    schema = introspect(source(fresh_demo_pg_url))
    assert len(schema["tables"]) == 312
    text = render_summary(schema, 6000, question="top customers by invoice total")
    assert len(text) <= 6000
    assert "more tables not shown" in text
    shown = [line.split(" ")[0].rstrip(":") for line in text.splitlines()[2:]]
    assert shown[0] in ("customer", "invoice")
    assert "warehouse.fact_000" in text  # other schemas are qualified


def test_a_table_with_hundreds_of_columns_is_cut_not_overflowing():
    columns = [{"name": f"c{i}", "type": "int", "nullable": True} for i in range(500)]
    schema = {"engine": "sqlite", "tables": [{"schema": None, "name": "wide", "kind": "table", "rows": None, "comment": None,
                                               "columns": columns, "primary_key": [], "foreign_keys": []}]}
    text = render_summary(schema, 1000)
    assert len(text) <= 1000 and "more columns" in text
