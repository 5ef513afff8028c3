"""A statement run once (given by the caller, or written by the offline demo model): what each
source says in intermediate_steps and error_message when it runs, fails or waits for approval."""

from types import SimpleNamespace

import pytest

from executor.errors import NeedsConfirmation, SqlError
from responses import generation
from responses.generation import CALLER, DEMO_MODEL, INVALID, NONE, VALID, Flags


def _run(source, outcome):
    """One run_once with the SQL guard's outcome stubbed: None (the query ran) or the exception."""
    question = SimpleNamespace(db_connection=None, question="q", tenant="t", owner="o")
    run = generation._Generation(question, response_id="r", flags=Flags())

    def execute(sql):
        if outcome is not None:
            raise outcome
        run.draft.sql_generation_status = VALID

    run.execute = execute
    run.run_once("SELECT 1", source)
    return run.draft


@pytest.mark.parametrize(("source", "wrote", "failed"), [
    (CALLER, "sql given by the caller: SELECT 1", "execution failed: no such table"),
    (DEMO_MODEL, "sql by the offline demo model (no language model configured): SELECT 1", "the demo model's query failed: no such table"),
])
def test_each_source_names_itself_and_its_failure(source, wrote, failed):
    ran = _run(source, None)
    assert (ran.sql_query, ran.sql_generation_status, ran.intermediate_steps) == ("SELECT 1", VALID, [wrote])
    broken = _run(source, SqlError("no such table"))
    assert (broken.sql_generation_status, broken.error_message) == (INVALID, "no such table")
    assert broken.intermediate_steps == [wrote, failed]


@pytest.mark.parametrize(("source", "who"), [(CALLER, "The query"), (DEMO_MODEL, "The generated query")])
def test_a_write_waits_for_approval_named_by_its_source(source, who):
    held = _run(source, NeedsConfirmation("DELETE FROM t", "a DELETE"))
    assert (held.sql_generation_status, held.pending_write) == (NONE, "DELETE FROM t")
    assert held.error_message == f"{who} changes data (a DELETE), so it waits for approval; nothing has been changed yet."
