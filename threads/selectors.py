"""Reads: always through the principal's scope."""

from config.identity import Principal

from .models import Artifact, Confirmation, Message, Run, Thread


def threads_for(principal: Principal):
    return Thread.objects.visible_to(principal).select_related("assistant")


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
