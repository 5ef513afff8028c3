"""Session services against the database alone (no live stack): the outcomes a waiting request
reads when the session changes under it."""

import pytest

from assistants.models import Assistant
from config.identity import Principal
from sessions import services
from threads.models import Run

pytestmark = pytest.mark.django_db

PRINCIPAL = Principal(tenant="acme", user_id="ana")


def julep_session():
    agent = Assistant(name="Analyst", tenant=PRINCIPAL.tenant, owner=PRINCIPAL.user_id)
    agent.save()
    return services.create_julep_session(PRINCIPAL, agent=agent, user=None, fields={})


def finished_run(session):
    return Run.objects.create(thread=session.thread, status=Run.Status.COMPLETED)


def test_an_answer_cleared_before_it_was_read_is_a_conflict_naming_the_clear():
    session = julep_session()
    run = finished_run(session)
    services.clear_history(session)  # between the run's end and the waiting request's read
    with pytest.raises(services.Conflict, match="history was cleared"):
        services.wait_for_turn(session, run.id, timeout=1)


def test_an_answer_read_after_its_session_was_deleted_is_not_found():
    session = julep_session()
    run = finished_run(session)
    services.delete_session(session)
    with pytest.raises(services.SessionGone):
        services.wait_for_turn(session, run.id, timeout=1)


def test_an_answer_read_in_time_is_the_turn():
    session = julep_session()
    run = finished_run(session)
    turn = services.wait_for_turn(session, run.id, timeout=1)
    assert turn.run.id == run.id and turn.pending is None
