"""Writes for the Dataherald dialect: database connections (over executor.DataSource), questions,
and responses built by a worker while the web request waits for them."""

from __future__ import annotations

import copy
import logging
import uuid

from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from config.identity import Principal
from executor.dsn import engine_from_url
from executor.models import DataSource
from executor.services import (
    SqlResult, check_may_change, data_source_create, data_source_update, require_tenant_admin, run_sql, test_connection,
)

from .generation import Flags, generate
from .models import Question, Response
from .storage import prune_local_exports

log = logging.getLogger(__name__)


class GenerationPending(Exception):
    """The worker did not finish in time; the response will appear under `response_id` when it does."""

    def __init__(self, response_id: str, timeout: float):
        super().__init__(f"response {response_id} not ready after {timeout:g}s")
        self.response_id = response_id
        self.timeout = timeout


class GenerationUnavailable(Exception):
    """The task could not be queued, or the worker failed outside the pipeline."""


# --- database connections ------------------------------------------------------------------

# DataSource's field names, as Dataherald's clients know them.
_DATAHERALD_FIELDS = {"connection_url": "connection_uri", "engine": "connection_uri", "name": "alias"}


def _as_dataherald(exc: ValidationError) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return ValidationError({"connection_uri": exc.messages})
    mapped: dict[str, list[str]] = {}
    for name, messages in exc.message_dict.items():
        mapped.setdefault(_DATAHERALD_FIELDS.get(name, name), []).extend(messages)
    return ValidationError(mapped)


def _check(candidate: DataSource, *, connect: bool, principal: Principal) -> None:
    """Validate as the model would, then (like Dataherald) refuse a database that cannot be reached."""
    try:
        candidate.full_clean()
    except ValidationError as exc:
        raise _as_dataherald(exc) from None
    if connect:
        ok, message = test_connection(candidate, principal=principal)
        if not ok:
            raise ValidationError({"connection_uri": [message]})


def connection_create(principal: Principal, *, alias: str, connection_uri: str, metadata: dict, tenant_wide: bool = False) -> DataSource:
    """A tenant admin's new connection: private to its creator unless `tenant_wide` (a Querent
    extension field: Dataherald clients, which do not send it, get a private one)."""
    require_tenant_admin(principal, "Creating a database connection")  # before anything connects anywhere
    engine = engine_from_url(connection_uri) or ""
    candidate = DataSource(name=alias, connection_url=connection_uri, engine=engine, metadata=metadata, tenant_wide=tenant_wide)
    candidate.assign_owner(principal)
    _check(candidate, connect=True, principal=principal)
    try:
        return data_source_create(
            principal=principal, name=alias, connection_url=connection_uri, engine=engine, metadata=metadata,
            tenant_wide=tenant_wide,
        )
    except ValidationError as exc:
        raise _as_dataherald(exc) from None


def connection_update(
    principal: Principal, data_source: DataSource, *, alias: str, connection_uri: str | None = None,
    metadata: dict | None = None, tenant_wide: bool | None = None,
) -> DataSource:
    """Replace alias (and the URI, metadata and tenant_wide when given: the URI is never sent back, so
    a client cannot be expected to resend it). A tenant admin changes its own connections and its
    tenant's tenant-wide ones; shared ones only the operator changes."""
    check_may_change(data_source, principal)
    fields: dict = {"name": alias}
    if tenant_wide is not None:
        fields["tenant_wide"] = tenant_wide
    if connection_uri is not None:
        fields["connection_url"] = connection_uri
        fields["engine"] = engine_from_url(connection_uri) or ""
    if metadata is not None:
        fields["metadata"] = metadata
    candidate = copy.copy(data_source)
    for name, value in fields.items():
        setattr(candidate, name, value)
    _check(candidate, connect=connection_uri is not None, principal=principal)
    try:
        with transaction.atomic():
            return data_source_update(data_source, principal=principal, **fields)
    except ValidationError as exc:
        raise _as_dataherald(exc) from None


def execute_query(data_source: DataSource, sql: str) -> SqlResult:
    """A caller's query, read-only under the SQL guard (NeedsConfirmation / SqlError propagate)."""
    return run_sql(data_source, sql)


# --- questions and responses ---------------------------------------------------------------


def question_create(principal: Principal, *, data_source: DataSource, question: str) -> Question:
    item = Question(question=question, db_connection=data_source)
    item.assign_owner(principal)
    item.full_clean()
    item.save()
    return item


