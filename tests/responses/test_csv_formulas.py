"""CSV exports never hand a spreadsheet a formula: PostgreSQL's COPY path, the Python row path
(SQLite, several statements), local files and S3 uploads alike."""

import csv
import io

import pytest

from responses.exports import Exported, result_or_csv

pytestmark = pytest.mark.django_db

CELLS = ['=HYPERLINK("http://x")', "=cmd|' /C calc'!A0", "@SUM(1)", "+1+1", "-1+1", "\t=1", "\r=1"]
PG_SELECT = (
    "SELECT g AS n, -g AS minus, '=HYPERLINK(\"http://x\")' AS link, '=cmd|'' /C calc''!A0' AS cmd, '@SUM(1)' AS at, "
    "'+1+1' AS plus, '-1+1' AS minus_text, E'\\t=1' AS tab, E'\\r=1' AS cr, '-1' AS numeric_text, 'a,=b' AS inner_text, "
    "E'a\\r=1+1' AS inner_cr, "
    "NULL::text AS missing, '' AS empty, 'x' AS \"=col\" FROM generate_series(1, 60) g ORDER BY g"
)
SQLITE_SELECT = (
    "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 60) "
    "SELECT n, -n AS minus, '=HYPERLINK(\"http://x\")' AS link, '=cmd|'' /C calc''!A0' AS cmd, '@SUM(1)' AS at, "
    "'+1+1' AS plus, '-1+1' AS minus_text, char(9) || '=1' AS tab, char(13) || '=1' AS cr, '-1' AS numeric_text, "
    "'a,=b' AS inner_text, 'a' || char(13) || '=1+1' AS inner_cr, "
    "NULL AS missing, '' AS empty, 'x' AS \"=col\" FROM s"
)
HEADER = ["n", "minus", "link", "cmd", "at", "plus", "minus_text", "tab", "cr", "numeric_text", "inner_text", "inner_cr", "missing",
          "empty", "'=col"]


def exported_rows(exports_dir, outcome: Exported) -> list[list[str]]:
    return list(csv.reader(io.StringIO((exports_dir.parent / outcome.location).read_bytes().decode(), newline="")))


def expected_row(n: int) -> list[str]:
    # A CR inside a value is quoted, so no spreadsheet starts a row (and a formula) after it.
    return [str(n), str(-n), *("'" + cell for cell in CELLS), "-1", "a,=b", "a\r=1+1", "", "", "x"]


@pytest.mark.parametrize("source, sql", [
    ("pg_source", PG_SELECT),  # one statement: COPY, the server's own CSV
    ("pg_source", "SELECT 1; " + PG_SELECT),  # several statements: the Python row path
    ("sqlite_source", SQLITE_SELECT),
])
def test_formula_cells_are_escaped_numbers_are_not(request, exports_dir, source, sql):
    outcome = result_or_csv(request.getfixturevalue(source), sql, name=f"formulas-{source}-{len(sql)}")
    assert isinstance(outcome, Exported) and outcome.row_count == 60
    rows = exported_rows(exports_dir, outcome)
    assert len(rows) == 61 and rows[0] == HEADER
    assert rows[1] == expected_row(1) and rows[60] == expected_row(60)
    assert outcome.preview[0]["link"] == CELLS[0]  # the answer and the inline preview keep the data as it is


def test_postgres_export_keeps_quoting_and_nulls_as_the_server_wrote_them(pg_source, exports_dir):
    sql = "SELECT g, '=a,\"b\"' AS q, NULL::text AS n, '' AS e FROM generate_series(1, 55) g"
    outcome = result_or_csv(pg_source, sql, name="quoting")
    raw = (exports_dir.parent / outcome.location).read_bytes().decode().split("\n")
    assert raw[0] == "g,q,n,e" and raw[1] == '1,"\'=a,""b""",,""'


def test_s3_uploads_are_escaped_too(pg_source, settings, tmp_path, monkeypatch):
    from responses import s3

    uploaded = {}

    def put_file(config, key, path, *, size, sha256, content_type="text/csv"):
        uploaded[key] = path.read_bytes()

    settings.VAR_DIR = tmp_path
    settings.CSV_S3_BUCKET, settings.CSV_S3_ACCESS_KEY_ID, settings.CSV_S3_SECRET_ACCESS_KEY = "bucket", "id", "secret"
    settings.CSV_S3_PREFIX = ""
    monkeypatch.setattr(s3, "put_file", put_file)
    outcome = result_or_csv(pg_source, PG_SELECT, name="to-s3")
    assert outcome.location == "s3://bucket/to-s3.csv"
    rows = list(csv.reader(io.StringIO(uploaded["to-s3.csv"].decode(), newline="")))
    assert rows[0] == HEADER and rows[1] == expected_row(1)
