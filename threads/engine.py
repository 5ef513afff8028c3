"""The agent loop: one run, from the user's message to `finish`, inside a Celery worker.

Every state change is written together with the event that describes it (threads.store), so a
stream replaying the log sees exactly what happened, and a run killed half-way can be resumed
from what was committed.
"""

import logging
import threading
import time
import uuid
from contextlib import contextmanager

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from assistants import bots, limits, llm
from config.identity import Principal
from config.logging import log_context
from config.worker import run_periodically
from executor import services as sql_services
from executor.errors import DataSourceUnavailable
from executor.selectors import data_source_for_use

from . import prompt, recall
from .models import Artifact, Confirmation, Message, Run, RunEvent, Thread
from .store import store

log = logging.getLogger(__name__)

DELTA_FLUSH_SECONDS = 0.05


class RunCancelled(Exception):
    pass


class HandOver(Exception):
    """The worker is shutting down while the run waits on a person: another worker takes it over."""


# Set when this worker starts a warm shutdown (threads.tasks). Runs that are computing finish; runs
# waiting for an approval, which may take minutes, are handed back to the queue instead.
draining = threading.Event()


class Heartbeats:
    """Touches heartbeat_at of the runs this process is executing, so the reaper can tell a live
    run from a dead worker: one timer thread and one UPDATE per beat for all of them (a thread per
    run cost two thread switches at each run's start and end)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._runs: dict = {}  # run id -> how many `beating` blocks hold it
        self._thread = None

    @contextmanager
    def beating(self, run_id):
        with self._lock:
            self._runs[run_id] = self._runs.get(run_id, 0) + 1
            if self._thread is None:
                # A failed beat is logged and the next one tries again: a missed beat only risks an early reap.
                self._thread = run_periodically("heartbeats", self.beat, every=settings.HEARTBEAT_INTERVAL, stop=threading.Event())
        try:
            yield
        finally:
            with self._lock:
                self._runs[run_id] -= 1
                if not self._runs[run_id]:
                    del self._runs[run_id]

    def beat(self) -> None:
        with self._lock:
            running = list(self._runs)
        if running:
            Run.objects.filter(pk__in=running).update(heartbeat_at=timezone.now())


heartbeats = Heartbeats()


def claim(run_id, worker: str) -> Run | None:
    """Take the run (threads.store: queued, or its worker lost), loaded as the agent loop needs
    it; None when it is not this worker's to run."""
    run = store.claim(run_id, worker)
    if run is not None and run.attempts > 1:
        _close_interrupted_tool_calls(run)
    return run


def _close_interrupted_tool_calls(run: Run) -> None:
    """A previous attempt died inside a tool call: record that, rather than run the code twice.
    Its pending confirmation is closed: nobody waits on it any more, and an approval given now
    must not look as if it did something."""
    store.close_confirmations(Confirmation.objects.filter(run=run), Confirmation.Status.CANCELLED, "worker lost")
    answered = set(Message.objects.filter(thread_id=run.thread_id, role=Message.Role.TOOL).values_list("tool_call_id", flat=True))
    for message in Message.objects.filter(thread_id=run.thread_id, run=run, role=Message.Role.AI):
        for call in message.tool_calls:
            if call["id"] in answered:
                continue
            output = {
                "output": "",
                "error": "The worker running this code stopped before it finished; the code was not run again. "
                "Check the data before retrying anything that changes it.",
                "sql_statements": [],
                "modified_artifacts": [],
            }
            _record_tool_result(run, call["id"], call["name"], output)


