"""The sandbox's functional contract: the execute_python tool output, executor calls, limits.

These tests start real sandbox processes (bubblewrap where installed) and need no database.
Hostile snippets live in test_sandbox_hostile.py; both use the stand-in host defined here.
"""

import glob
import json
import logging
import os
import shutil
import tempfile
import textwrap
import threading
import time

import pytest
from django.conf import settings as django_settings

from executor.sandbox import SandboxConfig, SandboxPool, ToolError, execute_python, warm_up
from executor.sandbox import pool as pool_module
from executor.sandbox import shutdown as shutdown_default_pool

# The sandbox with stand-in hosts: no app database or broker is involved, so one pass proves it.
pytestmark = pytest.mark.backend_independent

SAMPLE_ROWS = [{"n": 1, "label": "one"}, {"n": 2, "label": "two"}, {"n": 3, "label": "three"}]


class StandInHost:
    """Plays the worker's SQL and artifact services: canned rows, recorded calls."""

    def __init__(self, rows=None, delay: float = 0.0, rows_for=None):
        self.rows = SAMPLE_ROWS if rows is None else rows
        self.rows_for = rows_for
        self.delay = delay
        self.queries: list[str] = []
        self.stored: dict = {}

    def run_sql(self, sql: str) -> list[dict]:
        self.queries.append(sql)
        if self.delay:
            time.sleep(self.delay)  # e.g. a person deciding whether to approve a write
        if "missing_table" in sql:
            raise ToolError("no such table: missing_table")
        if "host_bug" in sql:
            raise RuntimeError("connection string postgres://secret@db leaked?")
        rows = self.rows_for(sql) if self.rows_for else self.rows
        return [dict(row) for row in rows]

    def store_artifact(self, identifier, title, artifact_type, data) -> None:
        self.stored[identifier] = (title, artifact_type, data)

    def get_artifact(self, identifier):
        stored = self.stored.get(identifier)
        return stored[2] if stored else None


def run(pool: SandboxPool, code: str, host=None, timeout=None) -> dict:
    return pool.execute(textwrap.dedent(code), host or StandInHost(), timeout=timeout)


def assert_still_works(pool: SandboxPool) -> None:
    result = run(pool, "executor.print('still here')")
    assert result == {"output": "still here\n", "error": None, "sql_statements": [], "modified_artifacts": []}


def make_pool(**overrides) -> SandboxPool:
    # QUERENT_SANDBOX_DISABLE_BWRAP=1 (or a QUERENT_SANDBOX_BWRAP that is missing) runs these tests the
    # way a machine without bubblewrap would; what needs bubblewrap then skips, saying so.
    settings = {"pool_size": 2, "timeout": 5.0, "cpu_seconds": 3, "output_chars": 20_000, "first_uid": 61000,
                "disable_bwrap": django_settings.SANDBOX_DISABLE_BWRAP, "bwrap": django_settings.SANDBOX_BWRAP}
    pool = SandboxPool(SandboxConfig(**{**settings, **overrides}))
    pool.start()
    return pool


# What snippets in these tests write to /tmp: the sandbox's own tmpfs under bubblewrap; without it,
# the host's, which is why the tests that write there need bubblewrap.
SNIPPET_TMP_NAMES = ("id", "stolen", "marker", "locked", "allowed", "one", "escape", "fill*", "f[0-9]*")


def tmp_traces(folder: str = "/tmp") -> set[str]:
    return {path for name in SNIPPET_TMP_NAMES for path in glob.glob(os.path.join(folder, name))}


@pytest.fixture(scope="module", autouse=True)
def host_tmp_untouched():
    """Sandbox tests leave nothing in the host's temporary folder, with or without bubblewrap: the
    fallback's per-zygote folders (tempfile.mkdtemp) go to a folder of the module's own, which must
    be empty once the pools are shut down, and no snippet writes to the host's /tmp."""
    before = tmp_traces()
    previous, own = tempfile.tempdir, tempfile.mkdtemp(prefix="querent-test-sandbox-")
    os.chmod(own, 0o711)  # the snippet's uid passes through to its own folder inside
    tempfile.tempdir = own
    try:
        yield
        shutdown_default_pool()  # the process-wide pool and its folders; the next use starts another
    finally:
        tempfile.tempdir = previous
        left = os.listdir(own)
        shutil.rmtree(own, ignore_errors=True)
    assert not left, f"sandbox pools left folders behind: {left}"
    written = tmp_traces() - before
    assert not written, f"sandbox tests wrote into the host's temporary folder: {sorted(written)}"


