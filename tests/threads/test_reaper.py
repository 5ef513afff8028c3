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
    monkeypatch.setattr("threads.store.orm.enqueue_run", lambda run_id: calls.append(str(run_id)))
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


def test_heartbeats_touch_exactly_the_runs_being_executed(thread):
    from threads.engine import Heartbeats

    beating, done, nested = (Run.objects.create(thread=thread, status=Run.Status.RUNNING, heartbeat_at=old(60)) for _ in range(3))
    heartbeats = Heartbeats()
    with heartbeats.beating(done.id):
        pass
    with heartbeats.beating(beating.id), heartbeats.beating(nested.id):
        with heartbeats.beating(nested.id):
            pass  # a second hold on the same run, released: the first still holds it
        heartbeats.beat()
    heartbeats.beat()  # nothing held: no write
    fresh = {run.pk: run.heartbeat_at > old(5) for run in Run.objects.filter(pk__in=[beating.pk, done.pk, nested.pk])}
    assert fresh == {beating.pk: True, done.pk: False, nested.pk: True}


@pytest.mark.django_db(transaction=True)  # the timer thread writes on its own connection
def test_heartbeats_use_one_timer_thread_for_every_run(thread, settings):
    import threading
    import time

    from threads.engine import Heartbeats

    settings.HEARTBEAT_INTERVAL = 0.05
    runs = [Run.objects.create(thread=thread, status=Run.Status.RUNNING, heartbeat_at=old(60)) for _ in range(3)]
    before = set(threading.enumerate())
    heartbeats = Heartbeats()
    with heartbeats.beating(runs[0].id), heartbeats.beating(runs[1].id), heartbeats.beating(runs[2].id):
        started = [t for t in threading.enumerate() if t not in before]
        assert [t.name for t in started] == ["heartbeats"]
        deadline = time.monotonic() + 10
        while Run.objects.filter(pk__in=[r.pk for r in runs], heartbeat_at__lt=old(5)).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not Run.objects.filter(pk__in=[r.pk for r in runs], heartbeat_at__lt=old(5)).exists()
