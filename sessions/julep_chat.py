"""Julep chat over the engine: the session's situation (and who the user is) become the run's
extra instructions; the reply, usage and finish reason are read back from the finished run."""

from types import SimpleNamespace

from django.template import Context, Engine, TemplateSyntaxError
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from threads.models import Message, Run
from threads.serializers import pending_change, pending_change_text

from . import julep_docs, services
from . import julep_context
from .bi import results, visualization
from .bi import suggestions as bi_suggestions
from .julep_serializers import ROLES, chat_message_out, stamp
from .models import Session

FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}
# Django's template language, not Jinja: `{{ user.name }}`, `{% if %}` and filters read the same,
# and it cannot call arbitrary code. Only plain dicts of strings are in the context.
_TEMPLATES = Engine(autoescape=False, string_if_invalid="")


def check_template(situation: str | None, enabled: bool | None) -> None:
    if not enabled or not situation:
        return
    try:
        _TEMPLATES.from_string(situation)
    except TemplateSyntaxError as exc:
        raise ValidationError({"situation": [f"not a valid template: {exc}"]}) from None


def _situation(session: Session) -> str:
    if not session.render_templates:
        return session.situation
    user = session.end_user
    context = {
        "agent": {"name": session.agent.name, "about": session.agent.about},
        "user": {"name": user.name, "about": user.about} if user else {},
        "session": {"id": str(session.id), "metadata": session.metadata},
    }
    try:
        return _TEMPLATES.from_string(session.situation).render(Context(context))
    except TemplateSyntaxError as exc:
        raise ValidationError({"situation": [f"not a valid template: {exc}"]}) from None


def instructions(session: Session) -> str:
    parts = [_situation(session).strip()]
    user = session.end_user
    if user is not None and (user.name or user.about):
        about = f" About them: {user.about.strip()}" if user.about.strip() else ""
        parts.append(f"You are talking to {user.name or 'a user'}.{about}")
    return "\n\n".join(p for p in parts if p)


def run_config(session: Session, options: dict, sampling: dict) -> dict:
    return {
        "instructions": instructions(session),
        "dialect": "julep",
        # Recorded with the run; the engine's model client does not take sampling parameters.
        "sampling": sampling,
        "recall": options.get("recall"),
        "remember": options.get("remember"),
        **julep_docs.recall_config(session, options),
    }


def chat(session: Session, messages: list[dict], options: dict, sampling: dict, *, acting) -> Response:
    input_messages = [(ROLES[m["role"]], m["content"]) for m in messages]
    # The session's token budget: where the model's history starts, and its summary (julep_context).
    config = julep_context.apply(session, run_config(session, options, sampling), [m["content"] for m in messages])
    turn = services.run_turn(session, None, config=config, input_messages=input_messages, acting=acting)
    return reply(session, turn)


def decide(session: Session, confirmation_id, *, approve: bool, acting) -> Response:
    """Approve or deny the change the session waits on; answers as the chat that asked would have."""
    return reply(session, services.decide_change(session, confirmation_id, approve=approve, acting=acting))


def after_turn(session: Session, turn) -> None:
    """A turn that ended: the history may have outgrown the session's budget (summarised in the background)."""
    if turn.run.is_terminal:
        julep_context.schedule(session)


def decide_path(session: Session, confirmation) -> str:
    return f"/api/sessions/{session.id}/confirmations/{confirmation.id}"


def pending_reply(session: Session, run, confirmation) -> tuple[dict, str]:
    change = pending_change(confirmation, decide_path=decide_path(session, confirmation))
    return change, pending_change_text(change)


def reply(session: Session, turn) -> Response:
    after_turn(session, turn)
    run = turn.run
    if turn.pending is not None:
        # Julep has no confirmation protocol: the answer is the change waiting, in words and as data.
        change, text = pending_reply(session, run, turn.pending)
        message = {"role": "assistant", "content": text, "name": None, "created_at": stamp(timezone.now()), "id": str(turn.pending.id)}
        return Response(_chat_body(run, "stop", [message], pending=change))
    if run.status == Run.Status.CANCELLED:
        return Response({"detail": "The run was cancelled before it answered.", "code": "cancelled"}, status=status.HTTP_409_CONFLICT)
    if run.status != Run.Status.COMPLETED:
        return Response({"detail": run.error or "The run failed.", "code": "run_failed", "run_id": str(run.id)},
                        status=status.HTTP_502_BAD_GATEWAY)
    answer = results.final_message(run)
    finish = (answer.metadata or {}).get("finish_reason") if answer else None
    return Response(_chat_body(run, finish if finish in FINISH_REASONS else "stop",
                               [chat_message_out(answer, role="assistant")] if answer else []))


def _chat_body(run, finish: str, messages: list[dict], pending: dict | None = None) -> dict:
    usage = run.usage or {}
    body = {
        "id": str(run.id),
        "finish_reason": finish,
        "response": [messages],
        "usage": {key: int(usage.get(key) or 0) for key in ("total_tokens", "prompt_tokens", "completion_tokens")},
        "doc_ids": julep_docs.doc_ids(run),
    }
    if pending is not None:
        body["pending_confirmation"] = pending
    return body


def _last_result(message: Message, engine: str | None):
    """The last run's query result in the shape the suggestion builder reads from a BI session."""
    if message.run_id is None:
        return None
    result = results.read_run(message.run, dialect=engine)
    if not result.has_data:
        return None
    return SimpleNamespace(
        has_result=True, last_sql=result.sql, last_columns=result.columns, last_rows=result.rows,
        visualization=visualization.choose(result.columns, result.rows),
    )


def suggestions(session: Session, *, acting) -> list[dict]:
    """Follow-ups after the agent's last answer, grounded in its data source's schema (if `acting`
    may use it: DataSourceUnavailable otherwise)."""
    last = (
        Message.objects.filter(thread_id=session.thread_id, role=Message.Role.AI).exclude(content="").order_by("-seq").first()
    )
    if last is None:
        return []
    data_source = services.usable_data_source(session, acting)
    schema = None
    if data_source is not None:
        from executor.schema import get_schema
        from executor.services import SqlError

        try:
            schema = get_schema(data_source)
        except SqlError:
            schema = None
    engine = data_source.engine if data_source else None
    texts = bi_suggestions.suggest(_last_result(last, engine) or session, schema, engine)
    now = stamp(timezone.now())
    return [
        {"created_at": now, "target": "user", "content": text, "message_id": str(last.id), "session_id": str(session.id)}
        for text in texts
    ]