def needs_bwrap(pool):
    if pool.mode != "bwrap":
        pytest.skip("needs bubblewrap (not installed, or QUERENT_SANDBOX_DISABLE_BWRAP=1): without it the "
                    "snippet's /tmp is the host's and there is no filesystem or network namespace")


@pytest.fixture(scope="module")
def pool():
    pool = make_pool()
    yield pool
    pool.shutdown()


# The first example of the PromptQL seed (seed 000): the model's code, the rows its two queries
# returned, and the exact tool output the product produced for them.
SEED_CODE = ("# First, let's get the payment data\n"
 'sql_payments = """\n'
 'SELECT customerId, SUM(amount) as total_spent\n'
 'FROM (\n'
 '    SELECT customerId, amount FROM PaymentP202201\n'
 '    UNION ALL SELECT customerId, amount FROM PaymentP202202\n'
 '    UNION ALL SELECT customerId, amount FROM PaymentP202203\n'
 '    UNION ALL SELECT customerId, amount FROM PaymentP202204\n'
 '    UNION ALL SELECT customerId, amount FROM PaymentP202205\n'
 '    UNION ALL SELECT customerId, amount FROM PaymentP202206\n'
 '    UNION ALL SELECT customerId, amount FROM PaymentP202207\n'
 ')\n'
 'GROUP BY customerId\n'
 'ORDER BY total_spent DESC\n'
 'LIMIT 10\n'
 '"""\n'
 '\n'
 'top_customers = executor.run_sql(sql_payments)\n'
 '\n'
 "# Now, let's get the customer details for these top customers\n"
 "customer_ids = [str(customer['customerId']) for customer in top_customers]\n"
 "customer_ids_str = ','.join(customer_ids)\n"
 '\n'
 'sql_customer_details = f"""\n'
 'SELECT id, givenName, surname, emailAddr\n'
 'FROM Patron\n'
 'WHERE id IN ({customer_ids_str})\n'
 '"""\n'
 '\n'
 'customer_details = executor.run_sql(sql_customer_details)\n'
 '\n'
 '# Combine the payment data with customer details\n'
 'top_customers_with_details = []\n'
 'for payment in top_customers:\n'
 "    customer = next((c for c in customer_details if c['id'] == payment['customerId']), None)\n"
 '    if customer:\n'
 '        top_customers_with_details.append({\n'
 "            'Customer ID': customer['id'],\n"
 '            \'Name\': f"{customer[\'givenName\']} {customer[\'surname\']}",\n'
 "            'Email': customer['emailAddr'],\n"
 '            \'Total Spent\': f"${payment[\'total_spent\']:.2f}"\n'
 '        })\n'
 '\n'
 '# Store the result as an artifact\n'
 "executor.store_artifact('top_customers', 'Top 10 Customers by Total Spending', 'table', "
 'top_customers_with_details)\n'
 '\n'
 '# Print some summary information\n'
 'executor.print(f"Total number of top customers retrieved: {len(top_customers_with_details)}")\n'
 'executor.print(f"Highest amount spent: ${top_customers_with_details[0][\'Total Spent\']}")\n'
 'executor.print(f"Lowest amount spent in top 10: ${top_customers_with_details[-1][\'Total Spent\']}")')
SEED_PAYMENTS = [{'customerId': 526, 'total_spent': 221.55},
 {'customerId': 148, 'total_spent': 216.54000000000002},
 {'customerId': 144, 'total_spent': 195.58},
 {'customerId': 137, 'total_spent': 194.61},
 {'customerId': 178, 'total_spent': 194.61},
 {'customerId': 459, 'total_spent': 186.62},
 {'customerId': 469, 'total_spent': 177.60000000000005},
 {'customerId': 468, 'total_spent': 175.61},
 {'customerId': 236, 'total_spent': 175.58},
 {'customerId': 181, 'total_spent': 174.66000000000003}]
