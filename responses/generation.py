"""From a question (and maybe a given query) to a finished Dataherald response, through the engine's
pieces: schema summary → SQL from the LLM → the SQL guard runs it read-only (a failed query goes
back to the model with the database's error, a bounded number of times) → a plain-language answer
→ an optional evaluation. Every model call's tokens and cost are summed; `intermediate_steps` says
what happened, in order.

Runs in a Celery worker (responses.tasks); the result is a `Draft`, saved in one piece by services.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings

from assistants.llm import LLMConfig, LLMError, complete
from config.identity import Principal
from executor.errors import DataSourceUnavailable
from executor.context.index import context_for
from executor.selectors import data_source_for_use
from executor.services import NeedsConfirmation, SqlError, run_sql

from . import prompts
from .exports import Exported, result_or_csv
from .storage import StorageError

log = logging.getLogger(__name__)

VALID, INVALID, NONE = "VALID", "INVALID", "NONE"
NO_MODEL = (
    "No language model is configured, so no SQL could be generated. Set OPENAI_API_KEY (and OPENAI_BASE_URL "
    "for another OpenAI-compatible endpoint) and QUERENT_MODEL, or send the query yourself as sql_query."
)


@dataclass
class Draft:
    """The fields of a Response, filled step by step."""

    response: str | None = None
    intermediate_steps: list[str] = field(default_factory=list)
    sql_query: str | None = None
    sql_query_result: dict | None = None
    csv_file_path: str | None = None
    sql_generation_status: str = NONE
    error_message: str | None = None
    exec_time: float | None = None
    total_tokens: int = 0
    total_cost: float = 0.0
    confidence_score: float | None = None
    # Not a Response field: the statement that waits for approval (services starts its run).
    pending_write: str | None = None

    def fields(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "pending_write"}


@dataclass
class _Result:
    columns: list[str]
    rows: list[dict]  # all rows, or the first ones when a CSV holds the rest
    total: int
    truncated: bool = False


@dataclass
class Flags:
    run_evaluator: bool = False
    sql_response_only: bool = False
    generate_csv: bool = False


@dataclass(frozen=True)
class _Source:
    """Who wrote a statement that is run once, as intermediate_steps name it."""

    wrote: str  # the step that shows the statement
    failed: str  # the step that shows its error
    generated: bool  # refused for approval as "The generated query" rather than "The query"


CALLER = _Source("sql given by the caller", "execution failed", generated=False)
DEMO_MODEL = _Source(
    "sql by the offline demo model (no language model configured)", "the demo model's query failed", generated=True
)


class _Generation:
    def __init__(self, question, *, response_id: str, flags: Flags):
        self.question = question
        self.data_source = question.db_connection
        self.response_id = response_id
        self.flags = flags
        self.config = LLMConfig.from_settings()
        self.draft = Draft()
        self.result: _Result | None = None
        self._unpriced: set[str] = set()

    # --- bookkeeping ---------------------------------------------------------------------

    def step(self, text: str) -> None:
        self.draft.intermediate_steps.append(text)

    def ask(self, messages: list[dict], purpose: str) -> str:
        """One model call; its usage is added to the response's totals."""
        completion = complete(messages, config=self.config)
        usage = completion.usage
        self.draft.total_tokens += usage.total_tokens
        self.draft.total_cost = round(self.draft.total_cost + usage.cost_usd, 8)
        estimated = " (estimated)" if usage.estimated else ""
        self.step(f"{purpose}: model {usage.model}, {usage.total_tokens} tokens{estimated}, ${usage.cost_usd:.6f}")
        if not usage.priced and usage.model not in self._unpriced:
            self._unpriced.add(usage.model)
            self.step(f"cost unknown: model {usage.model} is not in the price table, counted as $0")
        return completion.text or ""

    # --- running SQL ---------------------------------------------------------------------

    def execute(self, sql: str) -> None:
        """Run through the SQL guard; raises SqlError, NeedsConfirmation or StorageError."""
        if self.flags.generate_csv:
            outcome = result_or_csv(self.data_source, sql, name=self.response_id)
            if isinstance(outcome, Exported):
                self.result = _Result(outcome.columns, outcome.preview, outcome.row_count)
                self.draft.csv_file_path = outcome.location
                self.draft.sql_query_result = None
                self.step(f"csv: {outcome.row_count} rows (more than 50) written to {outcome.location}")
            else:
                self.result = _Result(outcome.columns, outcome.rows, len(outcome.rows))
                self.draft.sql_query_result = {"columns": outcome.columns, "rows": outcome.rows}
        else:
            found = run_sql(self.data_source, sql)
            self.result = _Result(found.columns, found.rows, found.rowcount, found.truncated)
            self.draft.sql_query_result = {"columns": found.columns, "rows": found.rows}
        limit = " (cut at the data source's row limit)" if self.result.truncated else ""
        self.step(f"executed: {self.result.total} rows, {len(self.result.columns)} columns{limit}")
        self.draft.sql_generation_status = VALID

    def refuse(self, exc: NeedsConfirmation, *, generated: bool) -> None:
        """A query that changes data is not run here: it waits for a person's approval, then the
        engine runs exactly this statement (services.build_response starts that run)."""
        who = "The generated query" if generated else "The query"
        self.draft.sql_generation_status = NONE
        self.draft.pending_write = exc.sql
        self.draft.error_message = (
            f"{who} changes data ({exc.reason}), so it waits for approval; nothing has been changed yet."
        )
        self.step(f"held by the SQL guard for approval, nothing changed yet: {exc.reason}")

    # --- the steps -----------------------------------------------------------------------

    def run_once(self, sql: str, source: _Source) -> None:
        """A statement from the caller or the demo model: run once, its error kept (no model to
        send it back to, unlike generate_sql's attempts)."""
        self.draft.sql_query = sql
        self.step(f"{source.wrote}: {sql}")
        try:
            self.execute(sql)
        except NeedsConfirmation as exc:
            self.refuse(exc, generated=source.generated)
        except SqlError as exc:
            self.draft.sql_generation_status = INVALID
            self.draft.error_message = exc.message
            self.step(f"{source.failed}: {exc.message}")

    def generate_sql(self) -> None:
        if self.config.is_demo:
            self.demo_sql()
            return
        context = context_for(self.data_source, self.question.question, Principal(self.question.tenant, self.question.owner))
        schema = context.schema
        self.step(f"schema: summary of data source '{self.data_source.name}' ({len(schema)} characters) sent to the model")
        self.step(f"context: {len(context.instructions)} instructions, {len(context.examples)} golden SQL examples")
        messages = prompts.sql_messages(self.question.question, engine=self.data_source.engine, schema=schema, context=context.text())
        attempts = 1 + max(0, settings.RESPONSES_SQL_RETRIES)
        for attempt in range(1, attempts + 1):
            try:
                reply = self.ask(messages, f"sql attempt {attempt}")
            except LLMError as exc:
                self.draft.error_message = f"The language model failed: {exc.message}"
                self.step(f"sql attempt {attempt}: the model failed ({exc.kind}): {exc.message}")
                if self.draft.sql_query:
                    self.draft.sql_generation_status = INVALID
                return
            sql = prompts.extract_sql(reply)
            messages.append({"role": "assistant", "content": reply})
            if not sql:
                self.step(f"sql attempt {attempt}: the reply contained no SQL")
                self.draft.error_message = "The model's reply contained no SQL query."
                messages.append(prompts.NO_SQL_CORRECTION)
                continue
            self.draft.sql_query = sql
            self.step(f"sql attempt {attempt}: {sql}")
            try:
                self.execute(sql)
            except NeedsConfirmation as exc:
                self.refuse(exc, generated=True)
                return
            except SqlError as exc:
                self.draft.sql_generation_status = INVALID
                self.draft.error_message = exc.message
                left = attempts - attempt
                self.step(f"sql attempt {attempt} failed: {exc.message}" + (" (sent back to the model)" if left else ""))
                messages.append(prompts.correction_message(exc.message))
                continue
            self.draft.error_message = None
            return

    def demo_sql(self) -> None:
        """No model configured: the offline demo model writes SQL for the questions it knows."""
        from assistants import demo_sql

        sql = demo_sql.sql_for(self.question.question)
        if sql is None:
            self.draft.error_message = f"{NO_MODEL} {demo_sql.not_understood()}"
            self.step("no language model configured, and the demo model does not know this question")
            return
        self.run_once(sql, DEMO_MODEL)

    def result_text(self) -> str:
        if self.result is None:
            return "The query did not run."
        return prompts.result_text(
            self.result.columns, self.result.rows, total=self.result.total, truncated=self.result.truncated
        )

    def answer(self) -> None:
        if self.config.is_demo:
            from assistants import demo_sql

            self.draft.response = demo_sql.answer(self.result.columns, self.result.rows, self.result.total) if self.result else None
            self.step("answer: written by the offline demo model from the result's rows")
            return
        messages = prompts.answer_messages(self.question.question, self.draft.sql_query, self.result_text())
        try:
            self.draft.response = self.ask(messages, "answer").strip() or None
        except LLMError as exc:
            self.draft.error_message = f"The query ran, but the language model failed to answer: {exc.message}"
            self.step(f"answer: the model failed ({exc.kind}): {exc.message}")

    def evaluate(self) -> None:
        if self.draft.sql_generation_status != VALID:
            self.draft.confidence_score = 0.0
            self.step("evaluator: the query did not run, confidence 0")
            return
        if not self.config.is_demo:
            messages = prompts.evaluation_messages(self.question.question, self.draft.sql_query, self.result_text())
            try:
                reply = self.ask(messages, "evaluator")
            except LLMError as exc:
                reply = None
                self.step(f"evaluator: the model failed ({exc.kind}): {exc.message}")
            score = prompts.parse_score(reply)
            if score is not None:
                self.draft.confidence_score = score
                self.step(f"evaluator: confidence {score} from the model")
                return
            if reply is not None:
                self.step(f"evaluator: no score in the model's reply {reply[:120]!r}")
        self.draft.confidence_score = heuristic_score(self.result)
        self.step(
            f"evaluator: heuristic confidence {self.draft.confidence_score} from execution success "
            f"(the query ran and returned {self.result.total} rows)"
        )


