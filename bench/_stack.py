"""Shared set-up for the end-to-end benchmarks: a scratch database, the demo data, a zero-latency
scripted LLM and real daphne + Celery processes (the same Stack the end-to-end tests use)."""

import json
import os
import subprocess
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


# Run in a build's own folder (another checkout): its migrations, demo data, data source and key.
_PREPARE_BUILD = """
import json, os, sys
sys.path.insert(0, os.getcwd())
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from assistants.models import ApiKey
from executor.demo import load_demo
from executor.models import DataSource
load_demo(os.environ["BENCH_DEMO_URL"])
source = DataSource(name="Chinook", engine="postgresql", connection_url=os.environ["BENCH_DEMO_URL"], actions=["issue_credit"], shared=True)
source.tenant, source.owner = "bench", "bench"
source.save()
_, token = ApiKey.issue(name="bench", tenant="bench", user_id="bench")
print(json.dumps({"token": token, "data_source": str(source.id)}))
"""


@contextmanager
def build_stack(root: Path, llm_base_url: str, env: dict | None = None):
    """A stack of the build checked out at `root` (its own code, in its own processes), with its
    own scratch databases and its own Redis prefix and queues. Yields (stack, api_headers, app
    database name). Several may run at once against one PostgreSQL and one Redis."""
    # This process only drives the stack (tests.fixtures reads the settings); it opens no database.
    for name, value in {"DJANGO_SETTINGS_MODULE": "config.settings", "QUERENT_SECRET_KEY": "bench", "DATABASE_URL": f"{PG}/postgres", "REDIS_URL": REDIS}.items():
        os.environ.setdefault(name, value)
    import django

    django.setup()
    from tests.fixtures.stack import Stack

    class BuildStack(Stack):
        def _spawn(self, name, argv):  # the build's folder first on sys.path (`python -m`)
            log = open(self.log_dir / f"{name}.log", "ab")
            self._logs.append((self.log_dir / f"{name}.log", log))
            return subprocess.Popen(argv, cwd=root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def start_web(self):
            self.web = self._spawn("web", [sys.executable, "-m", "config.web", "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"])
            return self.web

    suffix = uuid.uuid4().hex[:8]
    app_db, demo_db = f"querent_bench_{suffix}", f"querent_bench_demo_{suffix}"
    _admin(f'CREATE DATABASE "{app_db}"')
    _admin(f'CREATE DATABASE "{demo_db}"')
    stack = None
    try:
        setup_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
                     "DJANGO_SETTINGS_MODULE": "config.settings", "QUERENT_SECRET_KEY": "bench", "QUERENT_LOG_LEVEL": "WARNING",
                     "DATABASE_URL": f"{PG}/{app_db}", "REDIS_URL": REDIS, "BENCH_DEMO_URL": f"{PG}/{demo_db}"}
        progress(f"migrating {root} …")
        done = subprocess.run([sys.executable, "-c", _PREPARE_BUILD], cwd=root, env=setup_env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"preparing {root} failed:\n{done.stderr[-3000:]}")
        token = json.loads(done.stdout.strip().splitlines()[-1])["token"]
        stack = BuildStack(database_url=f"{PG}/{app_db}", redis_url=REDIS, llm_base_url=llm_base_url,
                           log_dir=Path(tempfile.mkdtemp(prefix="querent-bench-")), env={"QUERENT_LOG_LEVEL": "WARNING", **(env or {})})
        progress(f"starting {root}'s daphne and worker …")
        stack.start()
        progress("")
        yield stack, {"Authorization": f"Bearer {token}"}, app_db
    finally:
        if stack is not None:
            stack.stop()
        time.sleep(0.5)
        for name in (app_db, demo_db):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