SEED_PATRONS = [
 {'id': 137, 'givenName': 'RHONDA', 'surname': 'KENNEDY', 'emailAddr': 'RHONDA.KENNEDY@sakilacustomer.org'},
 {'id': 144, 'givenName': 'CLARA', 'surname': 'SHAW', 'emailAddr': 'CLARA.SHAW@sakilacustomer.org'},
 {'id': 148, 'givenName': 'ELEANOR', 'surname': 'HUNT', 'emailAddr': 'ELEANOR.HUNT@sakilacustomer.org'},
 {'id': 178, 'givenName': 'MARION', 'surname': 'SNYDER', 'emailAddr': 'MARION.SNYDER@sakilacustomer.org'},
 {'id': 181, 'givenName': 'ANA', 'surname': 'BRADLEY', 'emailAddr': 'ANA.BRADLEY@sakilacustomer.org'},
 {'id': 236, 'givenName': 'MARCIA', 'surname': 'DEAN', 'emailAddr': 'MARCIA.DEAN@sakilacustomer.org'},
 {'id': 459, 'givenName': 'TOMMY', 'surname': 'COLLAZO', 'emailAddr': 'TOMMY.COLLAZO@sakilacustomer.org'},
 {'id': 468, 'givenName': 'TIM', 'surname': 'CARY', 'emailAddr': 'TIM.CARY@sakilacustomer.org'},
 {'id': 469, 'givenName': 'WESLEY', 'surname': 'BULL', 'emailAddr': 'WESLEY.BULL@sakilacustomer.org'},
 {'id': 526, 'givenName': 'KARL', 'surname': 'SEAL', 'emailAddr': 'KARL.SEAL@sakilacustomer.org'}]
SEED_OUTPUT = ("SQL statement returned 10 rows, columns: ['customerId', 'total_spent']\n"
 "SQL statement returned 10 rows, columns: ['id', 'givenName', 'surname', 'emailAddr']\n"
 "Stored table artifact: identifier = 'top_customers', title = 'Top 10 Customers by Total Spending', number "
 "of rows = 10, sample rows = [{'Customer ID': 526, 'Name': 'KARL SEAL', 'Email': "
 "'KARL.SEAL@sakilacustomer.org', 'Total Spent': '$221.55'}, {'Customer ID': 148, 'Name': 'ELEANOR HUNT', "
 "'Email': 'ELEANOR.HUNT@sakilacustomer.org', 'Total Spent': '$216.54'}]\n"
 'Total number of top customers retrieved: 10\n'
 'Highest amount spent: $$221.55\n'
 'Lowest amount spent in top 10: $$174.66\n')
SEED_ARTIFACTS = [{'identifier': 'top_customers',
  'title': 'Top 10 Customers by Total Spending',
  'artifact_type': 'table',
  'data': [{'Customer ID': 526,
            'Name': 'KARL SEAL',
            'Email': 'KARL.SEAL@sakilacustomer.org',
            'Total Spent': '$221.55'},
           {'Customer ID': 148,
            'Name': 'ELEANOR HUNT',
            'Email': 'ELEANOR.HUNT@sakilacustomer.org',
            'Total Spent': '$216.54'},
           {'Customer ID': 144,
            'Name': 'CLARA SHAW',
            'Email': 'CLARA.SHAW@sakilacustomer.org',
            'Total Spent': '$195.58'},
           {'Customer ID': 137,
            'Name': 'RHONDA KENNEDY',
            'Email': 'RHONDA.KENNEDY@sakilacustomer.org',
            'Total Spent': '$194.61'},
           {'Customer ID': 178,
            'Name': 'MARION SNYDER',
            'Email': 'MARION.SNYDER@sakilacustomer.org',
            'Total Spent': '$194.61'},
           {'Customer ID': 459,
            'Name': 'TOMMY COLLAZO',
            'Email': 'TOMMY.COLLAZO@sakilacustomer.org',
            'Total Spent': '$186.62'},
           {'Customer ID': 469,
            'Name': 'WESLEY BULL',
            'Email': 'WESLEY.BULL@sakilacustomer.org',
            'Total Spent': '$177.60'},
           {'Customer ID': 468,
            'Name': 'TIM CARY',
            'Email': 'TIM.CARY@sakilacustomer.org',
            'Total Spent': '$175.61'},
           {'Customer ID': 236,
            'Name': 'MARCIA DEAN',
            'Email': 'MARCIA.DEAN@sakilacustomer.org',
            'Total Spent': '$175.58'},
           {'Customer ID': 181,
            'Name': 'ANA BRADLEY',
            'Email': 'ANA.BRADLEY@sakilacustomer.org',
            'Total Spent': '$174.66'}]}]


