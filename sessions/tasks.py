"""Celery entry points for sessions (queue `agent`, given when queued): they call services only."""

from celery import shared_task

from . import julep_context


@shared_task(name="sessions.tasks.summarise_session", acks_late=True)
def summarise_session(session_id: str) -> bool:
    """Fold a Julep session's oldest turns into its summary (julep_context)."""
    return julep_context.summarise(session_id) is not None
