"""OpenGPTs-specific writes, on the engine's services."""

from django.db import transaction
from django.http import Http404
from rest_framework.exceptions import NotFound, ValidationError

from assistants import limits
from assistants.models import Assistant
from config.identity import Principal

from .. import services
from ..models import Message, Run, Thread
from .messages import parse_input_messages


def readable_assistant(principal: Principal, assistant_id) -> Assistant:
    """An unknown id, or another user's private assistant, is a 404 naming it (as upstream)."""
    assistant = Assistant.objects.readable_by(principal).filter(pk=assistant_id).first()
    if assistant is None:
        raise NotFound(f"assistant_id: assistant {assistant_id} not found")
    return assistant


def create_thread(principal: Principal, data: dict) -> Thread:
    """A new thread on an assistant the principal may use."""
    assistant = readable_assistant(principal, data["assistant_id"])
    return services.create_thread(principal, assistant=assistant, name=data["name"], metadata=data.get("metadata"))


@transaction.atomic
def put_thread(principal: Principal, thread_id, data: dict) -> Thread:
    """Upsert like OpenGPTs, but an id owned by someone else is a 404, never a takeover."""
    assistant = readable_assistant(principal, data["assistant_id"])
    existing = Thread.objects.select_for_update().filter(pk=thread_id).first()
    if existing is None:
        thread = Thread(pk=thread_id, assistant=assistant, name=data.get("name", ""), metadata=data.get("metadata") or {})
        thread.assign_owner(principal)
        thread.save(force_insert=True)
        return thread
    if not existing.is_owned_by(principal):
        raise Http404("thread not found")
    existing.assistant, existing.name = assistant, data.get("name", "")
    if "metadata" in data:
        existing.metadata = data["metadata"]
    existing.save()
    return existing


def parse_messages_or_400(raw, field: str):
    try:
        return parse_input_messages(raw)
    except ValueError as exc:
        raise ValidationError({field: [str(exc)]}) from None


@transaction.atomic
def add_state_messages(thread: Thread, raw_values) -> None:
    for role, content in parse_messages_or_400(raw_values, "values"):
        services.add_message(thread, role=role, content=content)


def start_opengpts_run(principal: Principal, data: dict) -> tuple[Thread, Run]:
    """Start a run on `data["thread_id"]`, switching the thread to `data["assistant_id"]` first
    when it names another assistant (OpenGPTs lets a run choose it)."""
    messages = parse_messages_or_400(data.get("input"), "input")
    config = _run_config(data.get("config") or {})
    thread = Thread.objects.get_visible_or_404(principal, pk=data["thread_id"])
    if data.get("assistant_id") and data["assistant_id"] != thread.assistant_id:
        thread.assistant = readable_assistant(principal, data["assistant_id"])
        thread.save(update_fields=["assistant", "updated_at"])
    if not messages and not Message.objects.filter(thread=thread).exists():
        raise ValidationError({"input": ["the thread is empty: send at least one message"]})
    return thread, services.do_start_run(thread, None, input_messages=messages, config=config)  # Conflict: 409


def _run_config(config: dict) -> dict:
    """The run's own model and step count: only what the operator's limits allow (a 400 otherwise)."""
    configurable = config.get("configurable")
    configurable = {} if configurable is None else configurable
    if not isinstance(configurable, dict):  # false, 0 or "" too: only null stands for none
        raise ValidationError({"config": ["configurable must be an object"]})
    run_config = {}
    try:
        model = limits.check_model(configurable.get("model"), field="configurable.model")
        max_steps = limits.check_max_steps(configurable.get("max_steps"), field="configurable.max_steps")
    except limits.LimitError as exc:
        raise exc.as_drf("config") from None
    if model:
        run_config["model"] = model
    if max_steps is not None:
        run_config["max_steps"] = max_steps
    return run_config


def record_feedback(principal: Principal, data: dict):
    """Feedback on a run of a thread the principal may read; stored as given, one row per call."""
    from ..models import Feedback

    run = Run.objects.filter(pk=data["run_id"], thread__in=Thread.objects.visible_to(principal)).first()
    if run is None:
        raise Http404("run not found")
    feedback = Feedback(run=run, key=data["key"], score=data.get("score"), value=data.get("value"), comment=data.get("comment") or "")
    feedback.assign_owner(principal)
    feedback.save(force_insert=True)
    return feedback