# --- the tool output --------------------------------------------------------------------------


def test_seed_example_gives_the_seed_output_exactly(pool):
    def rows_for(sql):
        return SEED_PAYMENTS if "PaymentP202201" in sql else SEED_PATRONS

    host = StandInHost(rows_for=rows_for)
    result = pool.execute(SEED_CODE, host)
    assert result["error"] is None
    assert result["output"] == SEED_OUTPUT
    assert [s["result"] for s in result["sql_statements"]] == [SEED_PAYMENTS, SEED_PATRONS]
    assert result["sql_statements"][1]["sql"].strip().endswith("WHERE id IN (526,148,144,137,178,459,469,468,236,181)")
    assert result["modified_artifacts"] == SEED_ARTIFACTS
    assert host.stored["top_customers"][0] == "Top 10 Customers by Total Spending"
    assert list(result) == ["output", "error", "sql_statements", "modified_artifacts"]


def test_output_is_one_log_in_the_order_things_happened(pool):
    result = run(pool, """
        print("before", 1)
        rows = executor.run_sql("SELECT n, label FROM numbers")
        executor.print("got", len(rows))
        executor.store_artifact("numbers", "Numbers", "table", rows)
        executor.store_artifact("note", "A note", "text", "three numbers")
        import sys
        print("to stderr", file=sys.stderr)
    """)
    assert result["error"] is None
    assert result["output"] == (
        "before 1\n"
        "SQL statement returned 3 rows, columns: ['n', 'label']\n"
        "got 3\n"
        "Stored table artifact: identifier = 'numbers', title = 'Numbers', number of rows = 3, "
        "sample rows = [{'n': 1, 'label': 'one'}, {'n': 2, 'label': 'two'}]\n"
        "Stored text artifact: identifier = 'note', title = 'A note'\n"
        "to stderr\n"
    )
    assert result["sql_statements"] == [{"sql": "SELECT n, label FROM numbers", "result": SAMPLE_ROWS}]
    assert [a["identifier"] for a in result["modified_artifacts"]] == ["numbers", "note"]


def test_empty_result_lists_no_columns(pool):
    result = run(pool, "executor.run_sql('SELECT 1 WHERE false')", StandInHost(rows=[]))
    assert result["output"] == "SQL statement returned 0 rows, columns: []\n"


def test_calls_work_plainly_and_awaited_and_top_level_await_works(pool):
    result = run(pool, """
        import asyncio
        plain = executor.run_sql("SELECT 1")
        awaited = await executor.run_sql("SELECT 2")
        await executor.store_artifact("t", "T", "table", awaited)
        again = await executor.get_artifact("t")
        await executor.print("same:", plain == awaited == again)

        async def twice():
            await asyncio.sleep(0.01)
            return len(await executor.run_sql("SELECT 3"))

        counts = await asyncio.gather(twice(), twice())
        executor.print("counts:", counts)
    """)
    assert result["error"] is None, result["error"]
    assert "same: True\n" in result["output"]
    assert "counts: [3, 3]\n" in result["output"]
    assert len(result["sql_statements"]) == 4


def test_pandas_and_numpy_are_available(pool):
    result = run(pool, """
        import numpy as np
        import pandas as pd
        rows = executor.run_sql("SELECT n, label FROM numbers")
        frame = pd.DataFrame(rows)
        frame["even"] = frame["n"] % 2 == 0
        summary = frame.groupby("even")["n"].sum()
        executor.print(summary.to_dict(), np.arange(4).sum())
        executor.store_artifact("summary", "Sums", "table", summary.reset_index())
        executor.print(pd.Timestamp("2024-03-10 12:00", tz="UTC").tz_convert("America/New_York"))
    """)
    assert result["error"] is None, result["error"]
    assert "{False: 4, True: 2} 6\n" in result["output"]
    assert result["output"].endswith("2024-03-10 08:00:00-04:00\n")  # the host's time zone data is mounted
    assert result["modified_artifacts"][0]["data"] == [{"even": False, "n": 4}, {"even": True, "n": 2}]


