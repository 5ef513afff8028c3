"""PromptQL shapes for threads (seed 000), plus the fields OpenGPTs clients read on the same objects."""

from rest_framework import serializers

from config.fields import StrictBooleanField, StrictCharField

from . import selectors
from .models import Thread


def thread_summary(thread: Thread) -> dict:
    return {
        "thread_id": str(thread.id),
        "user_id": thread.owner,
        "assistant_id": str(thread.assistant_id) if thread.assistant_id else None,
        "name": thread.name,
        "metadata": thread.metadata,
        "created_at": thread.created_at.isoformat(),
        "updated_at": thread.updated_at.isoformat(),
    }


def message_dict(message) -> dict:
    return {
        "id": str(message.id),
        "role": message.role,
        "content": message.content,
        "tool_calls": message.tool_calls,
        "tool_call_id": message.tool_call_id or None,
        "created_at": message.created_at.isoformat(),
    }


def confirmation_dict(confirmation) -> dict:
    return {
        "confirmation_id": str(confirmation.id),
        "message": confirmation.message,
        "status": confirmation.status,
        "run_id": str(confirmation.run_id),
        "created_at": confirmation.created_at.isoformat(),
        "expires_at": confirmation.expires_at.isoformat(),
        "decided_at": confirmation.decided_at.isoformat() if confirmation.decided_at else None,
    }


def run_dict(run) -> dict:
    return {
        "run_id": str(run.id),
        "thread_id": str(run.thread_id),
        "status": run.status,
        "error": run.error or None,
        "usage": run.usage,
        "timings": run.timings,
        "steps": run.steps,
        "attempts": run.attempts,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def thread_detail(thread: Thread) -> dict:
    return {
        **thread_summary(thread),
        "last_seq": thread.last_seq,
        "history": [message_dict(m) for m in selectors.thread_history(thread)],
        "artifacts": [{**a.as_dict(), "version": a.version} for a in selectors.thread_artifacts(thread)],
        "confirmations": [confirmation_dict(c) for c in selectors.thread_confirmations(thread)],
        "runs": [run_dict(r) for r in selectors.thread_runs(thread)],
    }


def event_dict(event: dict) -> dict:
    return {"id": event["seq"], "event": event["type"], "data": event["data"]}


class MessageInSerializer(serializers.Serializer):
    message = StrictCharField(max_length=100_000, trim_whitespace=False, allow_blank=False)
    stream = StrictBooleanField(default=True)
    assistant_id = serializers.UUIDField(required=False)


class ConfirmationDecisionSerializer(serializers.Serializer):
    confirmation_id = serializers.UUIDField()
    confirm = StrictBooleanField()


class PendingChangeDecisionSerializer(serializers.Serializer):
    """A decision on a pending change in the dialects without a confirmation protocol (BI, Julep,
    Dataherald): the confirmation is named by the URL."""

    approve = StrictBooleanField()


def pending_change(confirmation, *, decide_path: str) -> dict:
    """A change that waits for a person, as the dialects without a confirmation protocol report it:
    the exact SQL, the confirmation's id, and the three ways to decide it (`decide_path` is the
    dialect's own endpoint; the chat page and the admin work for every dialect)."""
    return {
        "confirmation_id": str(confirmation.id),
        "status": confirmation.status,
        "sql": confirmation.message,
        "thread_id": str(confirmation.thread_id),
        "run_id": str(confirmation.run_id),
        "expires_at": confirmation.expires_at.isoformat(),
        "approve": {"method": "POST", "path": decide_path, "body": {"approve": True}},
        "deny": {"method": "POST", "path": decide_path, "body": {"approve": False}},
        "chat_page": f"/#/t/{confirmation.thread_id}",
        "admin": f"/admin/threads/confirmation/{confirmation.id}/change/",
    }


def pending_change_text(change: dict) -> str:
    """The same, in words, for clients that show only the answer's text."""
    return (
        "This needs your approval before anything is changed. The statement that will run:\n\n"
        f"{change['sql']}\n\n"
        f"Approve: POST {change['approve']['path']} with {{\"approve\": true}} (or false to deny); "
        f"or open the chat page at {change['chat_page']}, or the admin at {change['admin']}. "
        f"Nothing is written until it is approved; it expires at {change['expires_at']}. "
        "Sending another message withdraws it."
    )
