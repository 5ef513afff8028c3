"""config/patches: each override still has something to override, in the versions it was read against.

A library upgrade fails here first, naming what to re-check; the behaviour each patch exists for is
tested end to end where its docstring says (tests/faults/test_redis_restart.py for the worker's
reconnect, tests/config/test_body_limits.py and test_web_launcher.py for daphne's limits).
"""

import inspect
from importlib.metadata import version

import pytest

from celery.worker.consumer import Consumer
from django.conf import settings
from kombu import Connection
from kombu.transport import redis as kombu_redis

from config.celery import app
from config.patches import celery_reconnect, daphne_limits, django_asgi, django_middleware


@pytest.mark.parametrize("patch", [celery_reconnect, django_asgi, django_middleware], ids=lambda m: m.__name__)
def test_each_patch_was_checked_against_the_installed_versions(patch):
    installed = {name: version(name) for name in patch.CHECKED_AGAINST}
    assert installed == patch.CHECKED_AGAINST, f"re-check {patch.__file__} against these versions"


def test_the_package_lists_every_patch_module():
    from pathlib import Path

    import config.patches

    modules = sorted(p.stem for p in Path(config.patches.__file__).parent.glob("*.py") if p.stem != "__init__")
    assert modules == sorted(m.__name__.rsplit(".", 1)[1] for m in (celery_reconnect, daphne_limits, django_asgi, django_middleware))
    assert all(f"{name}.py" in config.patches.__doc__ for name in modules)


def test_the_web_process_runs_the_pooled_handler_and_the_inline_middleware():
    from pathlib import Path

    # Read, not imported: importing config.asgi disconnects signal receivers and freezes the heap.
    asgi = (Path(django_asgi.__file__).parents[1] / "asgi.py").read_text()
    assert "from config.patches.django_asgi import get_asgi_application" in asgi
    assert all(not m.startswith("config.inline") for m in settings.MIDDLEWARE)
    assert sum(m.startswith("config.patches.django_middleware.") for m in settings.MIDDLEWARE) == 8


def test_the_worker_runs_the_reconnecting_consumer():
    assert settings.CELERY_WORKER_CONSUMER == "config.patches.celery_reconnect:ReconnectingConsumer"
    assert app.conf.worker_consumer == settings.CELERY_WORKER_CONSUMER
    assert issubclass(celery_reconnect.ReconnectingConsumer, Consumer)


def test_the_hooks_the_reconnect_overrides_are_where_it_expects_them():
    # 1. Celery calls this on a lost connection and collects, then closes, the broken connection there.
    source = inspect.getsource(Consumer.on_connection_error_after_connected)
    assert "self.connection.collect(" in source and "connection.close" in source
    # 2. kombu closes the default channel through maybe_close_channel, looked up on the instance.
    assert "self.maybe_close_channel(self._default_channel)" in inspect.getsource(Connection)
    # 3. The Redis channel's synchronous commands (acks included) borrow a client through conn_or_acquire.
    assert "conn_or_acquire" in inspect.getsource(kombu_redis.QoS)