def wait_for_worker(task, kwargs: dict, *, object_id: str, what: str, timeout: float | None = None) -> None:
    """Queue `task` and wait for it to finish (Dataherald answers POST with the complete object),
    holding no app-database connection meanwhile. GenerationPending after `timeout` (default
    QUERENT_RESPONSES_TIMEOUT: the worker goes on, the object appears under `object_id`);
    GenerationUnavailable when the broker is down or the worker failed outside the pipeline. `what`
    names the object in the log and the error: "response", "generation"."""
    timeout = settings.RESPONSES_TIMEOUT if timeout is None else timeout
    try:
        pending = task.apply_async(kwargs=kwargs)
        if not connection.in_atomic_block:
            connection.close()  # hold no app-database connection while the worker works
        pending.get(timeout=timeout, interval=0.05)
    except CeleryTimeoutError:
        raise GenerationPending(object_id, timeout) from None
    except Exception as exc:  # noqa: BLE001 - broker down, or the worker failed outside the pipeline
        log.exception("%s task failed", what, extra={f"{what}_id": object_id})
        raise GenerationUnavailable(f"the {what} could not be built ({type(exc).__name__})") from None


def request_response(question: Question, *, sql_query: str | None, flags: Flags, timeout: float | None = None) -> Response:
    """Queue the work on the `agent` queue and wait for the finished response."""
    from . import tasks  # tasks import this module

    response_id = str(uuid.uuid4())
    kwargs = {
        "response_id": response_id, "question_id": str(question.pk), "sql_query": sql_query,
        "run_evaluator": flags.run_evaluator, "sql_response_only": flags.sql_response_only,
        "generate_csv": flags.generate_csv,
    }
    wait_for_worker(tasks.generate_response, kwargs, object_id=response_id, what="response", timeout=timeout)
    return Response.objects.select_related("question").get(pk=response_id)


def build_response(
    *, response_id: str, question_id: str, sql_query: str | None = None, run_evaluator: bool = False,
    sql_response_only: bool = False, generate_csv: bool = False,
) -> Response:
    """Generate and save one response, in one piece. A redelivered task finds the row and stops."""
    existing = Response.objects.filter(pk=response_id).first()
    if existing is not None:
        return existing
    question = Question.objects.select_related("db_connection").get(pk=question_id)
    flags = Flags(run_evaluator=run_evaluator, sql_response_only=sql_response_only, generate_csv=generate_csv)
    draft = generate(question, response_id=response_id, sql_query=sql_query, flags=flags)
    with transaction.atomic():
        response, created = Response.objects.get_or_create(pk=response_id, defaults={"question": question, **draft.fields()})
        if created and draft.pending_write:
            _start_write(response, draft.pending_write)
    return response


# --- writes: held for approval, then run by the engine -------------------------------------


def _start_write(response: Response, sql: str) -> None:
    """The engine's run that executes exactly `sql` once a person approves it (threads.engine
    AgentLoop.run_statement). Its thread has the response's id, so the response finds it by key;
    it is the question owner's, so the chat page and /threads/{id}/user_confirmation decide it too."""
    from threads import services as engine

    question = response.question
    owner = Principal(question.tenant, question.owner)
    thread = engine.new_thread(
        owner, assistant=engine.default_assistant(owner), thread_id=response.pk,
        name=f"Dataherald: {question.question}", metadata={"dataherald_response": str(response.pk)},
    )
    config = {"dialect": "dataherald", "statement": {"sql": sql, "data_source_id": str(question.db_connection_id)}}
    engine.do_start_run(thread, question.question, config=config, acting=owner)


def await_write(response: Response, *, timeout: float | None = None) -> None:
    """For a response whose query waits for approval: return once its run has stopped at the
    confirmation (or ended), so the answer carries the pending change. Nothing to wait for otherwise."""
    from threads import services as engine

    from . import selectors

    run = selectors.write_run(response)
    if run is not None:
        engine.wait_for_outcome(run.pk, timeout=settings.RESPONSES_TIMEOUT if timeout is None else timeout)


def decide_write(principal: Principal, response: Response, confirmation_id, *, approve: bool, timeout: float | None = None) -> None:
    """Approve or deny the change a response waits on (Http404 when it is not this response's,
    Conflict when it was decided already), then wait for what the run does with it."""
    from django.http import Http404

    from threads import services as engine
    from threads.models import Confirmation, Thread

    thread = Thread.objects.filter(pk=response.pk).first()
    if thread is None:
        raise Http404("confirmation not found on this response")
    try:
        confirmation = engine.do_decide_confirmation(thread, confirmation_id, approve=approve, decided_by=str(principal))
    except Confirmation.DoesNotExist:
        raise Http404("confirmation not found on this response") from None
    engine.wait_for_outcome(confirmation.run_id, timeout=settings.RESPONSES_TIMEOUT if timeout is None else timeout)


def prune_exports(days: float | None = None) -> tuple[int, int]:
    """Delete local CSV exports older than `days` (default: QUERENT_CSV_RETENTION_DAYS; 0 keeps all).

    Returns (files, bytes) removed. Responses keep their csv_file_path: the file endpoint then
    answers 404 "no longer exists", which tells a client more than a silently emptied field.
    """
    days = settings.CSV_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0, 0
    files, size = prune_local_exports(days * 86400)
    if files:
        log.info("pruned %d CSV exports (%d bytes) older than %g days", files, size, days)
    return files, size
