"""The engine's admin pages in-process: every list and detail page renders, filters and search work,
approve/deny go through the engine's service, "test this assistant" starts a run."""

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assistants.models import Assistant
from threads.models import Artifact, Confirmation, Run, RunEvent, Thread

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread(db):
    thread = Thread(name="Refunds for Ana")
    thread.tenant, thread.owner = "default", "ana"
    thread.save()
    return thread


def confirmation(thread, *, status=Confirmation.Status.PENDING, minutes=0, sql="SELECT issue_credit(5, 20.00)"):
    run = Run.objects.create(thread=thread, status=Run.Status.REQUIRES_ACTION if status == "PENDING" else Run.Status.COMPLETED)
    return Confirmation.objects.create(
        thread=thread, run=run, message=sql, status=status,
        created_at=timezone.now() + timedelta(minutes=minutes), expires_at=timezone.now() + timedelta(hours=1),
    )


def action(admin_client, model: str, name: str, ids, **extra):
    url = reverse(f"admin:threads_{model}_changelist") if model != "assistant" else reverse("admin:assistants_assistant_changelist")
    return admin_client.post(url, {"action": name, "_selected_action": [str(i) for i in ids], **extra}, follow=True)


def test_every_page_renders_with_filters_and_search(admin_client, thread):
    pending = confirmation(thread)
    RunEvent.objects.create(thread=thread, run=pending.run, seq=1, type="start", data={"thread_id": str(thread.id)})
    RunEvent.objects.create(thread=thread, run=pending.run, seq=2, type="assistant_delta", data={"text": "Hel"})
    RunEvent.objects.create(thread=thread, run=pending.run, seq=3, type="user_confirmation", data={"message": pending.message})
    Artifact.objects.create(thread=thread, identifier="refunds", title="Refunds", artifact_type="table", data=[{"a": 1}])
    assistant = Assistant(name="Analyst", tenant="default", owner="ana")
    assistant.save()
    pages = [
        reverse("admin:threads_thread_changelist") + "?q=refunds",
        reverse("admin:threads_thread_changelist") + "?tenant=default",
        reverse("admin:threads_thread_change", args=[thread.pk]),
        reverse("admin:threads_run_changelist") + "?status__exact=requires_action",
        reverse("admin:threads_run_change", args=[pending.run.pk]),
        reverse("admin:threads_confirmation_changelist") + "?status__exact=PENDING&q=issue_credit",
        reverse("admin:threads_confirmation_change", args=[pending.pk]),
        reverse("admin:threads_artifact_changelist") + "?artifact_type__exact=table",
        reverse("admin:threads_artifact_change", args=[Artifact.objects.get().pk]),
        reverse("admin:assistants_assistant_changelist") + "?q=analyst",
        reverse("admin:assistants_assistant_change", args=[assistant.pk]),
        reverse("admin:assistants_assistant_add"),
        reverse("admin:assistants_apikey_changelist"),
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
    detail = admin_client.get(reverse("admin:threads_thread_change", args=[thread.pk])).content.decode()
    assert "user_confirmation" in detail and "assistant_delta" not in detail.split('id="events-group"')[1]
    listed = admin_client.get(reverse("admin:threads_confirmation_changelist") + "?q=issue_credit").content.decode()
    assert "issue_credit" in listed
    # Records of what happened cannot be added or edited by hand.
    assert admin_client.get(reverse("admin:threads_confirmation_add")).status_code == 403
    assert admin_client.post(reverse("admin:threads_confirmation_change", args=[pending.pk]), {"status": "APPROVED"}).status_code == 403
    pending.refresh_from_db()
    assert pending.status == "PENDING"


def test_confirmations_list_pending_first(admin_client, thread):
    confirmation(thread, minutes=-10, sql="SELECT issue_credit(1, 1.00)")
    confirmation(thread, status=Confirmation.Status.DENIED, minutes=5, sql="SELECT issue_credit(2, 2.00)")
    confirmation(thread, minutes=1, sql="SELECT issue_credit(3, 3.00)")
    html = admin_client.get(reverse("admin:threads_confirmation_changelist")).content.decode()
    positions = [html.index(f"issue_credit({n}, {n}.00)") for n in (3, 1, 2)]
    assert positions == sorted(positions), "pending (newest first), then decided"


def test_approve_and_deny_actions_use_the_engine(admin_client, thread, admin_user):
    first, second, decided = confirmation(thread), confirmation(thread), confirmation(thread, status=Confirmation.Status.DENIED)
    response = action(admin_client, "confirmation", "approve", [first.pk, decided.pk])
    text = response.content.decode()
    assert "Approved 1 confirmation(s)" in text and "already decided" in text
    first.refresh_from_db()
    decided.refresh_from_db()
    assert first.status == "APPROVED" and first.decided_by == f"admin:{admin_user.username}" and decided.status == "DENIED"
    event = RunEvent.objects.get(thread=thread, type="confirmation_decided")
    assert event.data == {"confirmation_id": str(first.pk), "status": "APPROVED"}
    action(admin_client, "confirmation", "deny", [second.pk])
    second.refresh_from_db()
    assert second.status == "DENIED"


def test_test_this_assistant_asks_for_a_question_then_starts_a_run(admin_client, admin_user, monkeypatch, django_capture_on_commit_callbacks):
    started = []  # the run is handed to Celery after commit; a unit test only records that it was
    monkeypatch.setattr("threads.store.orm.enqueue_run", lambda run_id: started.append(run_id))
    assistant = Assistant(name="Analyst", tenant="acme", owner="alice")
    assistant.save()
    form = action(admin_client, "assistant", "test_assistant", [assistant.pk])
    assert form.status_code == 200 and b"Start test run" in form.content and b"Analyst" in form.content
    blank = action(admin_client, "assistant", "test_assistant", [assistant.pk], question="")
    assert b"This field is required" in blank.content and not Thread.objects.exists()
    question = f"Which tables? {uuid.uuid4().hex[:6]}"
    with django_capture_on_commit_callbacks(execute=True):
        done = action(admin_client, "assistant", "test_assistant", [assistant.pk], question=question)
    assert b"Started 1 test run(s)" in done.content
    thread = Thread.objects.get()
    assert thread.assistant == assistant and (thread.tenant, thread.owner) == ("default", admin_user.username)
    assert thread.messages.get().content == question
    assert [str(r) for r in started] == [str(thread.runs.get().pk)]


def test_busy_threads_are_not_deleted(admin_client, thread):
    confirmation(thread)  # its run is waiting
    idle = Thread(name="idle", tenant="default", owner="ana")
    idle.save()
    confirmation(idle, status=Confirmation.Status.APPROVED)  # a finished run and its decision go with it
    response = admin_client.post(
        reverse("admin:threads_thread_changelist"),
        {"action": "delete_selected", "_selected_action": [str(thread.pk), str(idle.pk)], "post": "yes"}, follow=True,
    )
    assert b"Kept 1 thread(s) with a run in progress" in response.content
    assert list(Thread.objects.values_list("name", flat=True)) == ["Refunds for Ana"]
    assert Confirmation.objects.filter(thread__isnull=False).count() == 1 and Run.objects.count() == 1