def heuristic_score(result: _Result | None) -> float:
    """When no model judges: a query that ran and returned rows is more likely right than an empty one."""
    if result is None:
        return 0.0
    return 0.6 if result.total > 0 else 0.3


def generate(question, *, response_id: str, sql_query: str | None, flags: Flags) -> Draft:
    started = time.monotonic()
    run = _Generation(question, response_id=response_id, flags=flags)
    run.step(
        f"flags: run_evaluator={flags.run_evaluator}, sql_response_only={flags.sql_response_only}, "
        f"generate_csv={flags.generate_csv}"
    )
    try:
        # Checked as a data source, for the question's owner, at the moment it is used (DESIGN §9).
        data_source_for_use(Principal(question.tenant, question.owner), question.db_connection)
    except DataSourceUnavailable as exc:
        run.draft.error_message = str(exc)
        run.step("refused: the data source is not available to the question's owner; nothing ran")
        run.draft.exec_time = round(time.monotonic() - started, 6)
        return run.draft
    try:
        if sql_query:
            run.run_once(sql_query, CALLER)
        else:
            run.generate_sql()
        if run.draft.sql_generation_status == VALID and not flags.sql_response_only:
            run.answer()
        if flags.run_evaluator:
            run.evaluate()
    except StorageError as exc:
        run.draft.sql_generation_status = VALID  # the query ran; only its file could not be kept
        run.draft.sql_query_result = None
        run.draft.csv_file_path = None
        run.draft.error_message = f"The query ran, but its CSV file could not be stored: {exc}"
        run.step(f"csv: storing the file failed: {exc}")
    except Exception:  # noqa: BLE001 - the response is still written, with an honest error
        log.exception("response generation failed", extra={"response_id": response_id})
        if run.draft.sql_generation_status == VALID:
            run.draft.sql_generation_status = INVALID
        run.draft.error_message = "Internal error while building this response; the server log has the details."
        run.step("internal error")
    run.draft.exec_time = round(time.monotonic() - started, 6)
    return run.draft
