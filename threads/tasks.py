"""Celery entry points for the run engine: tasks call services and the engine, never the reverse."""

import logging
import socket
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings

from config.worker import run_periodically

from . import engine, services

log = logging.getLogger(__name__)
_reaper_stop = threading.Event()


@shared_task(name="threads.tasks.execute_run", acks_late=True, ignore_result=True)
def execute_run(run_id: str) -> None:
    worker = f"{socket.gethostname()}:{threading.get_ident()}"
    engine.execute_run(run_id, worker=worker)


@shared_task(name="threads.tasks.reap_stale_runs", ignore_result=True)
def reap_stale_runs() -> int:
    return services.reap_stale_runs()


@worker_ready.connect
def _on_worker_ready(**kwargs) -> None:
    # Every worker reaps: no single scheduler to lose, and the row locks (skip_locked) keep them apart.
    interval = max(1.0, min(15.0, settings.RUN_STALE_AFTER / 4))
    run_periodically("querent-reaper", services.reap_stale_runs, every=interval, stop=_reaper_stop)
    try:
        from executor.sandbox import warm_up

        warm_up()
    except Exception:  # noqa: BLE001 - snippets start the pool lazily instead
        log.exception("sandbox warm-up failed")


@worker_shutting_down.connect
def _on_worker_shutting_down(**kwargs) -> None:
    # Warm shutdown: Celery waits for running tasks; runs blocked on an approval hand over instead.
    engine.draining.set()
    _reaper_stop.set()
