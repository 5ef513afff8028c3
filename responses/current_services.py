"""Writes for Dataherald's current API: prompts, SQL and NL generations, and the hosted API's
generations, over the context store's rows (executor.context). Generation runs in a worker on the
`agent` queue through the same pipeline as seed 001's responses (responses.generation): the
context store's prompt, the LLM client, the SQL guard (a write is refused, never run)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from config.csv_cells import safe_cell
from config.errors import Conflict
from config.identity import Principal
from executor.context import services as context_services
from executor.context.models import NlGeneration, Prompt, SqlGeneration
from executor.models import DataSource
from executor.selectors import data_source_for_use
from executor.services import NeedsConfirmation, SqlError, read_stream, run_sql

from .generation import INVALID, VALID, Draft, Flags, generate
from .prompts import WRITES_ELSEWHERE
from .services import GenerationPending, GenerationUnavailable, wait_for_worker  # noqa: F401 - the API catches the first two here

FINETUNING_REFUSAL = (
    "Querent does not fine-tune models. Give the model your database's knowledge instead: golden SQLs "
    "(POST /api/golden-sqls; the most similar ones go into every prompt as verified examples), instructions "
    "(POST /api/instructions) and table and column descriptions (PUT /api/table-descriptions/{id}). The model "
    "itself is the server's configuration (QUERENT_MODEL, OPENAI_BASE_URL)."
)


class WriteRefused(Exception):
    """The SQL would change data: Dataherald's API never runs it (there is no confirmation step here)."""


@dataclass
class _Asked:
    """What the generation pipeline reads of a question."""

    question: str
    db_connection: DataSource
    tenant: str
    owner: str


def _asked(prompt: Prompt) -> _Asked:
    return _Asked(prompt.text, prompt.data_source, prompt.tenant, prompt.owner)


# --- prompts --------------------------------------------------------------------------------


def prompt_create(principal: Principal, data_source: DataSource, *, text: str, metadata: dict | None) -> Prompt:
    data_source_for_use(principal, data_source)
    prompt = Prompt(data_source=data_source, text=text.strip(), metadata=metadata or {})
    prompt.assign_owner(principal)
    prompt.full_clean()
    prompt.save()
    return prompt


def prompt_update(prompt: Prompt, *, metadata: dict | None) -> Prompt:
    # The hosted API keeps its generation status inside metadata.dh_internal: a client's metadata
    # replaces its own keys only.
    internal = (prompt.metadata or {}).get("dh_internal")
    prompt.metadata = {**(metadata or {}), **({"dh_internal": internal} if internal else {})}
    prompt.save(update_fields=["metadata"])
    return prompt


# --- SQL generations ------------------------------------------------------------------------


def sql_generation_create(principal: Principal, prompt: Prompt, options: dict) -> SqlGeneration:
    """Write (or check the given) SQL for a prompt, in the worker; returns the finished row."""
    from . import tasks

    data_source_for_use(principal, prompt.data_source)  # 403 naming it; the worker checks again
    sql = (options.get("sql") or "").strip() or None
    item = SqlGeneration.objects.create(
        prompt=prompt, sql=sql, evaluate=options.get("evaluate", False), low_latency_mode=options.get("low_latency_mode", False),
        finetuning_id=options.get("finetuning_id"), metadata=options.get("metadata") or {},
    )
    wait_for_worker(tasks.write_sql_generation, {"sql_generation_id": str(item.pk)}, object_id=str(item.pk), what="generation")
    item.refresh_from_db()
    return item


def build_sql_generation(sql_generation_id: str) -> SqlGeneration:
    """The worker's part. A redelivered task finds the row finished and stops."""
    item = SqlGeneration.objects.select_related("prompt", "prompt__data_source").get(pk=sql_generation_id)
    if item.status != SqlGeneration.Status.INITIALIZED:
        return item
    # evaluate=False: no confidence score (Dataherald's engine leaves it empty then too).
    flags = Flags(run_evaluator=item.evaluate, sql_response_only=True)
    draft = generate(_asked(item.prompt), response_id=str(item.pk), sql_query=item.sql, flags=flags)
    _finish(item, draft)
    return item


def _finish(item: SqlGeneration, draft: Draft) -> None:
    item.sql = draft.sql_query
    item.status = SqlGeneration.Status.VALID if draft.sql_generation_status == VALID else SqlGeneration.Status.INVALID
    item.error = draft.error_message if item.status != SqlGeneration.Status.VALID else None
    if draft.sql_generation_status not in (VALID, INVALID) and not item.error:
        item.error = "No SQL was written."
    if draft.pending_write:  # this API has no confirmation step: a write is never run here
        item.error = f"This SQL changes data; it is never run here, and nothing was changed. {WRITES_ELSEWHERE}"
    item.confidence_score = draft.confidence_score
    item.tokens_used = draft.total_tokens
    item.cost_usd = draft.total_cost
    item.intermediate_steps = draft.intermediate_steps
    item.completed_at = timezone.now()
    with transaction.atomic():
        item.save()