def _huge_pages_possible() -> bool:
    import os
    import re

    try:
        mode = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return False
    version = tuple(int(part) for part in re.findall(r"\d+", os.uname().release)[:2])
    return "[never]" not in mode and version >= (6, 1)  # MADV_COLLAPSE arrived in Linux 6.1


def test_the_warm_heap_sits_on_huge_pages_and_snippets_see_the_c_allocator(pool):
    # Fewer page-table entries to copy per fork and to free per exit: the main cost of a trivial snippet.
    collapsed = [zygote.info["huge_pages_mb"] for zygote in pool._zygotes.values()]
    if _huge_pages_possible():
        assert all(mb >= 16 for mb in collapsed), collapsed
    else:
        assert collapsed == [0] * len(collapsed)
    result = run(pool, """
        try:
            import _testcapi
        except ImportError:  # not every Python ships its test modules
            executor.print("malloc")
        else:
            executor.print(_testcapi.pymem_getallocatorsname())
    """)
    assert result["output"] == "malloc\n"  # one contiguous C heap, not 1 MB arenas too small for a huge page


def test_database_values_reach_the_snippet_as_json(pool):
    import datetime
    import decimal

    rows = [{"amount": decimal.Decimal("12.50"), "day": datetime.date(2024, 5, 1), "ratio": float("nan")}]
    result = run(pool, """
        row = executor.run_sql("SELECT amount, day, ratio FROM t")[0]
        executor.print(repr(row["amount"]), repr(row["day"]), repr(row["ratio"]))
    """, StandInHost(rows=rows))
    assert result["output"].endswith("12.5 '2024-05-01' None\n")
    assert result["sql_statements"][0]["result"] == [{"amount": 12.5, "day": "2024-05-01", "ratio": None}]
    json.dumps(result, allow_nan=False)  # the tool output is plain JSON


# --- errors the model reads --------------------------------------------------------------------


def test_traceback_shows_only_the_snippets_lines(pool):
    result = run(pool, """
        def average(values):
            return sum(values) / len(values)

        executor.print("start")
        average([])
    """)
    assert result["output"] == "start\n"
    assert result["error"] == (
        "Traceback (most recent call last):\n"
        '  File "<string>", line 6, in <module>\n'
        "    average([])\n"
        '  File "<string>", line 3, in average\n'
        "    return sum(values) / len(values)\n"
        "           ~~~~~~~~~~~~^~~~~~~~~~~~~\n"
        "ZeroDivisionError: division by zero\n"
    )


def test_errors_inside_libraries_and_awaits_hide_internal_frames(pool):
    result = run(pool, """
        import pandas as pd
        rows = await executor.run_sql("SELECT n FROM numbers")
        pd.DataFrame(rows)["missing"]
    """)
    error = result["error"]
    assert error.startswith("Traceback (most recent call last):\n")
    assert error.count('File "') == 1 and 'File "<string>", line 4, in <module>' in error
    assert error.rstrip().endswith("KeyError: 'missing'")
    for internal in ("/root", "site-packages", "sandbox", "asyncio", "child", "executor.py"):
        assert internal not in error


def test_tool_error_from_the_host_is_raised_at_the_users_line(pool):
    result = run(pool, """
        rows = executor.run_sql("SELECT 1")
        try:
            executor.run_sql("SELECT * FROM missing_table")
        except Exception as exc:
            executor.print("caught:", type(exc).__name__, exc)
        await executor.run_sql("SELECT * FROM missing_table")
    """)
    assert "caught: ToolError no such table: missing_table\n" in result["output"]
    assert result["error"].startswith(
        "Traceback (most recent call last):\n"
        '  File "<string>", line 7, in <module>\n'
        '    await executor.run_sql("SELECT * FROM missing_table")\n'
    )
    assert result["error"].endswith("\nToolError: no such table: missing_table\n")
    assert result["error"].count("File ") == 1
    assert [s["sql"] for s in result["sql_statements"]] == ["SELECT 1"]  # only what succeeded


def test_a_failing_host_does_not_leak_its_exception(pool, caplog):
    with caplog.at_level(logging.ERROR, logger="querent.sandbox"):
        result = run(pool, "executor.run_sql('SELECT host_bug')")
    assert result["error"].endswith("ToolError: run_sql failed because of an internal error\n")
    assert "secret" not in result["error"]
    assert "host call run_sql failed" in caplog.text


