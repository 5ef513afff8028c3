"""The guard's verdicts, without a database."""

import pytest

from executor.services import classify
from executor.sql_guard import READ, UNKNOWN, WRITE

from .sql_corpus import PG_READS, PG_WRITES, SQLITE_READS, SQLITE_WRITES

ACTIONS = ["issue_credit"]


@pytest.mark.parametrize("case", PG_READS, ids=lambda c: c.sql[:60])
def test_postgres_reads_are_reads(case):
    result = classify(case.sql, dialect="postgresql", actions=ACTIONS)
    assert result.kind == READ, result.reason


@pytest.mark.parametrize("case", PG_WRITES, ids=lambda c: c.sql[:60])
def test_postgres_writes_are_never_reads(case):
    result = classify(case.sql, dialect="postgresql", actions=ACTIONS)
    assert result.kind in (WRITE, UNKNOWN)
    assert result.reason


@pytest.mark.parametrize("case", SQLITE_READS, ids=lambda c: c.sql[:60])
def test_sqlite_reads_are_reads(case):
    result = classify(case.sql, dialect="sqlite", actions=ACTIONS)
    assert result.kind == READ, result.reason


@pytest.mark.parametrize("case", SQLITE_WRITES, ids=lambda c: c.sql[:60])
def test_sqlite_writes_are_never_reads(case):
    assert classify(case.sql, dialect="sqlite", actions=ACTIONS).kind in (WRITE, UNKNOWN)


ANALYTIC_READS = [
    "SELECT customer_id, sum(total) OVER (PARTITION BY customer_id ORDER BY invoice_date) FROM invoice",
    "SELECT CASE WHEN total > 10 THEN 'big' ELSE 'small' END AS size, count(*) FROM invoice GROUP BY 1",
    "SELECT extract(year FROM invoice_date) AS y, string_agg(billing_city, ', ') FROM invoice GROUP BY 1",
    "SELECT * FROM generate_series(1, 3) g",
    "SELECT c.id, l.n FROM customer c, LATERAL (SELECT count(*) AS n FROM invoice i WHERE i.customer_id = c.id) l",
    "SELECT json_agg(name) FROM genre",
    "SELECT coalesce(company, 'n/a') FROM customer WHERE id IN (SELECT customer_id FROM invoice WHERE total > 20)",
    "SELECT DISTINCT ON (customer_id) customer_id, total FROM invoice ORDER BY customer_id, total DESC",
    "SELECT name FROM artist WHERE name ~* '^a' AND name NOT ILIKE '%x%'",
    "SELECT now() - interval '1 day', current_date, cast('1' AS int)::text",
    "WITH RECURSIVE chain AS (SELECT id, reports_to FROM employee WHERE id = 8 UNION ALL "
    "SELECT e.id, e.reports_to FROM employee e JOIN chain c ON e.id = c.reports_to) SELECT * FROM chain",
    "SELECT count(*) FILTER (WHERE total > 5) FROM invoice",
    "SELECT set_name FROM (SELECT 'x' AS set_name) s",  # names that look like blocked words are fine
    "SELECT 'nextval(1)' AS text_only, 'DELETE' AS also_text",
    "SELECT x.nextval FROM (SELECT 1 AS nextval) x",
]


@pytest.mark.parametrize("sql", ANALYTIC_READS)
def test_ordinary_analytic_queries_are_reads(sql):
    result = classify(sql, dialect="postgresql", actions=ACTIONS)
    assert result.kind == READ, result.reason