# --- NL generations -------------------------------------------------------------------------


def nl_generation_create(principal: Principal, sql_generation: SqlGeneration, *, max_rows: int, metadata: dict | None) -> NlGeneration:
    from . import tasks

    data_source_for_use(principal, sql_generation.prompt.data_source)
    item = NlGeneration.objects.create(sql_generation=sql_generation, max_rows=max_rows, metadata=metadata or {})
    wait_for_worker(tasks.write_nl_generation, {"nl_generation_id": str(item.pk)}, object_id=str(item.pk), what="generation")
    item.refresh_from_db()
    return item


def build_nl_generation(nl_generation_id: str) -> NlGeneration:
    item = NlGeneration.objects.select_related("sql_generation__prompt__data_source").get(pk=nl_generation_id)
    if item.text is not None:
        return item
    generation = item.sql_generation
    if generation.status != SqlGeneration.Status.VALID or not generation.sql:
        item.text = f"No answer: the SQL generation did not produce a query that ran ({generation.error or generation.status})."
    else:
        draft = generate(_asked(generation.prompt), response_id=str(item.pk), sql_query=generation.sql, flags=Flags())
        item.text = draft.response or draft.error_message or "No answer was written."
        item.tokens_used = draft.total_tokens
    item.save(update_fields=["text", "tokens_used"])
    return item


# --- running a generation's SQL -------------------------------------------------------------


def _runnable(generation: SqlGeneration) -> str:
    if not generation.sql:
        raise SqlError(f"This SQL generation has no SQL to run ({generation.error or generation.status}).")
    verdict = context_services.classify(generation.sql, dialect=context_services.DIALECTS.get(
        generation.prompt.data_source.engine, generation.prompt.data_source.engine), actions=generation.prompt.data_source.actions or ())
    if verdict.kind == "write":
        raise WriteRefused(f"This SQL changes data ({verdict.reason}); a generated write is never run here, and nothing was changed. {WRITES_ELSEWHERE}")
    return generation.sql


def _write_refused(exc: NeedsConfirmation) -> WriteRefused:
    """What the SQL guard held for approval: this API has no approval step, so it never runs."""
    return WriteRefused(f"This SQL changes data ({exc.reason}); it is never run here, and nothing was changed. {WRITES_ELSEWHERE}")


def execute(principal: Principal, generation: SqlGeneration, *, max_rows: int) -> list[dict]:
    data_source = data_source_for_use(principal, generation.prompt.data_source)
    sql = _runnable(generation)
    try:
        found = run_sql(data_source, sql)
    except NeedsConfirmation as exc:
        raise _write_refused(exc) from None
    return found.rows[:max_rows]


def csv_text(principal: Principal, generation: SqlGeneration) -> str:
    """The result as CSV, up to the data source's row limit, formula cells escaped."""
    data_source = data_source_for_use(principal, generation.prompt.data_source)
    sql = _runnable(generation)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    try:
        with read_stream(data_source, sql, max_rows=data_source.row_limit) as (columns, rows):
            writer.writerow([safe_cell(c) for c in columns])
            for row in rows:
                writer.writerow(["" if row[c] is None else safe_cell(row[c]) for c in columns])
    except NeedsConfirmation as exc:
        raise _write_refused(exc) from None
    return buffer.getvalue()


# --- the hosted API's generations (a prompt with its latest SQL and answer) -----------------


def latest(prompt: Prompt) -> tuple[SqlGeneration | None, NlGeneration | None]:
    sql = prompt.sql_generations.order_by("-created_at").first()
    nl = sql.nl_generations.order_by("-created_at").first() if sql else None
    return sql, nl


def generation_run(principal: Principal, prompt: Prompt, *, sql: str | None = None) -> tuple[SqlGeneration, NlGeneration | None]:
    generation = sql_generation_create(principal, prompt, {"sql": sql, "evaluate": True})
    answer = None
    if generation.status == SqlGeneration.Status.VALID:
        answer = nl_generation_create(principal, generation, max_rows=100, metadata={})
    return generation, answer


def generation_update(principal: Principal, prompt: Prompt, *, status: str, message: str | None):
    """A person's verdict. VERIFIED promotes the latest SQL that ran to a golden SQL."""
    generation, _ = latest(prompt)
    if status == "VERIFIED":
        if generation is None or generation.status != SqlGeneration.Status.VALID:
            raise Conflict("generation_status: only a generation whose SQL ran can be verified.")
        context_services.promote(principal, generation)
    internal = dict((prompt.metadata or {}).get("dh_internal") or {})
    internal.update(generation_status=status, message=message, updated_by=principal.user_id, updated_at=timezone.now().isoformat())
    prompt.metadata = {**(prompt.metadata or {}), "dh_internal": internal}
    prompt.save(update_fields=["metadata"])
    return prompt
