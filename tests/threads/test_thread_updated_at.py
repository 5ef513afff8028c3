"""A continued thread's updated_at moves when a run starts on it, in both run stores, so the lists
ordered by it (the chat page's sidebar, OpenGPTs' /threads) show it first."""

import datetime

import pytest

from threads.models import Message, Thread

from .test_store import a_thread, enqueued, published, store  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_on_an_existing_thread_moves_its_updated_at(store, enqueued, published):
    thread = a_thread("Albums")
    long_ago = thread.updated_at - datetime.timedelta(days=3)
    Thread.objects.filter(pk=thread.pk).update(updated_at=long_ago)
    other = a_thread("Newer")  # updated after `thread`: first in the list until `thread` continues
    assert list(Thread.objects.filter(pk__in=[thread.pk, other.pk]).values_list("pk", flat=True)) == [other.pk, thread.pk]

    store.start_run(thread, [(Message.Role.HUMAN, "And in 2010?")])
    moved = Thread.objects.get(pk=thread.pk)
    assert moved.updated_at > other.updated_at > long_ago
    assert moved.name == "Albums"  # a named thread keeps its name
    assert list(Thread.objects.filter(pk__in=[thread.pk, other.pk]).values_list("pk", flat=True)) == [thread.pk, other.pk]


def test_the_first_question_still_names_an_unnamed_thread(store, enqueued, published):
    thread = a_thread("")
    store.start_run(thread, [(Message.Role.HUMAN, "Top customers?")], name="Top customers?")
    assert Thread.objects.get(pk=thread.pk).name == "Top customers?"