def test_declared_actions_are_matched_case_and_schema_insensitively():
    for sql in ["SELECT Issue_Credit(1, 2)", "SELECT shop.issue_credit(1, 2)", 'SELECT "issue_credit"(1, 2)']:
        result = classify(sql, dialect="postgresql", actions=["public.ISSUE_CREDIT"])
        assert result.kind == WRITE
        assert "issue_credit" in result.reason


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
@pytest.mark.parametrize("action, arguments", [
    ("substr", "'abc', 1"), ("replace", "'abc', 'a', 'b'"), ("left", "'abc', 1"), ("lower", "'abc'"),
    ("coalesce", "y, 0"), ("count", "*"), ("date", "'2024-01-01'"),
])
def test_declared_actions_that_shadow_built_in_functions_are_still_writes(dialect, action, arguments):
    # sqlglot parses these as its own functions (substr -> SUBSTRING), so the name is checked as written too.
    sql = f"SELECT {action.upper()}({arguments}) AS x FROM t WHERE y > 0"
    result = classify(sql, dialect=dialect, actions=[action])
    assert result.kind == WRITE and f"calls {action}" in result.reason, result.reason
    assert classify(sql, dialect=dialect, actions=[]).kind == READ
    quoted = classify(f'SELECT "{action}"(1); SELECT 2', dialect=dialect, actions=[action])
    assert quoted.kind == WRITE and quoted.reason.startswith("statement 1 of 2"), quoted.reason
    # Text and column names that only look like the action are not calls.
    assert classify(f"SELECT '{action}(1)' AS {action}_note, {action}_total FROM t", dialect=dialect, actions=[action]).kind == READ


def test_undeclared_function_is_a_read_for_the_guard():
    # The read-only transaction is the second lock for functions nobody declared (tested on Postgres).
    assert classify("SELECT issue_credit(1, 2)", dialect="postgresql", actions=[]).kind == READ


def test_multi_statement_reports_which_statement_writes():
    result = classify("SELECT 1; SELECT 2; DELETE FROM t", dialect="postgresql", actions=[])
    assert result.kind == WRITE
    assert result.reason.startswith("statement 3 of 3")


def test_statements_keep_their_original_text():
    sql = "SELECT 'a;b' AS x ;\n  -- note\n  SELECT $$;$$ AS y"
    result = classify(sql, dialect="postgresql", actions=[])
    assert [s.sql for s in result.statements] == ["SELECT 'a;b' AS x", "-- note\n  SELECT $$;$$ AS y"]
    assert all(s.returns_rows for s in result.statements)


def test_empty_and_comment_only_text_is_unknown():
    for sql in ["", "   ", "-- nothing", "/* nothing */ ;"]:
        assert classify(sql, dialect="postgresql", actions=[]).kind == UNKNOWN


def test_unparseable_text_is_unknown_and_counts_as_not_read():
    result = classify("SELEC 1 FROMM", dialect="postgresql", actions=[])
    assert result.kind in (UNKNOWN, WRITE)
    assert not result.is_read


def test_explain_is_judged_by_the_explained_statement():
    assert classify("EXPLAIN SELECT 1", dialect="postgresql", actions=[]).kind == READ
    assert classify("EXPLAIN VERBOSE DELETE FROM t", dialect="postgresql", actions=[]).kind == WRITE
    assert classify("EXPLAIN (COSTS OFF) SELECT issue_credit(1, 1)", dialect="postgresql", actions=ACTIONS).kind == WRITE
    assert classify("EXPLAIN QUERY PLAN DELETE FROM t", dialect="sqlite", actions=[]).kind == WRITE


def test_sqlite_pragmas_only_read_when_reporting():
    assert classify("PRAGMA table_info(track)", dialect="sqlite", actions=[]).kind == READ
    assert classify("PRAGMA main.index_list('track')", dialect="sqlite", actions=[]).kind == READ
    assert classify("PRAGMA foreign_keys = OFF", dialect="sqlite", actions=[]).kind == WRITE


def test_dialect_decides_comment_nesting():
    # Postgres nests block comments, SQLite does not: the same text hides a DROP only in SQLite.
    sql = "SELECT 1 /* /* */ ; DROP TABLE t; */"
    assert classify(sql, dialect="postgresql", actions=[]).kind == READ
    assert classify(sql, dialect="sqlite", actions=[]).kind == WRITE


def test_every_corpus_write_has_a_readable_reason():
    for case in PG_WRITES:
        result = classify(case.sql, dialect="postgresql", actions=ACTIONS)
        assert 0 < len(result.reason) < 300
