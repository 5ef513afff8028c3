"""Reading questions, responses and database connections as a principal may see them."""

from django.core.exceptions import ValidationError
from django.http import Http404

from config.identity import Principal
from executor.models import DataSource
from executor.selectors import data_source_get, data_source_list

from .models import Question, Response

MAX_PAGE = 1000


def connection_list(principal: Principal):
    """The principal's own connections and shared ones (the demo), so a new user can find one to ask."""
    return data_source_list(principal)


def connection_get(principal: Principal, connection_id) -> DataSource:
    """A connection the principal may use (own or shared); 404 otherwise."""
    return data_source_get(principal, connection_id)


def question_list(principal: Principal, *, db_connection: DataSource | None = None):
    questions = Question.objects.visible_to(principal).order_by("created_at")
    if db_connection is not None:
        questions = questions.filter(db_connection=db_connection)
    return questions


def question_get(principal: Principal, question_id) -> Question:
    return Question.objects.select_related("db_connection").get_visible_or_404(principal, pk=question_id)


def response_list(principal: Principal, *, question: Question | None = None):
    responses = Response.objects.visible_to(principal).order_by("created_at")
    if question is not None:
        responses = responses.filter(question=question)
    return responses


def response_get(principal: Principal, response_id) -> Response:
    try:
        return Response.objects.visible_to(principal).get(pk=response_id)
    except (Response.DoesNotExist, ValueError, TypeError, ValidationError):  # a malformed id is unknown too
        raise Http404("response not found") from None


def page(queryset, *, offset: int, limit: int):
    return queryset[offset : offset + min(limit, MAX_PAGE)]


def write_run(response: Response):
    """The engine's run that executes the response's held write (its thread has the response's id), if any."""
    from threads.models import Run

    return Run.objects.filter(thread_id=response.pk).order_by("created_at").first()


def write_state(response: Response) -> dict | None:
    """The held write as it is now: its run, its confirmation (the latest) and, once the run ended,
    the statement's outcome ({columns, rows} or {error}). None for a response that held no write."""
    from threads.models import Confirmation, Message

    run = write_run(response)
    if run is None:
        return None
    confirmation = Confirmation.objects.filter(run=run).order_by("-created_at").first()
    answer = Message.objects.filter(run=run, role=Message.Role.AI).order_by("-seq").first()
    outcome = (answer.metadata or {}).get("statement") if answer is not None else None
    return {"run": run, "confirmation": confirmation, "outcome": outcome}
