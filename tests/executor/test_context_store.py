"""The context store: scans, golden SQL validation, retrieval and what a prompt is built from, on
PostgreSQL and SQLite data sources (the same core code for both)."""

import sqlite3
from contextlib import closing

import psycopg
import pytest
from django.core.exceptions import ValidationError

from config.identity import Principal
from executor.context import services
from executor.context.index import context_for
from executor.context.models import ContextState, GoldenSql, TableDescription
from executor.context.scan import scan
from executor.models import DataSource

pytestmark = pytest.mark.django_db

OWNER = Principal("acme", "alice", is_tenant_admin=True)
OTHER = Principal("acme", "bob")


def source(url: str, name: str = "chinook") -> DataSource:
    engine = "sqlite" if url.startswith("sqlite:") else "postgresql"
    data_source = DataSource(name=name, engine=engine, connection_url=url)
    data_source.assign_owner(OWNER)
    data_source.save()
    return data_source


@pytest.fixture(params=["postgresql", "sqlite"])
def demo(request):
    return source(request.getfixturevalue("demo_pg_url" if request.param == "postgresql" else "demo_sqlite_url"))


def test_scan_records_columns_keys_counts_categories_and_samples(demo):
    state = scan(demo)
    assert state.scan_status == ContextState.ScanStatus.DONE and state.scan_tables_failed == 0
    assert state.scan_tables_done == state.scan_tables_total >= 11
    genre = TableDescription.objects.get(data_source=demo, table_name="genre")
    assert genre.status == TableDescription.Status.SYNCHRONIZED and genre.row_count == 25
    name = next(c for c in genre.columns if c["name"] == "name")
    assert name["low_cardinality"] is False  # 25 genres: more than the low-cardinality limit
    media = TableDescription.objects.get(data_source=demo, table_name="media_type")
    media_name = next(c for c in media.columns if c["name"] == "name")
    assert media_name["low_cardinality"] and "MPEG audio file" in media_name["categories"]
    track = TableDescription.objects.get(data_source=demo, table_name="track")
    genre_id = next(c for c in track.columns if c["name"] == "genre_id")
    assert genre_id["foreign_key"] == {"field_name": "id", "reference_table": "genre"}
    assert next(c for c in track.columns if c["name"] == "id")["is_primary_key"]
    assert len(track.examples) == 3 and "name" in track.examples[0]


def test_descriptions_survive_a_rescan_and_reach_the_prompt(demo):
    scan(demo)
    track = TableDescription.objects.get(data_source=demo, table_name="track")
    services.table_description_update(track, description="Songs for sale", columns=[{"name": "milliseconds", "description": "length of the song"}])
    with pytest.raises(ValidationError, match="no column 'nope'"):
        services.table_description_update(track, columns=[{"name": "nope", "description": "x"}])
    scan(demo, ["track"])
    track.refresh_from_db()
    assert track.description == "Songs for sale"
    assert next(c for c in track.columns if c["name"] == "milliseconds")["description"] == "length of the song"
    context = context_for(demo, "How long is the longest song?", OWNER)
    assert "track [~3503 rows] -- Songs for sale" in context.schema and "milliseconds" in context.schema
    assert "(length of the song)" in context.schema and "values: AAC audio file|MPEG audio file" in context.schema


@pytest.mark.parametrize("sql, problem", [
    ("DELETE FROM artist", "not a read-only query"),
    ("SELECT 1; DROP TABLE artist", "not a read-only query"),
    ("SELEC name FRM artist", "is not valid"),
    ("   ", "is empty"),
])
def test_golden_sql_must_be_one_readable_query(demo, sql, problem):
    with pytest.raises(ValidationError) as caught:
        services.golden_sqls_add(OWNER, [
            {"data_source": demo, "prompt_text": "fine", "sql": "SELECT 1"},
            {"data_source": demo, "prompt_text": "How many artists?", "sql": sql},
        ])
    assert problem in str(caught.value.message_dict["sql"]) and "entry 2" in str(caught.value.message_dict["sql"])
    assert not GoldenSql.objects.filter(data_source=demo).exists()  # all or nothing


def test_prompt_gets_rules_and_the_most_similar_examples_of_its_owner_and_the_sources_owner(demo):
    services.instruction_create(OWNER, demo, instruction="Money is in US dollars; round to 2 decimals.")
    services.instruction_create(OTHER, demo, instruction="Bob's private rule.")
    services.golden_sqls_add(OWNER, [
        {"data_source": demo, "prompt_text": f"How many tracks are in album {n}?", "sql": f"SELECT count(*) FROM track WHERE album_id = {n}"}
        for n in range(50)
    ] + [
        {"data_source": demo, "prompt_text": "Which customers spent the most on invoices?",
         "sql": "SELECT c.first_name, sum(i.total) FROM customer c JOIN invoice i ON i.customer_id = c.id GROUP BY 1 ORDER BY 2 DESC"},
    ])
    services.golden_sqls_add(OTHER, [{"data_source": demo, "prompt_text": "customers spending invoices top", "sql": "SELECT 2"}])
    context = context_for(demo, "Top 5 customers by invoice spending", OWNER)
    assert context.instructions == ["Money is in US dollars; round to 2 decimals."]
    assert context.examples[0].prompt_text == "Which customers spent the most on invoices?"
    assert "SELECT 2" not in context.text()  # bob's entries are bob's
    assert context.tables[:2] == ["customer", "invoice"] or context.tables[:2] == ["invoice", "customer"]
    for_bob = context_for(demo, "Top 5 customers by invoice spending", OTHER)
    assert "Bob's private rule." in for_bob.instructions and for_bob.examples[0].sql == "SELECT 2"