class RunSandboxHost:
    """What the sandboxed snippet's `executor` object reaches: the SQL guard, confirmations, artifacts."""

    def __init__(self, run: Run, thread: Thread, data_source, tool_call_id: str):
        self.run = run
        self.thread = thread
        self.data_source = data_source
        self.tool_call_id = tool_call_id
        self.cancelled = False
        self.handed_over = False

    def run_sql(self, sql: str) -> list[dict]:
        from executor.sandbox import ToolError

        if self.data_source is None:
            raise ToolError("No database is connected to this assistant.")
        try:
            return sql_services.run_sql(self.data_source, sql).rows
        except sql_services.NeedsConfirmation as needs:
            return self._run_after_confirmation(needs.sql)
        except sql_services.SqlError as exc:
            raise ToolError(str(exc)) from None
        finally:
            close_old_connections()

    def _run_after_confirmation(self, sql: str) -> list[dict]:
        from executor.sandbox import ToolError

        from executor.sandbox.host_calls import StopSnippet

        confirmation = request_confirmation(self.run, self.tool_call_id, sql)
        try:
            status = wait_for_decision(self.run, confirmation)
        except HandOver:
            self.handed_over = True
            raise StopSnippet("the worker shut down while waiting for approval") from None
        if status == Confirmation.Status.APPROVED:
            spent = Confirmation.objects.filter(pk=confirmation.pk, status=status, executed_at__isnull=True).update(executed_at=timezone.now())
            if spent != 1:
                raise ToolError("This approval was already used; the statement was not run again.")
            try:
                return sql_services.run_sql(self.data_source, sql, approval=_Approved(sql)).rows
            except sql_services.SqlError as exc:
                raise ToolError(str(exc)) from None
        if status == Confirmation.Status.DENIED:
            raise ToolError(f"The user did not approve this statement, so it was not run: {sql}")
        if status == Confirmation.Status.TIMED_OUT:
            raise ToolError(f"Nobody approved this statement within {int(settings.CONFIRMATION_TIMEOUT)} seconds, so it was not run.")
        self.cancelled = True
        raise ToolError("The run was cancelled before this statement was approved; it was not run.")

    def store_artifact(self, identifier: str, title: str, artifact_type: str, data) -> None:
        with transaction.atomic():
            artifact, created = Artifact.objects.select_for_update().get_or_create(
                thread=self.thread, identifier=identifier,
                defaults={"title": title, "artifact_type": artifact_type, "data": data, "run": self.run},
            )
            if not created:
                artifact.title, artifact.artifact_type, artifact.data, artifact.run = title, artifact_type, data, self.run
                artifact.version += 1
                artifact.save()

    def get_artifact(self, identifier: str):
        artifact = Artifact.objects.filter(thread=self.thread, identifier=identifier).first()
        return artifact.data if artifact else None


class _Approved:
    """An approval already spent on the Confirmation row, valid for exactly one statement."""

    def __init__(self, sql: str):
        self.sql = sql

    def approves(self, sql: str) -> bool:
        return sql == self.sql


def request_confirmation(run: Run, tool_call_id: str, sql: str, reason: str = "") -> Confirmation:
    with transaction.atomic():
        confirmation = Confirmation.objects.create(
            thread_id=run.thread_id, run=run, tool_call_id=tool_call_id, message=sql, reason=reason,
            expires_at=timezone.now() + timezone.timedelta(seconds=settings.CONFIRMATION_TIMEOUT),
        )
        Run.objects.filter(pk=run.pk).update(status=Run.Status.REQUIRES_ACTION)
        store.append_event(run.thread_id, run.id, "user_confirmation", {
            "confirmation_id": str(confirmation.id), "message": sql, "thread_id": str(run.thread_id),
        })
    return confirmation


def wait_for_decision(run: Run, confirmation: Confirmation) -> str:
    """Poll the row (woken early by a signal) until it is decided, expires, or the run is cancelled."""
    from . import bus

    try:
        while True:
            row = Confirmation.objects.only("status", "expires_at").get(pk=confirmation.pk)
            if row.status != Confirmation.Status.PENDING:
                return row.status
            remaining = (row.expires_at - timezone.now()).total_seconds()
            if remaining <= 0:
                store.close_confirmations(Confirmation.objects.filter(pk=row.pk), Confirmation.Status.TIMED_OUT, "timeout")
                continue
            if draining.is_set():
                raise HandOver()
            connection.close()  # hold no connection while a person decides
            bus.wait_for_confirmation_signal(confirmation.pk, min(remaining, 1.0))
    finally:
        Run.objects.filter(pk=run.pk, status=Run.Status.REQUIRES_ACTION).update(status=Run.Status.RUNNING)


def _record_tool_result(run: Run, call_id: str, name: str, output: dict) -> None:
    message = Message(thread_id=run.thread_id, run=run, role=Message.Role.TOOL, content=prompt.compact_tool_result(output),
                      tool_call_id=call_id, name=name)
    event = RunEvent(thread_id=run.thread_id, run_id=run.id, type="tool_response_message", data={"call_id": call_id, "output": output},
                     message_id=message.id)
    store.add_reply(message, event)


