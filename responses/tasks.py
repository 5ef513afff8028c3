"""Celery entry points (queue `agent`, by the `responses.tasks.*` route): they call services only."""

from celery import shared_task

from . import services


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
