"""A run for a user with 10 threads and for a user with 50,000, on tables never analyzed.

The machine's PostgreSQL may run with autovacuum off: nothing here runs ANALYZE. One Querent
stack (bench/_stack.py) gets two users in one tenant: `ten` with 10 threads and `many` with
50,000 (each with a finished run, two messages and three events), and 3,000 runs waiting for
approval on other users' threads. Then, in one invocation:

1. the hot path's queries as the ORM writes them (the run's thread lock, the thread check inside
   the run's statement, a dialect's thread lookup with its joins, the busy check), each executed
   for a thread of each user: p50 per call;
2. end to end, OpenGPTs `POST /threads` + `POST /runs/stream` alternating between the two users:
   p50 run latency for each;

both with this build's indexes and again after dropping the ones migration threads/0003 added,
the baseline, so the difference is measured at the same moment of the machine.

    .venv/bin/python bench/hot_path.py [--threads 50000] [--calls 200] [--runs 100]
"""

import argparse
import os
import statistics
import time

import httpx

from _stack import PG, bench_stack, percentile, progress

ADDED_INDEXES = ("thread_id_hash", "run_in_progress_by_thread")


def fallback(body):
    from tests.fakes.llm_server import text

    return text("You too! If you have any other questions, feel free to ask.", chunks=4)


def load(cursor, threads: int) -> None:
    """`many` gets `threads` threads, `ten` 10, others 3,000 runs waiting for approval."""
    others = 3_000
    cursor.execute(
        """INSERT INTO threads_thread (id, tenant, owner, name, metadata, last_seq, created_at, updated_at)
           SELECT gen_random_uuid(), 'bench', CASE WHEN g <= %s THEN 'many' WHEN g <= %s THEN 'ten' ELSE 'other' || g END,
                  't' || g, '{}', 3, now() - g * interval '1 s', now() - g * interval '1 s'
           FROM generate_series(1, %s) g""",
        [threads, threads + 10, threads + 10 + others],
    )
    cursor.execute(
        """INSERT INTO threads_run (id, thread_id, status, error, usage, timings, config, started_by, started_by_operator,
                                    steps, attempts, worker, cancel_requested, created_at, heartbeat_at)
           SELECT gen_random_uuid(), id, CASE WHEN owner LIKE 'other%%' THEN 'requires_action' ELSE 'completed' END,
                  '', '{}', '{}', '{}', '', false, 1, 1, '', false, now(), now() + interval '1 day'
           FROM threads_thread"""
    )
    cursor.execute(
        """INSERT INTO threads_message (id, thread_id, seq, role, content, tool_calls, tool_call_id, name, metadata, created_at)
           SELECT gen_random_uuid(), id, s, CASE WHEN s = 1 THEN 'human' ELSE 'ai' END, 'hello', '[]', '', '', '{}', now()
           FROM threads_thread, generate_series(1, 2) s WHERE owner NOT LIKE 'other%%'"""
    )
    cursor.execute(
        """INSERT INTO threads_runevent (thread_id, seq, type, payload, created_at)
           SELECT id, s, 'x', '{}', now() FROM threads_thread, generate_series(1, 3) s WHERE owner NOT LIKE 'other%%'"""
    )
    # Runs bump their threads: dead row versions in the table's indexes, as in use.
    cursor.execute("UPDATE threads_thread SET last_seq = last_seq + 1, updated_at = now() WHERE owner IN ('many', 'ten')")


def queries(thread_id, user: str) -> dict[str, tuple[str, list]]:
    """The hot path's thread reads as the ORM compiles them."""
    from django.db import transaction

    from config.identity import Principal
    from threads.models import Run, Thread

    mine = Thread.objects.visible_to(Principal("bench", user)).filter(pk=thread_id)
    exists_sql, exists_params = mine.values_list("pk").query.sql_with_params()
    busy_sql, busy_params = Run.objects.filter(thread_id=thread_id, status__in=Run.ACTIVE).values_list("pk").query.sql_with_params()
    joined = Thread.objects.select_related("assistant", "assistant__data_source").visible_to(Principal("bench", user)).filter(pk=thread_id).order_by()[:21]
    with transaction.atomic():  # only to compile the locking read; nothing is sent
        lock = mine.select_for_update().query.sql_with_params()
    return {
        "thread lock (FOR UPDATE)": lock,
        "thread check in the run's statement": (f"SELECT EXISTS ({exists_sql}) AND NOT EXISTS ({busy_sql})", [*exists_params, *busy_params]),
        "thread lookup with joins": joined.query.sql_with_params(),
        "busy check": (f"SELECT EXISTS ({busy_sql})", list(busy_params)),
    }


