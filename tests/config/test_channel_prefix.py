"""QUERENT_CHANNEL_PREFIX separates what a deployment keeps in Redis, Celery's queues included:
two deployments with different prefixes on one Redis database each answer their own tasks, and
every key either leaves carries its prefix."""

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.fixtures.modes import delete_redis_keys
from tests.fixtures.stack import redis_url_for_stack

# Its interpreters and workers get environments of their own (the Redis ones are services-only anyway).
pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, prefix: str | None, **extra) -> dict:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "QUERENT_SECRET_KEY": "prefix-test-secret",
           "QUERENT_VAR_DIR": str(tmp_path / (prefix or "default")), "PYTHONUNBUFFERED": "1", **extra}
    if prefix:
        env["QUERENT_CHANNEL_PREFIX"] = prefix
    return env


def _settings(env: dict, *names: str) -> list:
    code = ("import django, json; django.setup(); from django.conf import settings; "
            f"print(json.dumps([getattr(settings, n) for n in {list(names)!r}], default=str))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_queue_names_follow_the_prefix_unless_named(tmp_path):
    assert _settings(_env(tmp_path, None), "AGENT_QUEUE", "CELERY_TASK_DEFAULT_QUEUE") == ["querent-agent", "querent-default"]
    assert _settings(_env(tmp_path, "shop"), "AGENT_QUEUE", "CELERY_TASK_DEFAULT_QUEUE") == ["shop-agent", "shop-default"]
    named = _env(tmp_path, "shop", QUERENT_AGENT_QUEUE="agents", QUERENT_DEFAULT_QUEUE="misc")
    assert _settings(named, "AGENT_QUEUE", "CELERY_TASK_DEFAULT_QUEUE") == ["agents", "misc"]


def test_each_queue_has_its_own_binding(tmp_path):
    """A task reaches one queue: the agent and default queues never share an exchange and routing key."""
    code = ("import django, json; django.setup(); from config.celery import app; q = app.amqp.queues; "
            "route = app.amqp.router.route({}, 'threads.tasks.execute_run')['queue']; "
            "print(json.dumps({'bindings': sorted([n, q[n].exchange.name, q[n].routing_key] for n in q), "
            "'run': [route.name, route.exchange.name, route.routing_key]}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**_env(tmp_path, "shop"), "DJANGO_SETTINGS_MODULE": "config.settings"})
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["bindings"] == [["shop-agent", "shop-agent", "shop-agent"], ["shop-default", "shop-default", "shop-default"]]
    assert found["run"] == ["shop-agent", "shop-agent", "shop-agent"]


def test_redis_keys_cache_and_channels_carry_the_prefix(tmp_path):
    env = _env(tmp_path, "shop", REDIS_URL="redis://127.0.0.1:6379/0")
    broker, backend, cache = _settings(env, "CELERY_BROKER_TRANSPORT_OPTIONS", "CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS", "CACHES")
    assert broker["global_keyprefix"] == backend["global_keyprefix"] == "shop:"
    assert cache["default"]["KEY_PREFIX"] == "shop"


@pytest.mark.requires_redis
def test_two_prefixes_on_one_redis_each_answer_their_own_tasks(tmp_path):
    import redis

    redis_url = redis_url_for_stack(3)
    tags = {name: f"q{name}-{uuid.uuid4().hex[:8]}" for name in ("a", "b")}
    workers = {}
    try:
        for name, prefix in tags.items():
            env = _env(tmp_path, prefix, REDIS_URL=redis_url)
            log = open(tmp_path / f"{name}.log", "wb")
            # No -Q: the worker consumes the queues the settings declare for its prefix.
            workers[name] = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c", "2",
                 "-n", f"{prefix}@%h", "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        for name, prefix in tags.items():
            for _ in range(3):  # several pings: none may reach the other deployment's worker
                code = ("import json; from config.celery import ping; "
                        "print(json.dumps(ping.delay('p').get(timeout=60, interval=0.05)))")
                out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                                     env={**_env(tmp_path, prefix, REDIS_URL=redis_url), "DJANGO_SETTINGS_MODULE": "config.settings"})
                assert out.returncode == 0, out.stderr + (tmp_path / f"{name}.log").read_text(errors="replace")[-3000:]
                assert json.loads(out.stdout.strip().splitlines()[-1])["pid"] == workers[name].pid
        client = redis.Redis.from_url(redis_url)
        for name, prefix in tags.items():
            ours = [k.decode() for k in client.scan_iter(match=f"*{prefix}*", count=500)]
            assert ours, f"no Redis keys for {prefix}"
            assert all(key.startswith(f"{prefix}:") for key in ours), ours
    finally:
        for proc in workers.values():
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in workers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for prefix in tags.values():
            delete_redis_keys(redis_url, prefix)
