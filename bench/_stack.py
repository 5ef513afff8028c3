"""Shared set-up for the end-to-end benchmarks: a scratch database, the demo data, a zero-latency
scripted LLM and real daphne + Celery processes (the same Stack the end-to-end tests use)."""

import os
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/13")


def progress(message: str) -> None:
    sys.stderr.write(f"\r\033[K{message}")
    sys.stderr.flush()


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux /proc), to print CPU per run beside latency."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def bench_stack(fallback, env: dict | None = None):
    """Yields (stack, llm_server, api_headers, data_source_id)."""
    suffix = uuid.uuid4().hex[:8]
    app_db, demo_db = f"querent_bench_{suffix}", f"querent_bench_demo_{suffix}"
    _admin(f'CREATE DATABASE "{app_db}"')
    _admin(f'CREATE DATABASE "{demo_db}"')
    os.environ.update({"DATABASE_URL": f"{PG}/{app_db}", "QUERENT_SECRET_KEY": "bench", "REDIS_URL": REDIS, "DJANGO_SETTINGS_MODULE": "config.settings"})
    os.environ.setdefault("QUERENT_LOG_LEVEL", "WARNING")
    stack = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        progress("migrating …")
        call_command("migrate", verbosity=0)
        from assistants.models import ApiKey
        from executor.demo import load_demo
        from executor.models import DataSource
        from tests.fakes.llm_server import ScriptedLLMServer
        from tests.fixtures.stack import Stack

        progress("loading demo data …")
        load_demo(f"{PG}/{demo_db}")
        data_source = DataSource(name="Chinook", engine="postgresql", connection_url=f"{PG}/{demo_db}", actions=["issue_credit"], shared=True)
        data_source.tenant, data_source.owner = "bench", "bench"
        data_source.save()
        _, token = ApiKey.issue(name="bench", tenant="bench", user_id="bench")

        llm = ScriptedLLMServer(fallback=fallback).start()
        progress("starting daphne and a worker …")
        stack = Stack(
            database_url=f"{PG}/{app_db}", redis_url=REDIS, llm_base_url=llm.base_url,
            log_dir=Path(tempfile.mkdtemp(prefix="querent-bench-")), env={"QUERENT_LOG_LEVEL": "WARNING", **(env or {})},
        ).start()
        progress("")
        yield stack, llm, {"Authorization": f"Bearer {token}"}, str(data_source.id)
    finally:
        if stack is not None:
            stack.stop()
        from django.db import connections

        connections.close_all()
        time.sleep(0.5)
        for name in (app_db, demo_db):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