def time_queries(conn, thread_of: dict, calls: int) -> dict:
    """p50 seconds per call for each query and user, users alternating call by call."""
    shapes = {user: queries(thread_id, user) for user, thread_id in thread_of.items()}
    timings = {(name, user): [] for user in shapes for name in shapes[user]}
    for _ in range(calls):
        for user, compiled in shapes.items():
            for name, (sql, params) in compiled.items():
                started = time.perf_counter()
                conn.execute(sql, params).fetchall()
                timings[(name, user)].append(time.perf_counter() - started)
                conn.rollback()
    return {key: percentile(values, 50) for key, values in timings.items()}


def iteration(client, base, headers, assistant_id, n) -> float:
    thread_id = client.post(f"{base}/threads", headers=headers, json={"name": f"t{n}", "assistant_id": assistant_id}).json()["thread_id"]
    body = {"thread_id": thread_id, "input": [{"content": f"have a good day {n}", "type": "human"}]}
    started = time.monotonic()
    with client.stream("POST", f"{base}/runs/stream", json=body, headers=headers, timeout=60) as response:
        ended = None
        for line in response.iter_lines():
            if line.startswith("event: end") and ended is None:
                ended = time.monotonic() - started
            if line.startswith("event: error"):
                raise RuntimeError("run failed")
    if ended is None:
        raise RuntimeError("the stream ended without `end`")
    return ended


def time_runs(base, users: dict, runs: int) -> dict:
    latencies = {user: [] for user in users}
    with httpx.Client() as client:
        for n in range(runs):
            for user, (headers, assistant_id) in users.items():
                latencies[user].append(iteration(client, base, headers, assistant_id, n))
            progress(f"runs {n + 1}/{runs}")
    progress("")
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=50_000, help="threads of the user `many`")
    parser.add_argument("--calls", type=int, default=200, help="executions of each query per user and pass")
    parser.add_argument("--runs", type=int, default=100, help="end-to-end runs per user and pass")
    args = parser.parse_args()
    import psycopg

    print(f"hot path at 10 vs {args.threads:,} threads per user, tables never analyzed; "
          f"load average at start {' '.join(open('/proc/loadavg').read().split()[:3])}")
    with bench_stack(fallback) as (stack, llm, _, _source):
        from assistants.models import ApiKey

        database = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
        conn = psycopg.connect(f"{PG}/{database}")
        progress(f"loading {args.threads:,} threads …")
        with conn.cursor() as cursor:
            load(cursor, args.threads)
            cursor.execute("SELECT count(*) FROM pg_stat_user_tables WHERE relname LIKE 'threads_%%' AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)")
            analyzed = cursor.fetchone()[0]
        conn.commit()
        progress("")
        if analyzed:
            print(f"note: {analyzed} threads table(s) were analyzed by autovacuum meanwhile")
        thread_of, users = {}, {}
        for user in ("ten", "many"):
            thread_of[user] = conn.execute("SELECT id FROM threads_thread WHERE owner = %s ORDER BY id LIMIT 1 OFFSET 5", [user]).fetchone()[0]
            _, token = ApiKey.issue(name=user, tenant="bench", user_id=user)
            headers = {"Authorization": f"Bearer {token}"}
            assistant = httpx.post(f"{stack.base_url}/assistants", headers=headers, json={"name": "bench", "config": {"configurable": {}}}).json()
            users[user] = (headers, assistant["assistant_id"])
        conn.rollback()
        results = {}
        for label in ("this build", "without threads/0003's indexes"):
            if label != "this build":
                for index in ADDED_INDEXES:
                    conn.execute(f'DROP INDEX IF EXISTS "{index}"')
                conn.commit()
            time_runs(stack.base_url, users, 5)  # warm
            results[label] = (time_queries(conn, thread_of, args.calls), time_runs(stack.base_url, users, args.runs))
        conn.close()
    for label, (per_query, latencies) in results.items():
        print(f"\n{label}:")
        for name in dict.fromkeys(name for name, _ in per_query):
            ten, many = per_query[(name, "ten")], per_query[(name, "many")]
            print(f"  {name:<42} p50 10 threads {ten * 1e3:7.3f} ms   {args.threads:,} threads {many * 1e3:7.3f} ms   ({many / ten:5.1f}×)")
        ten, many = statistics.median(latencies["ten"]), statistics.median(latencies["many"])
        print(f"  {'thread + streamed run (OpenGPTs dialect)':<42} p50 10 threads {ten * 1e3:7.1f} ms   {args.threads:,} threads {many * 1e3:7.1f} ms   ({many / ten:5.2f}×)"
              f"   p95 {percentile(latencies['ten'], 95) * 1e3:.1f} / {percentile(latencies['many'], 95) * 1e3:.1f} ms")
    print(f"load average at end {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
