"""Celery entry points (queue `agent`, by the `responses.tasks.*` route): they call services only."""

import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down

from config.worker import run_periodically

from . import services

PRUNE_INTERVAL = 3600.0
_prune_stop = threading.Event()


@shared_task(name="responses.tasks.generate_response", acks_late=True)
def generate_response(
    response_id: str,
    question_id: str,
    sql_query: str | None = None,
    run_evaluator: bool = False,
    sql_response_only: bool = False,
    generate_csv: bool = False,
) -> str:
    """Build and save one response; returns its id (the web process waits for it)."""
    response = services.build_response(
        response_id=response_id,
        question_id=question_id,
        sql_query=sql_query,
        run_evaluator=run_evaluator,
        sql_response_only=sql_response_only,
        generate_csv=generate_csv,
    )
    return str(response.id)


@worker_ready.connect
def _on_worker_ready(**kwargs) -> threading.Thread:
    # Every worker prunes (at start, then hourly): deleting a file twice is harmless, and a lone
    # scheduler would be one more thing to lose.
    return run_periodically("querent-export-pruner", services.prune_exports, every=PRUNE_INTERVAL, stop=_prune_stop, at_once=True)


@worker_shutting_down.connect
def _on_worker_shutting_down(**kwargs) -> None:
    _prune_stop.set()


@shared_task(name="responses.tasks.write_sql_generation", acks_late=True)
def write_sql_generation(sql_generation_id: str) -> str:
    """Write (or check) and save one SQL generation of Dataherald's current API."""
    from . import current_services

    return str(current_services.build_sql_generation(sql_generation_id).pk)


@shared_task(name="responses.tasks.write_nl_generation", acks_late=True)
def write_nl_generation(nl_generation_id: str) -> str:
    """Answer a SQL generation's result in words, and save it."""
    from . import current_services

    return str(current_services.build_nl_generation(nl_generation_id).pk)