def _tool_error(message: str) -> dict:
    return {"output": "", "error": message, "sql_statements": [], "modified_artifacts": []}


def acting_principal(run: Run, thread: Thread) -> Principal | None:
    """Who the run acts for: the thread's owner, or the tenant-mate who asked (run.started_by);
    None for a staff member's test run from the admin (the operator may use any data source)."""
    if run.started_by_operator:
        return None
    return Principal(thread.tenant, run.started_by or thread.owner)


class AgentLoop:
    def __init__(self, run: Run):
        self.run = run
        self.thread = run.thread  # claim() loaded it with its assistant and data source
        self.assistant = self.thread.assistant
        # Checked as a data source, for whoever asked (DESIGN §9): a session, assistant or thread
        # they may use does not make its data source theirs. DataSourceUnavailable fails the run.
        data_source = self.assistant.data_source if self.assistant else None
        self.statement = (run.config or {}).get("statement")
        if self.statement:  # a statement chosen before the run, on its own data source (run_statement)
            from executor.models import DataSource

            data_source = DataSource.objects.filter(pk=self.statement.get("data_source_id")).first()
        acting = acting_principal(run, self.thread)
        self.data_source = data_source if acting is None else data_source_for_use(acting, data_source)
        self.usage = dict(run.usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost_usd": 0.0})
        self.timings = dict(run.timings or {})
        # The operator's limits again, at run time: whatever was stored, only an allowed model runs.
        requested = (run.config or {}).get("model") or (self.assistant.model if self.assistant else "")
        self.llm_config = llm.LLMConfig.from_settings(limits.model_for_run(requested, run_id=run.id))
        self.answer = None  # the final answer (message, event), written when the run finishes
        self.documents = recall.documents_for(run, self.thread)

    def check_cancelled(self) -> None:
        if Run.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
            raise RunCancelled()

    def base_messages(self) -> list[dict]:
        schema, context = None, ""
        if self.data_source is not None:
            from executor.context.index import context_for

            # The context store, for the question this run answers: rules, similar verified
            # examples, the most relevant tables within the prompt budget.
            question = (
                Message.objects.filter(thread_id=self.thread.pk, role=Message.Role.HUMAN).order_by("-seq")
                .values_list("content", flat=True).first()
            )
            try:
                found = context_for(self.data_source, question, acting_principal(self.run, self.thread))
                schema, context = found.schema, found.text()
            except Exception as exc:  # noqa: BLE001 - a down database still lets the model explain
                schema = f"(schema unavailable: {exc})"
        instructions = self.assistant.instructions if self.assistant else ""
        extra = (self.run.config or {}).get("instructions")
        if extra:  # e.g. a Julep session's situation
            instructions = f"{instructions}\n\n{extra}".strip()
        engine = self.data_source.engine if self.data_source else None
        system = {"role": "system", "content": prompt.system_prompt(instructions, engine, schema, context)}
        return [system]

    def run_loop(self) -> None:
        if self.statement:
            self.run_statement(self.statement["sql"])
            return
        if bots.bot_type(self.assistant) == "agent":
            system = self.base_messages()
        else:  # OpenGPTs' chatbot and RAGBot: no database and no tools to explain
            system = [{"role": "system", "content": self.assistant.instructions or "You are a helpful assistant."}]
        max_steps = limits.steps_for_run((self.run.config or {}).get("max_steps"))  # never above the operator's cap
        tools = [] if (self.run.config or {}).get("tools") == [] else prompt.tools_for(self.assistant, has_documents=self.documents.exists())
        if bots.retrieves_first(self.assistant, self.run.config) and self.run.steps == 0:
            system += filter(None, [recall.before_answering(self.run, self.thread, self.documents)])
        first = True
        while True:
            if not first:  # claim() has just checked the run's cancel flag
                self.check_cancelled()
            first = False
            if self.run.steps >= max_steps:
                self._say(f"I stopped after {max_steps} steps without a final answer. Ask me to continue if you want me to keep going.")
                return
            history = prompt.history_messages(self.thread, after_seq=(self.run.config or {}).get("history_after_seq"))
            completion, answer = self._call_llm(system + history, tools)
            self.run.steps += 1
            if not completion.tool_calls:
                self.answer = answer  # written with the run's end: one commit, not two
                return
            self._record_step(answer)
            for call in completion.tool_calls:
                self.check_cancelled()
                cancelled = self._execute_tool_call(call)
                if cancelled:
                    raise RunCancelled()

    def run_statement(self, sql: str) -> None:
        """One statement, no model (a Dataherald response whose query changes data): it goes through
        the SQL guard like a tool's, so a write waits for its confirmation, runs at most once when
        approved, and the outcome (rows, or why it did not run) is the answer's metadata."""
        import json

        from django.core.serializers.json import DjangoJSONEncoder

        from executor.sandbox import ToolError
        from executor.sandbox.host_calls import StopSnippet

        host = RunSandboxHost(self.run, self.thread, self.data_source, f"statement-{self.run.id}")
        try:
            rows = host.run_sql(sql)
        except StopSnippet:
            raise HandOver() from None
        except ToolError as exc:
            if host.cancelled:
                raise RunCancelled() from None
            outcome, text = {"error": str(exc)}, f"The statement was not run: {exc}"
        else:
            rows = json.loads(json.dumps(rows, cls=DjangoJSONEncoder))  # dates and decimals as the API shows them
            outcome = {"columns": list(rows[0]) if rows else [], "rows": rows}
            text = f"The statement ran: {len(rows)} row{'s' if len(rows) != 1 else ''} returned."
        message = Message(thread_id=self.run.thread_id, run=self.run, role=Message.Role.AI, content=text, metadata={"statement": outcome})
        self.answer = (message, RunEvent(thread_id=self.run.thread_id, run_id=self.run.id, type="assistant_response_message",
                                         data={"text": text, "tool_calls": []}, message_id=message.id))

    def _call_llm(self, messages, tools):
        message_id = uuid.uuid4()  # deltas and the final message share it, so clients can grow one bubble
        started = time.monotonic()
        first_token_at = None
        buffer, last_flush = [], time.monotonic()
        completion = None
        for item in llm.stream_chat(messages, tools=tools or None, config=self.llm_config):
            if isinstance(item, llm.TextDelta):
                if first_token_at is None:
                    first_token_at = time.monotonic()
                    last_flush = 0.0  # the first token goes out at once: it is what people wait for
                buffer.append(item.text)
                if time.monotonic() - last_flush >= DELTA_FLUSH_SECONDS:
                    store.emit(self.run.thread_id, self.run.id, "assistant_delta", {"text": "".join(buffer)}, message_id=message_id)
                    buffer, last_flush = [], time.monotonic()
            elif isinstance(item, llm.Retrying):
                store.emit(self.run.thread_id, self.run.id, "llm_retry", {"attempt": item.attempt, "delay": item.delay, "reason": item.reason})
            elif isinstance(item, llm.Completion):
                completion = item
        # Text still buffered here is not sent as a delta: the final message, written next, carries it.
        self._add_usage(completion.usage)
        self.timings.setdefault("llm_seconds", 0.0)
        self.timings["llm_seconds"] = round(self.timings["llm_seconds"] + time.monotonic() - started, 4)
        if first_token_at is not None and "first_token_seconds" not in self.timings:
            self.timings["first_token_seconds"] = round(first_token_at - started, 4)
        calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in completion.tool_calls]
        # The model's message and its event, not yet written: a final answer is written with the
        # run's end (store.finish_run), a step with tool calls by _record_step.
        message = Message(
            id=message_id, thread_id=self.run.thread_id, run=self.run, role=Message.Role.AI, content=completion.text or "", tool_calls=calls,
            metadata={
                "model": completion.model, "is_demo": completion.is_demo, "finish_reason": completion.finish_reason,
                "usage": {"input_tokens": completion.usage.prompt_tokens, "output_tokens": completion.usage.completion_tokens,
                          "total_tokens": completion.usage.total_tokens} if completion.usage else None,
            },
        )
        event = RunEvent(thread_id=self.run.thread_id, run_id=self.run.id, type="assistant_response_message", message_id=message_id, data={
            "text": completion.text,
            "tool_calls": [{"name": c.name, "call_id": c.id, "input": _tool_input(c)} for c in completion.tool_calls],
        })
        return completion, (message, event)

    def _record_step(self, answer) -> None:
        """Write a reply that asks for tools, with the run's progress, in one transaction."""
        store.add_reply(*answer, steps=self.run.steps, usage=self.usage)

    def _execute_tool_call(self, call) -> bool:
        from executor.sandbox import execute_python

        if call.name == "retrieval":  # with no documents it answers that nothing matches
            _record_tool_result(self.run, call.id, call.name, recall.tool_output(self.run, self.documents, call))
            return False
        if call.name != "execute_python":
            _record_tool_result(self.run, call.id, call.name, _tool_error(f"Unknown tool {call.name!r}; the only tool is execute_python."))
            return False
        try:
            code = call.parsed()["python_code"]
            if not isinstance(code, str):
                raise ValueError("python_code must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            _record_tool_result(self.run, call.id, call.name, _tool_error(f"The tool call's arguments were not valid: {exc}"))
            return False
        host = RunSandboxHost(self.run, self.thread, self.data_source, call.id)
        started = time.monotonic()
        connection.close()  # the snippet may run for a while; borrow a connection again when it calls back
        output = execute_python(code, host)
        if host.handed_over:
            raise HandOver()  # no tool result: the next attempt records how this call ended
        self.timings["sandbox_seconds"] = round(self.timings.get("sandbox_seconds", 0.0) + time.monotonic() - started, 4)
        _record_tool_result(self.run, call.id, call.name, output)
        return host.cancelled

    def _say(self, text: str) -> None:
        message = Message(thread_id=self.run.thread_id, run=self.run, role=Message.Role.AI, content=text)
        store.add_reply(message, RunEvent(thread_id=self.run.thread_id, run_id=self.run.id, type="assistant_response_message",
                                          data={"text": text, "tool_calls": []}, message_id=message.id))

    def _add_usage(self, usage) -> None:
        if usage is None:
            return
        self.usage["prompt_tokens"] += usage.prompt_tokens
        self.usage["completion_tokens"] += usage.completion_tokens
        self.usage["total_tokens"] += usage.total_tokens
        self.usage["cost_usd"] = round(self.usage["cost_usd"] + usage.cost_usd, 8)
        self.usage["model"] = usage.model


def _tool_input(call) -> dict:
    try:
        parsed = call.parsed()
        return parsed if isinstance(parsed, dict) else {"python_code": str(parsed)}
    except ValueError:
        return {"raw_arguments": call.arguments}


def execute_run(run_id, worker: str = "") -> str | None:
    """Run to completion (or failure); returns the final status, None if another worker owns it."""
    with log_context(run_id=run_id):
        return _execute_run(run_id, worker)


def hand_over(run: Run, loop: "AgentLoop | None") -> None:
    """Put the run back in the queue for another worker, with what this attempt used so far."""
    used = {"usage": loop.usage, "timings": loop.timings, "steps": loop.run.steps} if loop is not None else {}
    with transaction.atomic():
        store.close_confirmations(Confirmation.objects.filter(run=run), Confirmation.Status.CANCELLED, "worker shutdown")
        store.requeue_run(run, reason="worker shutting down", **used)


def _execute_run(run_id, worker: str) -> str | None:
    run = claim(run_id, worker)
    if run is None:
        return None
    with heartbeats.beating(run.id), log_context(thread_id=run.thread_id, tenant=None):
        log.info("run started (attempt %d)", run.attempts)
        loop, error_code = None, ""
        try:
            loop = AgentLoop(run)
            loop.run_loop()
            status, error = Run.Status.COMPLETED, ""
        except RunCancelled:
            status, error = Run.Status.CANCELLED, ""
        except HandOver:
            hand_over(run, loop)
            log.info("run handed over: this worker is shutting down")
            return Run.Status.QUEUED
        except llm.LLMError as exc:
            status, error = Run.Status.FAILED, f"The language model failed: {exc.message}"
        except DataSourceUnavailable as exc:
            status, error, error_code = Run.Status.FAILED, str(exc), exc.code
        except Exception as exc:  # noqa: BLE001 - any failure must reach the client as an event
            log.exception("run failed", extra={"run_id": str(run.id), "thread_id": str(run.thread_id)})
            status, error = Run.Status.FAILED, f"Internal error while running ({type(exc).__name__})."
        answer = loop.answer if loop is not None and status == Run.Status.COMPLETED else None
        used = {"usage": loop.usage, "timings": loop.timings, "steps": loop.run.steps} if loop is not None else {}
        store.finish_run(run, status, error=error, error_code=error_code, answer=answer, **used)
        log.info("run %s", status)
    return status
