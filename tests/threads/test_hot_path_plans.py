"""The hot path's plans do not depend on statistics being there.

A PostgreSQL with autovacuum off may never analyze these tables. Without statistics the planner
guesses `tenant = %s AND owner = %s` at a handful of rows, so a lookup of one thread by id for its
owner could go through the owner's thread list index and read every thread the owner has. These
tests load one owner with many threads (each touched once more, as runs bump them) and others
with runs in progress, never ANALYZE, and read each hot query's plan: every table is reached
through an index on what identifies the row (the id, the thread), and no node reads more than the
thread's own rows. Rows, not time: nothing here depends on the machine's speed.
"""

import json
import uuid

import pytest
from django.db import connection
from django.db.models import F
from django.db.models.sql import UpdateQuery

from config.identity import Principal
from threads.models import Message, Run, RunEvent, Thread

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans"),
]

OWNER = Principal("acme", "many")
THREADS = 50_000
IN_PROGRESS_ELSEWHERE = 3_000
THREAD_BY_ID = {"thread_id_hash", "threads_thread_pkey"}
RUN_BY_ID = {"threads_run_pkey"}


def _uuid(prefix: str, number: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_OID, f"{prefix}{number}")


@pytest.fixture(scope="module")
def crowded(django_db_setup, django_db_blocker):
    """OWNER with THREADS threads, each with a finished run, two messages and three events; other
    owners' threads with runs in progress; the tables never analyzed. Yields (thread id, run id)
    of one of OWNER's threads, with a queued run. Committed once for the module (loading takes
    seconds), emptied afterwards."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'threads_thread' AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)")
        if cursor.fetchone()[0]:
            pytest.skip("threads_thread was analyzed in this database: these tests need a table without statistics")
        try:
            cursor.execute(
                """INSERT INTO threads_thread (id, tenant, owner, name, metadata, last_seq, created_at, updated_at)
                   SELECT md5('t' || g)::uuid, %s, CASE WHEN g <= %s THEN %s ELSE 'other' || g END, 't' || g, '{}', 3,
                          now() - g * interval '1 s', now() - g * interval '1 s'
                   FROM generate_series(1, %s) g""",
                [OWNER.tenant, THREADS, OWNER.user_id, THREADS + IN_PROGRESS_ELSEWHERE],
            )
            cursor.execute(
                """INSERT INTO threads_run (id, thread_id, status, error, usage, timings, config, started_by, started_by_operator,
                                            steps, attempts, worker, cancel_requested, created_at)
                   SELECT md5('r' || g)::uuid, md5('t' || g)::uuid, CASE WHEN g <= %s THEN 'completed' ELSE 'queued' END,
                          '', '{}', '{}', '{}', '', false, 1, 0, '', false, now()
                   FROM generate_series(1, %s) g""",
                [THREADS, THREADS + IN_PROGRESS_ELSEWHERE],
            )
            cursor.execute(
                """INSERT INTO threads_message (id, thread_id, seq, role, content, tool_calls, tool_call_id, name, metadata, created_at)
                   SELECT md5('m' || g || '.' || s)::uuid, md5('t' || g)::uuid, s, 'human', 'q', '[]', '', '', '{}', now()
                   FROM generate_series(1, %s) g, generate_series(1, 2) s""",
                [THREADS],
            )
            cursor.execute(
                """INSERT INTO threads_runevent (thread_id, seq, type, payload, created_at)
                   SELECT md5('t' || g)::uuid, s, 'x', '{}', now() FROM generate_series(1, %s) g, generate_series(1, 3) s""",
                [THREADS],
            )
            # Runs bump their threads: dead versions in every index of the table, as in use.
            cursor.execute("UPDATE threads_thread SET last_seq = last_seq + 1, updated_at = now() WHERE owner = %s", [OWNER.user_id])
            cursor.execute("SELECT md5('t' || %s)::uuid, md5('r' || %s)::uuid", [THREADS // 2, THREADS // 2])
            thread_id, run_id = cursor.fetchone()
            cursor.execute("UPDATE threads_run SET status = 'queued' WHERE id = %s", [run_id])
            yield thread_id, run_id
        finally:
            cursor.execute("TRUNCATE threads_runevent, threads_message, threads_run, threads_thread CASCADE")


def plan(sql: str, params) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}", params)
        result = cursor.fetchone()[0]
    return (json.loads(result) if isinstance(result, str) else result)[0]["Plan"]


def scans(node: dict) -> list[dict]:
    found = [node] if "Relation Name" in node or "Index Name" in node else []
    for child in node.get("Plans", []):
        found += scans(child)
    return found


def assert_reads_only(sql: str, params, by_index: dict[str, set[str]], most_rows: int = 10) -> list[dict]:
    """Each table of `by_index` is reached through one of its indexes there, no table is read
    sequentially, and no scan looks at more than `most_rows` rows."""
    nodes = scans(plan(sql, params))
    described = json.dumps([{k: n.get(k) for k in ("Node Type", "Relation Name", "Index Name", "Actual Rows", "Rows Removed by Filter")} for n in nodes])
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, tablename FROM pg_indexes WHERE schemaname = current_schema()")
        table_of = dict(cursor.fetchall())
    reached = set()
    for node in nodes:
        assert node["Node Type"] != "Seq Scan", described
        looked_at = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
        assert looked_at <= most_rows, described
        if "Index Name" in node:  # an index scan, or a bitmap heap scan's Bitmap Index Scan child
            table = table_of[node["Index Name"]]
            if table in by_index:
                assert node["Index Name"] in by_index[table], described
                reached.add(table)
    assert reached == set(by_index), described
    return nodes


def sql_of(queryset) -> tuple[str, tuple]:
    return queryset.query.sql_with_params()


def update_sql(queryset, **values) -> tuple[str, tuple]:
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    return query.get_compiler(connection=connection).as_sql()


def test_the_tables_are_as_the_planner_finds_them_without_analyze(crowded):
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_autovacuum IS NOT NULL OR last_autoanalyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'threads_thread'")
        if cursor.fetchone()[0]:
            pytest.skip("autovacuum (on here) has processed the table meanwhile; the plans below are checked all the same")
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'threads_thread'")
        assert cursor.fetchone()[0] == -1  # never analyzed nor vacuumed: no estimate of its size
        cursor.execute("SELECT count(*) FROM threads_thread WHERE tenant = %s AND owner = %s", [OWNER.tenant, OWNER.user_id])
        assert cursor.fetchone()[0] == THREADS


def test_thread_lookup_for_its_owner_reads_one_row(crowded):
    thread_id, _ = crowded
    mine = Thread.objects.visible_to(OWNER).filter(pk=thread_id)
    # The run's lock (in the model's default order, as a filtered queryset keeps it), the
    # existence check inside the run's statement, a dialect's get_visible_or_404 with its joins.
    assert_reads_only(*sql_of(mine.select_for_update()), {"threads_thread": THREAD_BY_ID})
    sql, params = sql_of(mine.values_list("pk"))
    assert_reads_only(f"SELECT EXISTS ({sql})", params, {"threads_thread": THREAD_BY_ID})
    joined = Thread.objects.select_related("assistant", "assistant__data_source").visible_to(OWNER).filter(pk=thread_id).order_by()[:21]
    assert_reads_only(*sql_of(joined), {"threads_thread": THREAD_BY_ID})
    # Someone else asking for it finds nothing, the same way.
    nodes = assert_reads_only(*sql_of(Thread.objects.visible_to(Principal("acme", "other1")).filter(pk=thread_id)),
                              {"threads_thread": THREAD_BY_ID})
    assert nodes[-1]["Actual Rows"] == 0


def test_busy_check_reads_the_threads_runs_in_progress_only(crowded):
    thread_id, _ = crowded
    assert {"queued", "running", "requires_action"} == set(Run.ACTIVE)  # the partial index's condition
    busy = Run.objects.filter(thread_id=thread_id, status__in=Run.ACTIVE)
    sql, params = sql_of(busy.values_list("pk"))
    assert_reads_only(f"SELECT EXISTS ({sql})", params, {"threads_run": {"run_in_progress_by_thread"}})
    assert_reads_only(*sql_of(busy.order_by()[:1]), {"threads_run": {"run_in_progress_by_thread"}})


def test_claim_and_the_runs_read_back_go_by_the_runs_id(crowded):
    _, run_id = crowded
    queued = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED, cancel_requested=False, attempts__lt=3)
    assert_reads_only(*update_sql(queued, status=Run.Status.RUNNING, attempts=F("attempts") + 1, worker="w"), {"threads_run": RUN_BY_ID})
    loaded = Run.objects.select_related("thread__assistant__data_source").filter(pk=run_id)
    assert_reads_only(*sql_of(loaded), {"threads_run": RUN_BY_ID, "threads_thread": THREAD_BY_ID})
    from threads.store.postgres import CLAIM  # the store's claim: the update and those reads in one statement

    assert_reads_only(CLAIM, ["running", "w", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", run_id, "queued", 3],
                      {"threads_run": RUN_BY_ID, "threads_thread": THREAD_BY_ID})


def test_thread_counter_messages_and_events_go_by_the_thread(crowded):
    thread_id, _ = crowded
    bump = "UPDATE threads_thread SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq"
    assert_reads_only(bump, [1, thread_id], {"threads_thread": THREAD_BY_ID})
    by_thread = {"message_seq_unique_per_thread", "threads_message_thread_id_5699fb10"}
    assert_reads_only(*sql_of(Message.objects.filter(thread_id=thread_id).order_by("seq")), {"threads_message": by_thread})
    from threads.store.postgres import HISTORY

    assert_reads_only(HISTORY, [thread_id, 0], {"threads_message": by_thread})
    assert_reads_only("SELECT COALESCE(MAX(seq), 0) + 1 FROM threads_message WHERE thread_id = %s", [thread_id], {"threads_message": by_thread})
    events = {"event_seq_unique_per_thread", "threads_runevent_thread_id_18c6a991"}
    assert_reads_only(*sql_of(RunEvent.objects.filter(thread_id=thread_id, seq__gt=1).order_by("seq")[:1000]), {"threads_runevent": events})