def test_syntax_errors_and_exits(pool):
    syntax = run(pool, "x = (1,\nprint(x)")
    assert 'File "<string>", line 1' in syntax["error"] and "SyntaxError" in syntax["error"]
    assert run(pool, "import sys\nprint('bye')\nsys.exit(0)") == {
        "output": "bye\n", "error": None, "sql_statements": [], "modified_artifacts": []}
    assert run(pool, "raise SystemExit(3)")["error"].endswith("SystemExit: 3\n")
    exited = run(pool, "import os\nos._exit(0)")
    assert exited["error"] == "the code was stopped: it exited with status 0 before finishing"


def test_text_that_cannot_be_stored_is_cleaned(pool):
    result = run(pool, "print('nul:\\x00 surrogate:\\ud800')\nraise ValueError('\\ud800')")
    assert result["output"] == "nul:\ufffd surrogate:?\n"
    assert result["error"].endswith("ValueError: ?\n")
    stored = run(pool, "executor.store_artifact('a\\x00', 'A', 'text', 'x')")
    assert stored["error"].endswith(
        "ToolError: identifier and title must not contain NUL characters or invalid Unicode\n")
    json.dumps(result, ensure_ascii=False).encode("utf-8")


def test_wrong_argument_types_fail_at_the_users_line(pool):
    result = run(pool, "executor.run_sql(42)")
    assert result["error"].endswith("TypeError: run_sql() expects the SQL as a string, got int\n")
    assert 'line 1, in <module>' in result["error"]


# --- artifacts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("call, message", [
    ("executor.store_artifact('a', 'A', 'image', [])",
     "artifact_type must be one of 'chart', 'table', 'text', not 'image'"),
    ("executor.store_artifact('a', 'A', 'table', {'n': 1})", "a table artifact's data must be a list of row dicts"),
    ("executor.store_artifact('a', 'A', 'table', [1, 2])", "a table artifact's data must be a list of row dicts"),
    ("executor.store_artifact('a', 'A', 'text', ['x'])", "a text artifact's data must be a string"),
    ("executor.store_artifact('a', 'A', 'chart', 'x')", "a chart artifact's data must be a dict"),
    ("executor.store_artifact('', 'A', 'text', 'x')",
     "identifier must be a non-empty string of at most 200 characters"),
    ("executor.store_artifact('a', 'A', 'text', 'x' * 6_000_000)", "artifact data is 5.7 MB; the limit is 5 MB"),
])
def test_artifacts_are_validated_by_the_worker(pool, call, message):
    host = StandInHost()
    result = run(pool, call, host)
    assert result["error"].endswith(f"ToolError: {message}\n")
    assert result["modified_artifacts"] == [] and host.stored == {}


def test_unserializable_artifact_data_is_a_type_error(pool):
    result = run(pool, "executor.store_artifact('a', 'A', 'table', [{'f': open}])")
    assert "TypeError: store_artifact() data is not JSON-serializable" in result["error"]


def test_analysis_values_are_converted_and_storing_again_replaces(pool):
    result = run(pool, """
        import numpy as np
        import pandas as pd
        executor.store_artifact("t", "First", "table", [{"x": 1}])
        frame = pd.DataFrame({"x": [np.int64(2), None], "when": pd.to_datetime(["2024-01-02", None])})
        executor.store_artifact("t", "Second", "table", frame)
        executor.store_artifact("c", "Chart", "chart", {"type": "bar", "x": "x", "y": "x", "rows": frame})
        executor.print(executor.get_artifact("missing"))
    """)
    assert result["error"] is None, result["error"]
    table, chart = result["modified_artifacts"]
    assert table == {"identifier": "t", "title": "Second", "artifact_type": "table",
                     "data": [{"x": 2.0, "when": "2024-01-02T00:00:00"}, {"x": None, "when": None}]}
    assert chart["data"]["rows"] == table["data"]
    assert result["output"].endswith("None\n")


# --- limits --------------------------------------------------------------------------------------


def test_run_sql_calls_are_limited_per_snippet(pool):
    host = StandInHost()
    result = run(pool, "for i in range(60):\n    executor.run_sql(f'SELECT {i}')", host)
    assert result["error"].endswith("ToolError: run_sql was called more than 50 times in one snippet; "
                                    "combine queries or aggregate in SQL instead\n")
    assert len(result["sql_statements"]) == 50 and len(host.queries) == 50


