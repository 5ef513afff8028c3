"""A task makes a round trip through a real, separate worker process, in both broker modes."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery import Celery

from config.broker import register as register_embedded_broker

ROOT = Path(__file__).resolve().parents[2]


def start_worker(env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default", "-P", "threads", "-c", "2",
         "-n", f"rt-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def roundtrip(client_app: Celery, env: dict, tmp_path: Path) -> dict:
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        token = uuid.uuid4().hex
        result = client_app.send_task("config.ping", args=[token], queue="default")
        reply = result.get(timeout=60, interval=0.05)
        assert reply["pong"] == token
        assert reply["pid"] == worker.pid  # answered by the separate process, not in-process
        return reply
    except Exception:
        print((tmp_path / "worker.log").read_text(errors="replace")[-4000:])
        raise
    finally:
        stop(worker)


@pytest.mark.backend_independent  # its own broker files and worker environment, whatever the pass
def test_embedded_broker_roundtrip(tmp_path):
    register_embedded_broker()
    env = {"PATH": os.environ["PATH"], "QUERENT_DEBUG": "1", "QUERENT_VAR_DIR": str(tmp_path)}
    app = Celery(
        "client",
        broker=f"querent-sqla+sqlite:///{tmp_path / 'broker.sqlite3'}",
        backend=f"db+sqlite:///{tmp_path / 'celery-results.sqlite3'}",
    )
    roundtrip(app, env, tmp_path)


@pytest.mark.requires_redis
def test_redis_broker_roundtrip(tmp_path):
    from django.conf import settings

    from tests.fixtures.modes import delete_redis_keys

    # The test's own key prefix (the worker's QUERENT_CHANNEL_PREFIX becomes kombu's global_keyprefix):
    # its queue, bindings and result never meet another run's, and only its keys are deleted after.
    prefix = f"querent-test-roundtrip-{uuid.uuid4().hex[:8]}"
    options = {"global_keyprefix": f"{prefix}:"}
    env = {"PATH": os.environ["PATH"], "QUERENT_SECRET_KEY": "x", "REDIS_URL": settings.REDIS_URL,
           "QUERENT_CHANNEL_PREFIX": prefix, "QUERENT_VAR_DIR": str(tmp_path)}
    app = Celery("client", broker=settings.REDIS_URL, backend=settings.REDIS_URL)
    app.conf.broker_transport_options = options
    app.conf.result_backend_transport_options = options
    try:
        roundtrip(app, env, tmp_path)
    finally:
        app.close()
        delete_redis_keys(settings.REDIS_URL, prefix)
