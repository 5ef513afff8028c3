"""The reaper, in-process: stale running runs are retried or failed, lost queued runs re-sent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from threads import services
from threads.models import Run, RunEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    # The broker is outside this unit test: record what would have been enqueued.
    calls = []
    monkeypatch.setattr(services, "enqueue_run", lambda run_id: calls.append(str(run_id)))
    return calls


def old(seconds_ago):
    return timezone.now() - timedelta(seconds=seconds_ago)


def test_stale_running_run_is_requeued_then_failed(thread, sent, settings, django_capture_on_commit_callbacks):
    settings.RUN_STALE_AFTER, settings.RUN_MAX_ATTEMPTS = 10, 2
    run = Run.objects.create(thread=thread, status=Run.Status.RUNNING, attempts=1, heartbeat_at=old(60))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reap_stale_runs() == 1
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED and sent == [str(run.id)]
    assert RunEvent.objects.filter(run=run, type="run_retry").count() == 1

    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, attempts=2, heartbeat_at=old(60))
    with django_capture_on_commit_callbacks(execute=True):
        services.reap_stale_runs()
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and "stopped responding" in run.error
    assert RunEvent.objects.filter(run=run, type="error").count() == 1


def test_fresh_runs_are_left_alone(thread, sent, settings):
    settings.RUN_STALE_AFTER = 10
    Run.objects.create(thread=thread, status=Run.Status.RUNNING, attempts=1, heartbeat_at=old(1))
    Run.objects.create(thread=thread, status=Run.Status.QUEUED)
    assert services.reap_stale_runs() == 0
    assert sent == []


def test_lost_queued_run_is_sent_again_once_per_period(thread, sent, settings):
    settings.RUN_STALE_AFTER = 10
    run = Run.objects.create(thread=thread, status=Run.Status.QUEUED)
    Run.objects.filter(pk=run.pk).update(created_at=old(60))
    assert services.reap_stale_runs() == 1
    assert services.reap_stale_runs() == 0  # just re-sent: wait another period
    Run.objects.filter(pk=run.pk).update(heartbeat_at=old(60))
    assert services.reap_stale_runs() == 1
    assert sent == [str(run.id), str(run.id)]
