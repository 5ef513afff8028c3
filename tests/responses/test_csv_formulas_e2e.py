"""Dataherald's CSV file end to end (real daphne + Celery worker, the Chinook demo on PostgreSQL):
text that a spreadsheet would run as a formula comes back with a leading apostrophe."""

import csv
import io
import uuid

import httpx
import pytest

from config.identity import Principal
from executor.models import DataSource
from responses.models import Question
from tests.support.principals import api_user, headers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CELLS = ['=HYPERLINK("http://x")', "=cmd|' /C calc'!A0", "@SUM(1)", "+1+1", "-1+cmd|' /C calc'!A0", "\t=1", "\r=1"]


def sql_literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "''").replace("\t", "\\t").replace("\r", "\\r")
    return f"E'{escaped}'"


@pytest.fixture
def alice(transactional_db):
    return api_user(user_id=f"alice-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def question(alice, demo_pg_url):
    source = DataSource(name="chinook", engine="postgresql", connection_url=demo_pg_url)
    source.assign_owner(Principal(alice["_tenant"], alice["_user_id"]))
    source.save()
    return Question.objects.create(question="Formulas?", db_connection_id=source.id, tenant=alice["_tenant"], owner=alice["_user_id"])


def csv_file_of(stack, alice, question, sql: str) -> list[list[str]]:
    created = httpx.post(f"{stack.base_url}/api/v1/responses", headers=headers(alice), timeout=120,
                         params={"generate_csv": "true", "sql_response_only": "true", "run_evaluator": "false"},
                         json={"question_id": str(question.id), "sql_query": sql})
    body = created.json()
    assert created.status_code == 201 and body["sql_generation_status"] == "VALID" and body["csv_file_path"], body
    file = httpx.get(f"{stack.base_url}/api/v1/responses/{body['id']}/file", headers=headers(alice), timeout=120)
    assert file.status_code == 200 and file.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(file.text, newline="")))


@pytest.mark.parametrize("statements", ["one", "several"])  # COPY's own CSV, and the row-by-row path
def test_csv_file_escapes_cells_a_spreadsheet_would_run(stack, alice, question, statements):
    columns = ", ".join(f"{sql_literal(cell)} AS c{i}" for i, cell in enumerate(CELLS))
    sql = (f"SELECT g AS n, -g AS minus, {columns}, '+1' AS plus_one, '-1' AS minus_one, '-1.5' AS minus_decimal, "
           f"'x' AS \"=col\" FROM generate_series(1, 60) g ORDER BY g")
    rows = csv_file_of(stack, alice, question, sql if statements == "one" else "SELECT 1; " + sql)
    assert rows[0] == ["n", "minus", *(f"c{i}" for i in range(len(CELLS))), "plus_one", "minus_one", "minus_decimal", "'=col"]
    assert len(rows) == 61
    for n in (1, 60):
        # Text that is only a number stays a number, as in the chat page's download.
        assert rows[n] == [str(n), str(-n), *("'" + cell for cell in CELLS), "+1", "-1", "-1.5", "x"]
