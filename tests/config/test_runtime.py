"""Start-up objects are frozen out of the garbage collector in the web and worker processes."""

import gc
import os
import subprocess
import sys
from pathlib import Path

from celery.signals import worker_ready

ROOT = Path(__file__).resolve().parents[2]


def test_the_web_process_freezes_what_it_built_at_start_up():
    code = "import gc, config.asgi; print(gc.get_freeze_count())"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "QUERENT_SECRET_KEY": "t"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 50_000  # modules, models, URL patterns, views


def test_the_worker_freezes_once_ready():
    import config.celery  # noqa: F401 - connects the handler

    live = worker_ready._live_receivers(sender=None)
    assert "_freeze_startup_heap" in {getattr(receiver, "__name__", "") for receiver in live}


def test_freezing_leaves_later_garbage_collectable():
    from config.runtime import freeze_startup_heap

    before = gc.get_freeze_count()
    freeze_startup_heap()
    try:
        assert gc.get_freeze_count() >= before

        class Cycle:
            pass

        a, b = Cycle(), Cycle()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