def test_ignoring_the_run_sql_limit_stops_the_snippet(pool):
    result = run(pool, """
        while True:
            try:
                executor.run_sql("SELECT 1")
            except Exception:
                pass
    """)
    assert result["error"] == "the code was stopped: it kept calling run_sql after the limit of 50 calls per snippet"
    assert len(result["sql_statements"]) == 50
    assert_still_works(pool)


def test_output_is_capped(pool):
    result = run(pool, "print('x' * 50_000)\nprint('never shown')")
    assert result["error"] is None
    assert result["output"] == "x" * 20_000 + "\n[output truncated: more than 20000 characters]\n"


def test_host_calls_that_block_longer_than_the_timeout_are_not_counted(pool):
    host = StandInHost(delay=1.5)
    started = time.monotonic()
    result = run(pool, "for _ in range(2):\n    executor.run_sql('UPDATE t SET x = 1')\nexecutor.print('done')",
                 host, timeout=1.0)
    assert result["error"] is None and result["output"].endswith("done\n")
    assert time.monotonic() - started >= 3.0


def test_the_snippets_own_time_is_limited(pool):
    result = run(pool, "import time\nprint('working')\ntime.sleep(5)", timeout=0.5)
    assert result == {"output": "working\n", "error": "the code was stopped: it ran for more than 0.5 seconds",
                      "sql_statements": [], "modified_artifacts": []}


def test_the_total_time_including_host_calls_is_capped():
    pool = make_pool(pool_size=1, total_timeout=1.0)
    try:
        result = run(pool, "executor.run_sql('SELECT 1')\nexecutor.run_sql('SELECT 2')", StandInHost(delay=0.7))
        assert result["error"] == ("the code was stopped: it ran for more than 1 second in total, "
                                   "including time spent waiting for queries")
        assert len(result["sql_statements"]) == 2  # both ran: the host was not interrupted, the snippet was
        assert_still_works(pool)
    finally:
        pool.shutdown()


# --- the public API, threads and the fallback -------------------------------------------------------


def test_public_api_runs_snippets_from_four_threads_at_once():
    results: dict[int, dict] = {}

    def worker(number: int) -> None:
        host = StandInHost(rows=[{"thread": number}])
        code = (f"import time\nrows = executor.run_sql('SELECT {number}')\n"
                "time.sleep(0.3)\nexecutor.print(rows[0]['thread'])")
        results[number] = execute_python(code, host)

    warm_up()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for number, result in results.items():
        assert result["error"] is None, result["error"]
        assert result["output"].endswith(f"{number}\n")
        assert result["sql_statements"] == [{"sql": f"SELECT {number}", "result": [{"thread": number}]}]
    assert len(results) == 4
    assert time.monotonic() - started < 4 * 0.3 + 3  # they ran side by side, not one after another


def test_code_that_is_not_text_is_not_run(pool):
    assert run(pool, "x" * 10)["error"].endswith("NameError: name 'xxxxxxxxxx' is not defined\n")
    assert pool.execute(b"print(1)", StandInHost())["error"] == "the code was not run: the code must be a string"


def test_fallback_without_bubblewrap_still_confines_and_warns(caplog, monkeypatch):
    monkeypatch.setattr(pool_module, "_warned", set())  # said once per process: maybe already, by an earlier pool
    with caplog.at_level(logging.WARNING, logger="querent.sandbox"):
        pool = make_pool(pool_size=1, disable_bwrap=True)
    try:
        assert pool.mode == "fallback"
        assert "SANDBOX WARNING" in caplog.text
        result = run(pool, """
            import os, socket, resource
            import pandas as pd
            executor.print(os.getuid() != 0, dict(os.environ), resource.getrlimit(resource.RLIMIT_NPROC))
            try:
                socket.socket().connect(("127.0.0.1", 5432))
            except OSError as exc:
                executor.print("socket:", type(exc).__name__)
            executor.print(pd.DataFrame({"a": [1, 2]})["a"].sum())
        """)
        assert result["error"] is None, result["error"]
        assert result["output"] == "True {} (32, 32)\nsocket: PermissionError\n3\n"
        looping = run(pool, "while True: pass", timeout=0.5)
        assert looping["error"] == "the code was stopped: it ran for more than 0.5 seconds"
        assert_still_works(pool)
    finally:
        pool.shutdown()
