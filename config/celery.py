import os

from celery import Celery
from celery.signals import worker_ready

from .broker import register as register_embedded_broker
from .redis_transport import register as register_redis_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

register_embedded_broker()
register_redis_transport()
app = Celery("querent")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping(payload=None):
    """Round trip used by /health and the tests to prove a worker is consuming."""
    import socket

    return {"pong": payload, "worker": socket.gethostname(), "pid": os.getpid()}


@worker_ready.connect(weak=False)
def _freeze_startup_heap(**kwargs) -> None:
    from .runtime import freeze_startup_heap

    freeze_startup_heap()
