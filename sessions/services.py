"""Writes on sessions, end users and (Julep) agents. Runs go through the engine's services only."""

from dataclasses import dataclass

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from assistants.models import Assistant
from config.identity import Principal
from threads import services as engine
from threads.models import Confirmation, Run, Thread

from .models import MAX_STORED_ROWS, EndUser, Session

# How long a request waits for its answer before giving up on it (and cancelling the run).
RUN_TIMEOUT_S = 300.0

Conflict = engine.Conflict
BUSY = "a message is still being answered in this session; try again when it has finished"
CLEARED = ("the session's history was cleared while this message was answered; "
           "its answer was deleted with it")
WAITING = ("a change in this session is waiting for approval; approve or deny it first "
           "(sending another message withdraws it)")


class RunTimedOut(Exception):
    """The run did not finish in time; it was asked to stop."""


class SessionGone(Http404):
    """The session (or its conversation) was deleted while this request worked on it."""

    def __init__(self):
        super().__init__("session not found")


@dataclass
class Turn:
    """A turn's outcome: the run, and the change it waits on when it stopped for approval."""

    run: Run
    pending: Confirmation | None = None


# --- runs ------------------------------------------------------------------------------------


def usable_data_source(session: Session, acting: Principal):
    """The session's agent's data source, if `acting` (who asks now, not who made the session) may
    use it; DataSourceUnavailable (a 403 naming it) otherwise. The run's worker checks again."""
    from executor.selectors import data_source_for_use

    return data_source_for_use(acting, session.agent.data_source if session.agent_id else None)


def run_turn(session: Session, message: str | None, *, config: dict, acting: Principal, input_messages=None,
             timeout: float = RUN_TIMEOUT_S) -> Turn:
    """One turn on the session's thread, asked by `acting`, through the engine's queue and worker.

    Waited for until it ends or stops for approval of a change (then the Turn carries it: the
    request answers at once, the change is decided later). A change already waiting is withdrawn
    by this new message. SessionGone when the session is deleted meanwhile."""
    session, run = start_turn(session, message, config=config, acting=acting, input_messages=input_messages)
    return wait_for_turn(session, run.id, timeout=timeout)


def start_turn(session: Session, message: str | None, *, config: dict, acting: Principal, input_messages=None) -> tuple[Session, Run]:
    """The turn's run, queued (not waited for): (the session as it is now, the run with its `start_event`)."""
    usable_data_source(session, acting)
    for _ in range(2):  # once more if the history was cleared (a new thread) meanwhile
        engine.withdraw_pending_changes(session.thread)
        try:
            return session, engine.do_start_run(session.thread, message, config=config, input_messages=input_messages, acting=acting)
        except Conflict:
            raise Conflict(BUSY) from None
        except Thread.DoesNotExist:
            session = _reread(session)
    raise SessionGone()


def wait_for_turn(session: Session, run_id, *, timeout: float = RUN_TIMEOUT_S) -> Turn:
    try:
        run, pending = engine.wait_for_outcome(run_id, timeout=timeout)
    except Run.DoesNotExist:
        # The run's thread was deleted: with the session (404) or by a history clear that came in
        # after the run ended and before its answer was read (409: the clear won).
        _reread(session)
        raise Conflict(CLEARED) from None
    if not run.is_terminal and pending is None:
        engine.do_cancel_runs(run.thread)
        raise RunTimedOut(f"No answer within {int(timeout)} seconds; the request was cancelled.")
    Session.objects.filter(pk=session.pk).update(updated_at=timezone.now())
    return Turn(run, pending)


def _reread(session: Session) -> Session:
    fresh = Session.objects.select_related("agent", "agent__data_source", "thread", "end_user").filter(pk=session.pk).first()
    if fresh is None or fresh.thread_id == session.thread_id:
        raise SessionGone()
    return fresh


