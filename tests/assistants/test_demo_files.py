"""The offline demo model on an uploaded file (a DuckDB source): the code it writes runs through
run_sql on a real DuckDB file (guard included) and its answers quote only what the code printed."""

import json

import duckdb
import pytest

from assistants.demo_model import LABEL, reply_to
from executor.models import DataSource
from executor.services import run_sql
from threads.prompt import system_prompt

from .test_demo_model import Executor, run_code


@pytest.fixture
def sales(settings, tmp_path):
    settings.SQLITE_DATA_SOURCE_DIRS = [str(tmp_path)]
    path = tmp_path / "upload.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE sales AS SELECT i AS id, ['North', 'South', 'East'][1 + i % 3] AS region, "
                 "['Widget', 'Gadget'][1 + i % 2] AS product, (i % 7) * 2.5 AS amount FROM range(1, 301) t(i)")
    conn.close()
    return DataSource(name="sales.csv", engine="duckdb", connection_url=f"duckdb:///{path}")


def ask(data_source, question):
    messages = [{"role": "system", "content": system_prompt("", "duckdb", "sales(id, region, product, amount)")},
                {"role": "user", "content": question}]
    first, calls = reply_to(messages)
    assert first.startswith(LABEL) and len(calls) == 1
    executor = Executor(lambda sql: run_sql(data_source, sql).rows)
    result = run_code(calls[0].parsed()["python_code"], executor)
    assert result["error"] is None, result["error"]
    messages += [{"role": "assistant", "content": first, "tool_calls": [calls[0].to_message()]},
                 {"role": "tool", "tool_call_id": calls[0].id, "content": json.dumps(result, default=str)}]
    final, more = reply_to(messages)
    assert more == [] and final.startswith(LABEL)
    return result, final


def test_whats_in_this_file(sales):
    result, final = ask(sales, "What's in this file?")
    assert "Table sales: 300 rows; columns: id (bigint), region (varchar), product (varchar), amount (decimal" in final
    identifiers = [a["identifier"] for a in result["modified_artifacts"]]
    assert identifiers == ["file_overview", "file_preview"] and len(result["modified_artifacts"][1]["data"]) == 10


def test_counts(sales):
    _, final = ask(sales, "How many rows are there?")
    assert "Rows in sales: 300" in final


def test_top_n_by_a_named_column_and_measure(sales):
    result, final = ask(sales, "top 2 regions by amount")
    rows = result["modified_artifacts"][0]["data"]
    expected = run_sql(sales, "SELECT region, sum(amount) AS t FROM sales GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 2").rows
    assert [(r["region"], r["total_amount"]) for r in rows] == [(e["region"], e["t"]) for e in expected]
    assert f"Highest: {expected[0]['region']} with {expected[0]['t']}" in final


def test_a_chart(sales):
    result, final = ask(sales, "Chart amount by product")
    chart = result["modified_artifacts"][1]
    assert chart["artifact_type"] == "chart" and chart["data"]["x"] == "product" and chart["data"]["y"] == "total_amount"
    assert "<artifact identifier='file_chart' />" in final


def test_the_chinook_questions_are_unchanged_elsewhere():
    messages = [{"role": "system", "content": system_prompt("", "sqlite", "track(...)")},
                {"role": "user", "content": "What's in this file?"}]
    text, calls = reply_to(messages)
    assert calls == [] and "offline demo model" in text
