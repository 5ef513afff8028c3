"""Reads, always through the caller's scope: BI sessions by tenant, Julep objects by owner."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.db.models.fields.json import KeyTransform
from django.http import Http404

from assistants.models import Assistant
from config.identity import Principal
from threads.models import Confirmation, Message, Run, RunEvent

from .models import EndUser, Session


def _get_or_404(queryset, what: str, **lookup):
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"{what} not found") from None
    except Exception as exc:  # a malformed UUID raises ValidationError: as unknown as a missing id
        from django.core.exceptions import ValidationError

        if isinstance(exc, ValidationError):
            raise Http404(f"{what} not found") from None
        raise


# --- BI --------------------------------------------------------------------------------------


def bi_sessions(principal: Principal, *, user_id: str | None = None):
    sessions = Session.objects.bi_in_tenant(principal).select_related("agent")
    return sessions.filter(external_user_id=user_id) if user_id else sessions


def get_bi_session(principal: Principal, session_id) -> Session:
    return _get_or_404(
        Session.objects.bi_in_tenant(principal).select_related("agent", "agent__data_source", "thread"), "session", pk=session_id
    )


def bi_session_tenant(session_id) -> str | None:
    """The tenant of a BI session, for development auth only (see bi_apis.session_for)."""
    try:
        return Session.objects.filter(dialect=Session.Dialect.BI, pk=session_id).values_list("tenant", flat=True).first()
    except (ValueError, TypeError, DjangoValidationError):
        return None


def last_turn(session: Session) -> dict | None:
    """How the session's last run ended: after a change was approved or denied elsewhere (the chat
    page, the admin), a GET shows the outcome here."""
    run = Run.objects.filter(thread_id=session.thread_id).order_by("-created_at").first()
    if run is None:
        return None
    answer = Message.objects.filter(run=run, role=Message.Role.AI).exclude(content="").order_by("-seq").first()
    decided = Confirmation.objects.filter(run=run).exclude(status=Confirmation.Status.PENDING).order_by("created_at")
    return {
        "run_id": str(run.id),
        "status": run.status,
        "response": answer.content if answer else (run.error or None),
        "confirmations": [{"confirmation_id": str(c.id), "sql": c.message, "status": c.status} for c in decided],
    }


def bi_turns(session: Session, limit: int) -> list[dict]:
    """The last `limit` messages of the conversation (user questions and final answers), oldest first,
    each answer with the intent it was routed to and the SQL its run ended on."""
    final_by_run = {}
    answers = Message.objects.filter(thread_id=session.thread_id, role=Message.Role.AI).exclude(content="")
    for message_id, run_id in answers.order_by("seq").values_list("id", "run_id"):
        final_by_run[run_id] = message_id  # the last one wins: the run's final answer
    messages = list(
        Message.objects.filter(thread_id=session.thread_id)
        .filter(Q(role=Message.Role.HUMAN) | Q(id__in=list(final_by_run.values())))
        .order_by("-seq")[:limit]
    )
    run_ids = {m.run_id for m in messages if m.run_id}
    intents = dict(Run.objects.filter(id__in=run_ids).values_list("id", "config__intent"))
    sql_by_run = {}
    events = RunEvent.objects.filter(run_id__in=run_ids, type="tool_response_message").order_by("seq")
    for event in events.only("run_id", "payload").iterator():
        statements = ((event.data or {}).get("output") or {}).get("sql_statements") or []
        if statements:
            sql_by_run[event.run_id] = statements[-1].get("sql")
    turns = []
    for message in reversed(messages):
        item = {
            "id": str(message.id),
            "role": "user" if message.role == Message.Role.HUMAN else "assistant",
            "content": message.content,
            "created_at": message.created_at.isoformat(),
            "intent": intents.get(message.run_id),
        }
        if message.role == Message.Role.AI:
            item["sql"] = sql_by_run.get(message.run_id)
            item["run_id"] = str(message.run_id) if message.run_id else None
        turns.append(item)
    return turns


# --- Julep -----------------------------------------------------------------------------------


def with_metadata(queryset, metadata_filter: dict):
    """Rows whose metadata holds every given key with exactly the given value (JSON equality)."""
    for index, (key, value) in enumerate(metadata_filter.items()):
        alias = f"_metadata_{index}"
        queryset = queryset.alias(**{alias: KeyTransform(key, "metadata")}).filter(**{alias: value})
    return queryset


def julep_agents(principal: Principal):
    return Assistant.objects.visible_to(principal)


def get_agent(principal: Principal, agent_id) -> Assistant:
    return _get_or_404(julep_agents(principal), "agent", pk=agent_id)


def end_users(principal: Principal):
    return EndUser.objects.visible_to(principal)


def get_end_user(principal: Principal, user_id) -> EndUser:
    return _get_or_404(end_users(principal), "user", pk=user_id)


def julep_sessions(principal: Principal):
    return Session.objects.julep_visible_to(principal)


def get_julep_session(principal: Principal, session_id) -> Session:
    return _get_or_404(julep_sessions(principal).select_related("agent", "end_user", "thread"), "session", pk=session_id)


def chat_history(session: Session):
    """What the user and agent said, oldest first: tool traffic and tool-call-only turns are internal."""
    return (
        Message.objects.filter(thread_id=session.thread_id)
        .filter(Q(role__in=[Message.Role.HUMAN, Message.Role.SYSTEM]) | (Q(role=Message.Role.AI) & ~Q(content="")))
        .order_by("seq")
    )
