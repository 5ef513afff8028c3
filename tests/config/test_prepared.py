"""Reads and updates compiled once per thread give what the ORM gives, with new values each call."""

import threading
import uuid
from datetime import datetime, timezone

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from config.identity import Principal
from config.prepared import PreparedRead, PreparedUpdate, together
from threads.models import Run, Thread

pytestmark = pytest.mark.django_db(transaction=True)

NO_ID = uuid.UUID(int=0)


def new_run(name: str) -> Run:
    thread = Thread(name=name)
    thread.assign_owner(Principal("acme", "alice"))
    thread.save()
    return Run.objects.create(thread=thread)


def counted(build):
    calls = []

    def counting(*values):
        calls.append(values)
        return build(*values)

    return counting, calls


def test_a_prepared_read_gives_the_orms_instances_and_compiles_once_per_thread(django_assert_num_queries):
    runs = [new_run(f"t{i}") for i in range(3)]
    build, built = counted(lambda pk: Run.objects.select_related("thread").filter(pk=pk))
    prepared = PreparedRead(build, (NO_ID,))

    for run in runs:
        with django_assert_num_queries(1):
            [read] = prepared.read(run.id)
            assert read.thread.name == run.thread.name  # loaded with the run: no second query
        assert (read.pk, read.status, read.created_at) == (run.pk, run.status, run.created_at)
    assert prepared.read(uuid.uuid4()) == []

    def in_another_thread():
        prepared.read(runs[0].id)
        connection.close()

    worker = threading.Thread(target=in_another_thread)
    worker.start()
    worker.join()
    if connection.vendor == "postgresql":  # elsewhere every read goes through the ORM
        assert len(built) == 2  # compiled once in this thread and once in the other


def test_a_prepared_read_converts_columns_as_the_orm_does():
    """JSON, timestamps and UUIDs come back as the ORM's read gives them, on every call."""
    run = new_run("converted")
    Run.objects.filter(pk=run.pk).update(usage={"total_tokens": 11, "model": "m"}, config={"max_steps": 3}, timings={"llm_seconds": 0.5})
    prepared = PreparedRead(lambda pk: Run.objects.select_related("thread").filter(pk=pk), (NO_ID,))
    expected = Run.objects.select_related("thread").get(pk=run.pk)
    for _ in range(2):
        [read] = prepared.read(run.id)
        for field in Run._meta.concrete_fields:
            assert getattr(read, field.attname) == getattr(expected, field.attname), field.name
        assert read.thread.metadata == expected.thread.metadata and read.thread.created_at == expected.thread.created_at


def test_a_prepared_values_list_read_gives_rows():
    run = new_run("rows")
    prepared = PreparedRead(lambda pk: Run.objects.filter(pk=pk).values_list("id", "status"), (NO_ID,))
    assert [tuple(row) for row in prepared.read(run.id)] == [(run.id, "queued")]


def test_a_placeholder_the_query_does_not_use_is_refused():
    if connection.vendor != "postgresql":
        pytest.skip("compiled reads are PostgreSQL's")
    prepared = PreparedRead(lambda pk, name: Run.objects.filter(pk=pk), (NO_ID, "\x00name"))
    with pytest.raises(ValueError, match="placeholder"):
        prepared.read(uuid.uuid4(), "x")


def test_a_prepared_update_changes_what_the_orms_update_would():
    one, two = new_run("one"), new_run("two")
    beat = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    prepared = PreparedUpdate(
        lambda pk, worker, now: (Run.objects.filter(pk=pk, status=Run.Status.QUEUED),
                                 {"status": Run.Status.RUNNING, "worker": worker, "heartbeat_at": now, "attempts": F("attempts") + 1}),
        (NO_ID, "\x00worker", datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc)),
    )
    assert prepared.update(one.id, "w1", beat) == 1
    assert prepared.update(one.id, "w2", beat) == 0  # not queued any more
    assert prepared.update(two.id, "w2", beat) == 1
    got = {run.pk: (run.status, run.worker, run.heartbeat_at, run.attempts) for run in Run.objects.filter(pk__in=[one.pk, two.pk])}
    assert got == {one.pk: ("running", "w1", beat, 1), two.pk: ("running", "w2", beat, 1)}


def _take():
    return PreparedUpdate(
        lambda pk, worker: (Run.objects.filter(pk=pk, status=Run.Status.QUEUED), {"status": Run.Status.RUNNING, "worker": worker}),
        (NO_ID, "\x00worker"),
    )


def test_queries_together_give_what_each_gives_and_later_ones_see_earlier_writes(monkeypatch):
    run = new_run("together")
    take, read = _take(), PreparedRead(lambda pk: Run.objects.select_related("thread").filter(pk=pk), (NO_ID,))
    pipelines = []
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        real = type(connection.connection).pipeline
        monkeypatch.setattr(type(connection.connection), "pipeline", lambda self: pipelines.append(self) or real(self))
    taken, [loaded], missing = together((take, (run.id, "w1")), (read, (run.id,)), (read, (uuid.uuid4(),)))
    assert taken == 1 and missing == []
    assert (loaded.status, loaded.worker, loaded.thread.name) == ("running", "w1", "together")  # read after the update
    again, [still] = together((take, (run.id, "w2")), (read, (run.id,)))
    assert again == 0 and still.worker == "w1"
    if connection.vendor == "postgresql":
        assert len(pipelines) == 2  # one pipeline, one round trip, per call


def test_queries_together_are_one_transaction():
    if connection.vendor != "postgresql":
        pytest.skip("pipelined queries are PostgreSQL's")
    run = new_run("atomic")
    failing = PreparedRead(lambda pk: Run.objects.filter(pk=pk).extra(where=["1 / (attempts - attempts) = 1"]), (NO_ID,))
    with pytest.raises(DatabaseError):
        together((_take(), (run.id, "w1")), (failing, (run.id,)))
    run.refresh_from_db()
    assert run.status == "queued" and run.worker == ""  # the update before the failure did not stay
    assert _take().update(run.id, "w2") == 1  # and the connection is usable


def test_queries_together_inside_a_transaction_run_one_by_one():
    run = new_run("inside")
    read = PreparedRead(lambda pk: Run.objects.filter(pk=pk), (NO_ID,))
    with transaction.atomic():
        taken, [loaded] = together((_take(), (run.id, "w1")), (read, (run.id,)))
        assert taken == 1 and loaded.worker == "w1"
    run.refresh_from_db()
    assert run.worker == "w1"


def test_a_prepared_reads_sql_selects_what_the_read_does():
    run, other = new_run("sql"), new_run("other")
    prepared = PreparedRead(lambda pk, status: Run.objects.filter(pk=pk, status=status).values_list("pk"), (NO_ID, "\x00status"))
    for pk, status, expected in [(run.pk, "queued", True), (run.pk, "running", False), (uuid.uuid4(), "queued", False)]:
        sql, params = prepared.as_sql(pk, status)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT EXISTS ({sql})", params)
            assert cursor.fetchone()[0] is expected
        assert (len(prepared.read(pk, status)) == 1) is expected
    assert other.pk not in [row[0] for row in prepared.read(run.pk, "queued")]
