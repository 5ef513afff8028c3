"""Reads: always through the principal's scope."""

import uuid

from django.http import Http404

from config.identity import Principal
from config.prepared import PreparedRead

from .models import Artifact, Confirmation, Message, Run, RunEvent, Thread


def threads_for(principal: Principal):
    return Thread.objects.visible_to(principal).select_related("assistant")


# Read for every OpenGPTs run started on a thread: compiled once per thread of the web process.
_visible_threads = PreparedRead(
    lambda tenant, owner, pk: Thread.objects.visible_to(Principal(tenant, owner)).filter(pk=pk), ("\x00tenant", "\x00owner", uuid.UUID(int=0)),
)


def visible_thread_or_404(principal: Principal, thread_id) -> Thread:
    """The principal's thread (no related rows), as Thread.objects.get_visible_or_404 reads it."""
    try:
        pk = uuid.UUID(str(thread_id))
    except ValueError:
        raise Http404("thread not found") from None
    found = _visible_threads.read(principal.tenant, principal.user_id, pk)
    if not found:
        raise Http404("thread not found")
    return found[0]


def get_thread(principal: Principal, thread_id) -> Thread:
    return Thread.objects.select_related("assistant", "assistant__data_source").get_visible_or_404(principal, pk=thread_id)


def thread_history(thread: Thread):
    return Message.objects.filter(thread=thread).order_by("seq")


def thread_artifacts(thread: Thread):
    return Artifact.objects.filter(thread=thread).order_by("identifier")


def thread_confirmations(thread: Thread):
    return Confirmation.objects.filter(thread=thread).order_by("created_at")


def thread_runs(thread: Thread):
    return Run.objects.filter(thread=thread).order_by("created_at")


def events_after(thread: Thread, after: int, limit: int = 1000):
    return RunEvent.objects.filter(thread=thread, seq__gt=after).order_by("seq")[:limit]
