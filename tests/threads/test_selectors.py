"""The principal-scoped thread read that OpenGPTs runs use on every start."""

import uuid

import pytest
from django.http import Http404

from config.identity import Principal
from threads.models import Thread
from threads.selectors import visible_thread_or_404

pytestmark = pytest.mark.django_db

ALICE, BOB, ALICE_ELSEWHERE = Principal("acme", "alice"), Principal("acme", "bob"), Principal("other", "alice")


def make_thread(owner: Principal) -> Thread:
    thread = Thread(name="mine")
    thread.assign_owner(owner)
    thread.save()
    return thread


def test_the_owner_gets_the_thread_as_the_orm_reads_it():
    thread = make_thread(ALICE)
    got = visible_thread_or_404(ALICE, str(thread.pk))
    assert (got.pk, got.name, got.last_seq, got.assistant_id) == (thread.pk, "mine", thread.last_seq, thread.assistant_id)


@pytest.mark.parametrize("who", [BOB, ALICE_ELSEWHERE], ids=["another user", "same user id in another tenant"])
def test_anyone_else_gets_404(who):
    thread = make_thread(ALICE)
    with pytest.raises(Http404):
        visible_thread_or_404(who, thread.pk)


@pytest.mark.parametrize("thread_id", [uuid.uuid4(), "not-a-uuid", "", None])
def test_unknown_or_malformed_ids_get_404(thread_id):
    make_thread(ALICE)
    with pytest.raises(Http404):
        visible_thread_or_404(ALICE, thread_id)