def decide_change(session: Session, confirmation_id, *, approve: bool, acting: Principal,
                  timeout: float = RUN_TIMEOUT_S) -> Turn:
    """Approve or deny a change the session's run waits on, then wait for what the run does next
    (its end, or the next change to approve). 404 for a confirmation not on this session's
    conversation; Conflict when it was already decided."""
    try:
        confirmation = engine.do_decide_confirmation(session.thread, confirmation_id, approve=approve, decided_by=str(acting))
    except Confirmation.DoesNotExist:
        raise Http404("confirmation not found in this session") from None
    return wait_for_turn(session, confirmation.run_id, timeout=timeout)


def pending_in(session: Session) -> Confirmation | None:
    """The change the session's conversation waits on now, if any."""
    return Confirmation.objects.filter(thread_id=session.thread_id, status=Confirmation.Status.PENDING).order_by("created_at").first()


def _locked(session: Session) -> Session:
    """The session re-read under its row lock, then its thread's lock (the one order: session,
    then thread). SessionGone when either was deleted meanwhile."""
    try:
        locked = Session.objects.select_for_update().get(pk=session.pk)
        engine.lock_thread(locked.thread_id)
    except (Session.DoesNotExist, Thread.DoesNotExist):
        raise SessionGone() from None
    return locked


def _refuse_if_running(session: Session) -> None:
    """Call holding the thread's lock (_locked)."""
    detail = WAITING if pending_in(session) is not None else BUSY
    engine.refuse_if_running(session.thread_id, detail)


# --- BI sessions -----------------------------------------------------------------------------


@transaction.atomic
def create_bi_session(principal: Principal, *, user_id: str, agent: Assistant | None = None, metadata: dict | None = None) -> Session:
    agent = agent or engine.default_assistant(principal)
    thread = engine.create_thread(principal, assistant=agent, name=f"BI session for {user_id}"[:300], metadata={"session": "bi"})
    session = Session(dialect=Session.Dialect.BI, agent=agent, external_user_id=user_id, metadata=metadata or {}, thread=thread)
    session.assign_owner(principal)
    session.save(force_insert=True)
    return session


def record_bi_result(session: Session, *, sql: str, columns: list[str], rows: list[dict], row_count: int,
                     truncated: bool, visualization: dict | None) -> None:
    session.last_sql = sql
    session.last_columns = list(columns)
    session.last_rows = list(rows[:MAX_STORED_ROWS])
    session.last_row_count = row_count
    session.last_truncated = truncated
    session.visualization = visualization
    # An update, not save(): a session deleted meanwhile is no error here (the answer was given).
    Session.objects.filter(pk=session.pk).update(
        last_sql=session.last_sql, last_columns=session.last_columns, last_rows=session.last_rows,
        last_row_count=row_count, last_truncated=truncated, visualization=visualization, updated_at=timezone.now(),
    )


def set_visualization(session: Session, visualization: dict) -> None:
    session.visualization = visualization
    if not Session.objects.filter(pk=session.pk).update(visualization=visualization, updated_at=timezone.now()):
        raise SessionGone()


@transaction.atomic
def delete_session(session: Session) -> None:
    """The session and its thread (messages, runs, events) go together; never mid-answer (Conflict).
    Under both locks, so a run cannot start in between and the delete is never lost."""
    session = _locked(session)
    _refuse_if_running(session)
    Thread.objects.filter(pk=session.thread_id).delete()  # cascades to the session


# --- Julep agents ----------------------------------------------------------------------------


def _apply(instance, values: dict, *, partial: bool, defaults: dict) -> None:
    """PUT replaces (absent -> default); PATCH changes only what is given and not null."""
    for field, default in defaults.items():
        if field in values and values[field] is not None:
            setattr(instance, field, values[field])
        elif not partial:
            setattr(instance, field, default)


def _merged(current: dict, given: dict | None, *, partial: bool) -> dict:
    """PATCH merges the given keys into what is there (null: unchanged); create and PUT replace."""
    if not partial:
        return dict(given or {})
    return {**current, **(given or {})}


