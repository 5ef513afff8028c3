"""Formula escaping of CSV cells (config/csv_cells.py): the chat page's rule, for Python's csv writer
and for PostgreSQL's own COPY rows."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from config.csv_cells import escape_pg_csv_row, escape_text, escaping_writer, is_numeric_text, safe_cell

ROOT = Path(__file__).resolve().parents[2]

DANGEROUS = [
    '=HYPERLINK("http://x")', "=cmd|' /C calc'!A0", "@SUM(1)", "+1+1", "-1+cmd|' /C calc'!A0", "=1", "+", "-", "@",
    "\t=1", "\r=1", "-$5", "--1", "- 1", "-1e400", "+A1", "-Infinity", "=", "@@", "-1-1",
]
LEFT_ALONE = [
    "", "hello", "'=already escaped", " =space first", "1", "-1", "+1", "-1.5", "+.5", "-5.", "-1e5", "-1E-05", "-1,000",
    "-12%", "\t1", "\t-1\r", "-1,2,3", "AC/DC", "a=b", "customer 1 of the bench", "2024-01-01", "$-",
]


@pytest.mark.parametrize("text", DANGEROUS)
def test_formula_text_gets_an_apostrophe(text):
    assert escape_text(text) == "'" + text and safe_cell(text) == "'" + text
    assert escape_text(escape_text(text)) == escape_text(text)  # escaping twice changes nothing


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_other_text_and_numeric_text_is_left_alone(text):
    assert escape_text(text) == text and safe_cell(text) == text


@pytest.mark.parametrize("value", [-1, -1.5, 0, None, True, False, float("-inf")])
def test_values_that_are_not_text_are_never_changed(value):
    assert safe_cell(value) is value


def test_numeric_text_is_the_chat_pages_to_number():
    assert is_numeric_text(" -1,234.50 ") and is_numeric_text("$12") and is_numeric_text("€-1") and not is_numeric_text("-$1")
    assert is_numeric_text("12%") and not is_numeric_text("12%%") and not is_numeric_text("1e400") and not is_numeric_text("١")


JS_CORPUS = DANGEROUS + LEFT_ALONE + ["\u00a0-1", "-1\u00a0", "-1\x1c", "\ufeff-1", "-0x10", "-1_000", "-١", "=\n1", '"=x"']


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_same_rule_as_the_chat_pages_download():
    """Each value through static/querent/util.js `toCsv`, run by node, and through this module."""
    script = """
    const fs = require("fs");
    const source = fs.readFileSync(process.argv[1], "utf8");
    import("data:text/javascript;base64," + Buffer.from(source).toString("base64")).then((util) => {
      const values = JSON.parse(fs.readFileSync(0, "utf8"));
      process.stdout.write(JSON.stringify(values.map((v) => util.toCsv(["c"], [{c: v}]))));
    });
    """
    result = subprocess.run(["node", "-e", script, str(ROOT / "static/querent/util.js")], input=json.dumps(JS_CORPUS),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for value, out in zip(JS_CORPUS, json.loads(result.stdout), strict=True):
        field = out.split("\r\n", 1)[1].removesuffix("\r\n")  # the header line, then the value's
        if field.startswith('"'):
            field = field[1:-1].replace('""', '"')
        assert field == escape_text(value), value


# --- PostgreSQL's CSV rows -----------------------------------------------------------------------


@pytest.mark.parametrize("row, expected", [
    (b'=x,1\n', b"'=x,1\n"),
    (b'1,"=a,b"\n', b'1,"\'=a,b"\n'),
    (b'"x","@y",-1,-z,\n', b'"x","\'@y",-1,\'-z,\n'),  # a trailing empty field stays
    (b'"\r=1",+\n', b'"\'\r=1",\'+\n'),
    (b'x,"=a""b"\n', b'x,"\'=a""b"\n'),
    (b'"a\n=b",=c\n', b'"a\n=b",\'=c\n'),  # a newline inside a value starts no field
    (b'=HYPERLINK(""http://x""),,""\n', b'\'=HYPERLINK(""http://x""),,""\n'),  # NULL and "" stay apart
    ("caf\u00e9,=\u00e9\n".encode(), "caf\u00e9,'=\u00e9\n".encode()),
    (b'a,b\r\n', b'a,b\r\n'),
    (b'-1,+2,-1.5e3,"-1,000"\n', b'-1,+2,-1.5e3,"-1,000"\n'),
])
def test_postgres_rows_escape_only_the_fields_that_need_it(row, expected):
    assert bytes(escape_pg_csv_row(memoryview(row))) == expected


def test_rows_without_a_formula_pass_through_untouched():
    row = memoryview(b"1,customer 1 of the bench,12.50,2024-01-01 00:00:01+00,t,-12,-0.5,+3e10\n")
    assert escape_pg_csv_row(row) is row


def test_writer_passes_rows_on_one_at_a_time_escaped_where_needed():
    rows = [b"n,text\n", b"1,plain\n", b"=2,first field\n", b"3,@last\n", b'4,"multi\n=line"\n', b"-5,-5\n", b"6,-x\n",
            b'"=7",x\n', b"+8,+8e3\n"]
    written = []
    write = escaping_writer(written.append)
    for row in rows:
        write(memoryview(row))
    assert [bytes(row) for row in written] == [
        b"n,text\n", b"1,plain\n", b"'=2,first field\n", b"3,'@last\n", b'4,"multi\n=line"\n', b"-5,-5\n", b"6,'-x\n",
        b'"\'=7",x\n', b"+8,+8e3\n",
    ]
    assert written[1].obj == rows[1]  # a clean row is the very object libpq handed over, not a copy


def test_other_client_encodings_are_respected():
    row = "\u30c6,=\u30c6\n".encode("shift_jis")
    assert escape_pg_csv_row(row, "shift_jis").decode("shift_jis") == "\u30c6,'=\u30c6\n"


def test_text_that_is_not_the_servers_csv_is_left_as_it_is():
    assert escape_pg_csv_row(b'"=open\n') == b'"=open\n'
