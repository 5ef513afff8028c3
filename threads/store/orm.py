"""The run store over the ORM: any database Django supports (SQLite in development).

Each method is one transaction, or joins the caller's: state and the events that describe it
commit together. Wake-ups (the events' announcement, a confirmation's signal, the run's dispatch)
are sent with transaction.on_commit, so nothing is announced that a rollback takes back.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.errors import Conflict

from .. import bus
from ..models import Confirmation, Message, Run, RunEvent, Thread


BUSY = "a run is already in progress on this thread; wait for it or cancel it"
THREAD_NAME_LENGTH = 80  # a thread without a name is named after the start of its first question


def enqueue_run(run_id) -> None:
    from ..tasks import execute_run

    execute_run.apply_async(args=[str(run_id)], queue=settings.AGENT_QUEUE)


def terminal_events(run: Run, status: str, error: str = "", error_code: str = "") -> list[RunEvent]:
    """The events that end a run with `status`."""
    if status == Run.Status.FAILED:
        data = {"message": error or "The run failed.", **({"code": error_code} if error_code else {})}
        kinds = [("error", data)]
    elif status == Run.Status.CANCELLED:
        kinds = [("run_cancelled", {"run_id": str(run.id)}), ("finish", {})]
    else:
        kinds = [("finish", {})]
    return [RunEvent(thread_id=run.thread_id, run_id=run.id, type=kind, data=data) for kind, data in kinds]


class RunStore:
    def enqueue(self, run_id) -> None:
        """Hand the run to a worker (after the commit that wrote it)."""
        enqueue_run(run_id)

    # -- events ---------------------------------------------------------------------------------

    def append_events(self, thread_id, events: list[RunEvent]) -> list[RunEvent]:
        """Write `events` at the thread's next seqs in the caller's transaction; after its commit
        they are announced to the thread's followers in one wake-up."""
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("events are written inside the transaction that changes the state they describe")
        last = self._reserve_seqs(thread_id, len(events))
        for offset, event in enumerate(events, start=last - len(events) + 1):
            event.seq = offset
        RunEvent.objects.bulk_create(events)
        transaction.on_commit(lambda: bus.publish_thread_events(str(thread_id), events))
        return events

    def append_event(self, thread_id, run_id, type_: str, data: dict, *, message_id=None) -> RunEvent:
        event = RunEvent(thread_id=thread_id, run_id=run_id, type=type_, data=data, message_id=message_id)
        return self.append_events(thread_id, [event])[0]

    def emit(self, thread_id, run_id, type_: str, data: dict, *, message_id=None) -> RunEvent:
        """An event that describes no other state change (a token delta), committed on its own."""
        with transaction.atomic():
            return self.append_event(thread_id, run_id, type_, data, message_id=message_id)

    def _reserve_seqs(self, thread_id, count: int) -> int:
        """Bump the thread's counter by `count` and return the last seq reserved. One statement
        (UPDATE ... RETURNING, SQLite 3.35+ and PostgreSQL): the row lock it takes orders
        concurrent writers, so seqs are gap-free and follow commit order."""
        connection = transaction.get_connection()
        table = connection.ops.quote_name(Thread._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq",
                           [count, Thread._meta.pk.get_db_prep_value(thread_id, connection)])
            row = cursor.fetchone()
        if row is None:
            raise Thread.DoesNotExist(f"thread {thread_id} not found")
        return row[0]

    # -- messages -------------------------------------------------------------------------------

    def next_message_seq(self, thread_id) -> int:
        return (Message.objects.filter(thread_id=thread_id).aggregate(top=Max("seq"))["top"] or 0) + 1

    def add_messages(self, messages: list[Message], first_seq: int | None = None) -> list[Message]:
        """Write new messages of one thread at its next seqs (inside the caller's transaction)."""
        first = self.next_message_seq(messages[0].thread_id) if first_seq is None else first_seq
        for seq, message in enumerate(messages, start=first):
            message.seq = seq
        return Message.objects.bulk_create(messages)

    def add_reply(self, message: Message, event: RunEvent, **run_progress) -> None:
        """A model's message that asks for tools, its event and the run's progress, committed."""
        with transaction.atomic():
            self.add_messages([message])
            if run_progress:
                Run.objects.filter(pk=message.run_id).update(**run_progress)
            self.append_events(message.thread_id, [event])

    def history(self, thread_id, after_seq: int | None = None) -> list[Message]:
        """The thread's messages in order (only those after `after_seq`, if given): the model's history."""
        rows = Message.objects.filter(thread_id=thread_id)
        if after_seq:
            rows = rows.filter(seq__gt=after_seq)
        return list(rows.order_by("seq"))

    # -- runs -----------------------------------------------------------------------------------

    def start_run(self, thread: Thread, turns: list[tuple[str, str]], *, config: dict | None = None, who: dict | None = None,
                  name: str | None = None) -> Run:
        """A queued run on `thread` with the user's messages (`turns`: [(role, content)]) and its
        `start` event (`run.start_event`), committed; the worker gets it after the commit.

        A thread not saved yet is written in the same transaction. An existing thread is locked
        first: one run at a time per thread (Conflict) keeps the history linear. A thread with no
        name yet takes the start of `name` (the first question).
        """
        with transaction.atomic():
            first_seq = self._lock_for_run(thread, name)
            run = Run.objects.create(thread=thread, config=config or {}, **(who or {}))
            messages = [Message(thread_id=thread.pk, run=run, role=role, content=content) for role, content in turns]
            if messages:
                self.add_messages(messages, first_seq)
            run.start_event = start_event(run, messages)
            transaction.on_commit(lambda: self.enqueue(run.id))  # before the wake-up: the worker's hop is the run's path
            self.append_events(thread.pk, [run.start_event])
        return run

    def _lock_for_run(self, thread: Thread, name: str | None) -> int | None:
        """Write a new thread, or lock an existing one that has no active run; returns the first
        message seq when it is known without a query."""
        if thread._state.adding:
            if name and not thread.name:
                thread.name = name[:THREAD_NAME_LENGTH]
            thread.save(force_insert=True)
            return 1
        locked = Thread.objects.select_for_update().only("name").get(pk=thread.pk)
        self.refuse_if_busy(thread.pk)
        # A continued thread moves up the lists (update() does not apply auto_now by itself).
        naming = {"name": name[:THREAD_NAME_LENGTH]} if name and not locked.name else {}
        Thread.objects.filter(pk=thread.pk).update(updated_at=timezone.now(), **naming)
        return None

    def refuse_if_busy(self, thread_id, detail: str = BUSY) -> None:
        """Conflict while a run is in progress on the thread: one at a time keeps its history
        linear. Call it holding the thread's lock, as a start does."""
        if Run.objects.filter(thread_id=thread_id, status__in=Run.ACTIVE).exists():
            raise Conflict(detail)

    def claim(self, run_id, worker: str) -> Run | None:
        """Take the run if it is queued, or if its previous worker stopped heart-beating; returns
        it with its thread, assistant and data source loaded, or None when it is not this
        worker's to run (another has it, it was cancelled, it is out of attempts, it is gone)."""
        now = timezone.now()
        run = self._take_queued(run_id, worker, now)
        if run is None:
            if not self._claim_after_checks(run_id, worker, now):
                return None
            run = runs_to_execute().get(pk=run_id)
        return run

    def _take_queued(self, run_id, worker: str, now) -> Run | None:
        """claim() of a run that is simply queued (not cancelled, attempts left), loaded as
        runs_to_execute() loads it; None when it is not."""
        taken = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED, cancel_requested=False,
                                   attempts__lt=settings.RUN_MAX_ATTEMPTS).update(
            status=Run.Status.RUNNING, attempts=F("attempts") + 1, worker=worker[:200],
            started_at=Coalesce("started_at", Value(now)), heartbeat_at=now,
        )
        return runs_to_execute().get(pk=run_id) if taken else None

    def _claim_after_checks(self, run_id, worker: str, now) -> bool:
        """claim() of a run that is not simply queued: redelivered, stale, cancelled or out of attempts."""
        with transaction.atomic():
            run = Run.objects.select_for_update().filter(pk=run_id).first()
            if run is None or run.is_terminal:
                return False
            fresh = run.heartbeat_at and (now - run.heartbeat_at).total_seconds() < settings.RUN_STALE_AFTER
            if run.status != Run.Status.QUEUED and fresh:
                return False  # another worker has it (a redelivered message)
            if run.cancel_requested:
                self.finish_run(run, Run.Status.CANCELLED)
                return False
            if run.attempts >= settings.RUN_MAX_ATTEMPTS:
                self.finish_run(run, Run.Status.FAILED, error="The run was interrupted too many times and was stopped.")
                return False
            Run.objects.filter(pk=run_id).update(status=Run.Status.RUNNING, attempts=F("attempts") + 1, worker=worker[:200],
                                                 started_at=run.started_at or now, heartbeat_at=now)
        return True

    def finish_run(self, run: Run, status: str, *, error: str = "", error_code: str = "",
                   answer: tuple[Message, RunEvent] | None = None, **fields) -> None:
        """Close the run with its terminal events, and the answer that ends it (an unsaved
        message and its event), in one transaction (the caller's, if inside one).

        `fields` are more of the run's columns (usage, timings, steps); `error_code` names a
        failure a client may act on (data_source_unavailable) in the `error` event.
        """
        now = timezone.now()
        events = terminal_events(run, status, error, error_code)
        with transaction.atomic(savepoint=False):
            if answer is not None:
                self.add_messages([answer[0]])
                events.insert(0, answer[1])
            Run.objects.filter(pk=run.pk).update(status=status, error=error, finished_at=now, heartbeat_at=now, **fields)
            self.append_events(run.thread_id, events)
        run.status, run.error, run.finished_at = status, error, now

    def requeue_run(self, run: Run, *, reason: str, now=None, **fields) -> None:
        """Put the run back in the queue for any worker and say so with `run_retry` (inside the
        caller's transaction). `fields` records what the attempt used so far."""
        Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, worker="", heartbeat_at=now or timezone.now(), **fields)
        self.append_event(run.thread_id, run.id, "run_retry", {"run_id": str(run.id), "attempt": run.attempts + 1, "reason": reason})
        transaction.on_commit(lambda: self.enqueue(run.id))

    # -- confirmations --------------------------------------------------------------------------

    def close_confirmations(self, confirmations, status: str, decided_by: str) -> list[Confirmation]:
        """The one way a pending confirmation ends (decided, cancelled, its worker gone, timed
        out): the row, its `confirmation_decided` event, and after commit the signal that wakes
        the worker waiting on it. `confirmations`: a queryset; those not pending are left alone."""
        with transaction.atomic(savepoint=False):
            closing = list(confirmations.select_for_update().filter(status=Confirmation.Status.PENDING).order_by("created_at"))
            now = timezone.now()
            for confirmation in closing:
                confirmation.status, confirmation.decided_by, confirmation.decided_at = status, decided_by[:300], now
                confirmation.save(update_fields=["status", "decided_by", "decided_at"])
                self.append_event(confirmation.thread_id, confirmation.run_id, "confirmation_decided",
                                  {"confirmation_id": str(confirmation.id), "status": status})
                transaction.on_commit(lambda cid=confirmation.id: bus.signal_confirmation(cid))
        return closing


def runs_to_execute():
    """Runs with what the agent loop needs: thread, assistant and data source, but not the data
    source's stored schema (the prompt takes it from executor.schema's memory)."""
    return Run.objects.select_related("thread__assistant__data_source").defer("thread__assistant__data_source__schema_cache")


def start_event(run: Run, messages: list[Message]) -> RunEvent:
    humans = [message for message in messages if message.role == Message.Role.HUMAN]
    return RunEvent(thread_id=run.thread_id, run_id=run.id, type="start", data={"thread_id": str(run.thread_id)},
                    message_id=humans[-1].id if humans else None)