@transaction.atomic
def save_agent(principal: Principal, fields: dict, julep: dict, *, agent: Assistant | None = None, partial: bool = False,
               data_source=None, data_source_given: bool = False) -> Assistant:
    """Create (agent None) or update a Julep agent, which is an Assistant; Julep-only fields live
    in metadata["julep"] so the shared model stays the engine's."""
    agent, creating = _new_or_locked(Assistant, principal, agent)
    partial = partial and not creating
    metadata = _merged(_public_metadata(agent.metadata), fields.pop("metadata", None), partial=partial)
    given_extras = {k: v for k, v in julep.items() if v is not None}
    extras = _merged((agent.metadata or {}).get("julep") or {}, given_extras, partial=partial)
    _apply(agent, fields, partial=partial, defaults={"name": "", "about": "", "instructions": "", "model": ""})
    agent.metadata = {**metadata, "julep": extras}
    if data_source_given:
        agent.data_source = data_source
    elif creating:
        from executor.models import DataSource

        # Like every other way of making an agent: start on the first data source the owner may use.
        agent.data_source = DataSource.objects.default_for(principal)
    agent.save()
    return agent


def _new_or_locked(model, principal: Principal, existing):
    """(object, created): a new one owned by `principal`, or `existing` re-read and locked for this transaction."""
    if existing is None:
        created = model()
        created.assign_owner(principal)
        return created, True
    return model.objects.select_for_update().get(pk=existing.pk), False


def _public_metadata(metadata: dict | None) -> dict:
    return {k: v for k, v in (metadata or {}).items() if k != "julep"}


def delete_agent(agent: Assistant) -> None:
    with transaction.atomic():
        for session in Session.objects.filter(agent=agent).order_by("pk"):
            delete_session(session)
        agent.delete()


# --- Julep users -----------------------------------------------------------------------------


@transaction.atomic
def save_end_user(principal: Principal, fields: dict, *, user: EndUser | None = None, partial: bool = False) -> EndUser:
    user, creating = _new_or_locked(EndUser, principal, user)
    partial = partial and not creating
    user.metadata = _merged(user.metadata, fields.pop("metadata", None), partial=partial)
    _apply(user, fields, partial=partial, defaults={"name": "", "about": ""})
    user.save()
    return user


def delete_end_user(user: EndUser) -> None:
    with transaction.atomic():
        for session in Session.objects.filter(end_user=user).order_by("pk"):
            delete_session(session)
        user.delete()


# --- Julep sessions --------------------------------------------------------------------------

SESSION_DEFAULTS = {"situation": "", "render_templates": False, "token_budget": None, "context_overflow": None}


@transaction.atomic
def create_julep_session(principal: Principal, *, agent: Assistant, user: EndUser | None, fields: dict) -> Session:
    thread = engine.create_thread(principal, assistant=agent, name=(agent.name or "Julep session")[:300], metadata={"session": "julep"})
    session = Session(dialect=Session.Dialect.JULEP, agent=agent, end_user=user, thread=thread,
                      metadata=_merged({}, fields.pop("metadata", None), partial=False))
    _apply(session, fields, partial=False, defaults=SESSION_DEFAULTS)
    session.assign_owner(principal)
    session.save(force_insert=True)
    return session


@transaction.atomic
def update_julep_session(session: Session, fields: dict, *, partial: bool) -> Session:
    """As Julep does: PUT replaces the situation, and the metadata when it is given; PATCH merges
    the metadata. In both, a field absent or null is unchanged (the julep SDK's sessions.update
    sends every other field as null), so a situation-only PUT keeps the metadata."""
    session = _locked(session)
    given = fields.pop("metadata", None)
    if given is not None:
        session.metadata = _merged(session.metadata, given, partial=partial)
    _apply(session, fields, partial=True, defaults=SESSION_DEFAULTS)
    session.save()
    return session


@transaction.atomic
def clear_history(session: Session) -> Session:
    """A fresh thread for the session; the old one (messages, runs, events) is deleted."""
    session = _locked(session)
    _refuse_if_running(session)
    old = session.thread
    principal = Principal(tenant=old.tenant, user_id=old.owner)
    metadata = {k: v for k, v in (old.metadata or {}).items() if k != "summary_through_seq"}
    session.thread = engine.create_thread(principal, assistant=session.agent, name=old.name, metadata=metadata)
    session.summary = None  # it summarised the messages that are gone
    session.save(update_fields=["thread", "summary", "updated_at"])
    old.delete()
    return session