def test_prompt_cache_follows_changes(demo):
    first = context_for(demo, "artists", OWNER)
    assert first.instructions == []
    services.instruction_create(OWNER, demo, instruction="Say 'artist', never 'band'.")
    assert context_for(demo, "artists", OWNER).instructions == ["Say 'artist', never 'band'."]


def _wide_sqlite(path, tables: int, columns: int) -> str:
    with closing(sqlite3.connect(path)) as conn:
        for t in range(tables):
            cols = ", ".join(f"c{c}_{t} TEXT" for c in range(columns))
            conn.execute(f"CREATE TABLE t{t:04d}_stuff (id INTEGER PRIMARY KEY, {cols})")
        conn.execute("CREATE TABLE shipment_tracking (id INTEGER PRIMARY KEY, carrier TEXT, shipped_on TEXT)")
        conn.commit()
    return f"sqlite:///{path}"


def test_a_thousand_tables_fit_the_budget_with_the_relevant_ones_first(tmp_path, settings):
    settings.QUERENT_SQLITE_DATA_SOURCE_DIRS = [str(tmp_path)] if hasattr(settings, "QUERENT_SQLITE_DATA_SOURCE_DIRS") else None
    wide = source(_wide_sqlite(tmp_path / "wide.db", 1000, 20), name="wide")
    context = context_for(wide, "which carrier shipped the most?", OWNER, schema_chars=4000)
    assert len(context.schema) <= 4000
    assert context.tables[0] == "shipment_tracking" and "carrier" in context.schema
    assert "more tables not shown" in context.schema


def test_scan_failing_halfway_keeps_what_was_scanned(fresh_demo_pg_url):
    with psycopg.connect(fresh_demo_pg_url, autocommit=True) as conn:
        conn.execute("CREATE VIEW broken_view AS SELECT 1 / (SELECT count(*) - count(*) FROM artist) AS x")
        # Reading this view ends the scan's connection: every table after it is not reached.
        conn.execute("CREATE VIEW zz_drops_connection AS SELECT pg_terminate_backend(pg_backend_pid()) AS gone")
        conn.execute("CREATE TABLE zzz_after (id int)")
    demo = source(fresh_demo_pg_url)
    state = scan(demo)
    assert state.scan_status == ContextState.ScanStatus.FAILED
    rows = {t.table_name: t for t in TableDescription.objects.filter(data_source=demo)}
    assert rows["broken_view"].status == "FAILED" and "division by zero" in rows["broken_view"].error_message
    assert rows["zz_drops_connection"].status == "FAILED"
    assert rows["zzz_after"].status == "FAILED" and "not scanned" in rows["zzz_after"].error_message
    assert rows["track"].status == "SYNCHRONIZED" and rows["track"].row_count == 3503  # kept
    assert state.scan_tables_done == len([r for r in rows.values() if r.status == "SYNCHRONIZED"]) >= 11


def test_embeddings_find_an_example_no_word_of_the_question_matches(demo_sqlite_url, llm, settings):
    demo = source(demo_sqlite_url)
    settings.EMBEDDINGS_MODEL, settings.EMBEDDINGS_BASE_URL, settings.EMBEDDINGS_API_KEY = "trigram-test", llm.base_url, "sk-test"
    services.golden_sqls_add(OWNER, [
        {"data_source": demo, "prompt_text": "revenue by invoicing month", "sql": "SELECT substr(CAST(invoice_date AS TEXT), 1, 7) AS m, sum(total) FROM invoice GROUP BY 1"},
        {"data_source": demo, "prompt_text": "Which artists have no albums?", "sql": "SELECT name FROM artist WHERE id NOT IN (SELECT artist_id FROM album)"},
    ])
    assert GoldenSql.objects.filter(embedding_model="trigram-test").count() == 2  # embedded when stored, in one call
    assert len(llm.embedding_requests) == 1
    question = "How much was invoiced monthly?"  # shares no word with the stored question
    found = context_for(demo, question, OWNER)
    assert found.examples and found.examples[0].prompt_text == "revenue by invoicing month"
    assert llm.embedding_requests[-1]["input"] == [question]
    settings.EMBEDDINGS_MODEL = ""
    assert context_for(demo, question, OWNER).examples == []  # lexical similarity alone finds nothing


def test_a_duckdb_source_is_scanned_and_prompted_through_the_same_core(settings, tmp_path):
    """Engines without a raw connection here are read through run_sql, query by query."""
    from tests.support.sources import shop_duckdb

    settings.SQLITE_DATA_SOURCE_DIRS = [str(tmp_path)]
    path = tmp_path / "shop.duckdb"
    shop_duckdb(path)
    shop = DataSource(name="Shop", engine="duckdb", connection_url=f"duckdb:///{path}")
    shop.assign_owner(OWNER)
    shop.save()
    state = scan(shop)
    assert state.scan_status == ContextState.ScanStatus.DONE and state.scan_tables_done == 2
    region = TableDescription.objects.get(data_source=shop, table_name="region")
    assert region.row_count == 2 and next(c for c in region.columns if c["name"] == "name")["categories"] == ["North", "South"]
    with pytest.raises(ValidationError, match="not a read-only query"):
        services.golden_sqls_add(OWNER, [{"data_source": shop, "prompt_text": "x", "sql": "COPY sales TO '/tmp/x.csv'"}])
    services.golden_sqls_add(OWNER, [{"data_source": shop, "prompt_text": "Sales per region", "sql": "SELECT region_id, sum(amount) FROM sales GROUP BY 1"}])
    context = context_for(shop, "total sales of each region", OWNER)
    assert context.examples[0].prompt_text == "Sales per region" and "DuckDB database 'Shop'" in context.schema
    assert "values: North|South" in context.schema
