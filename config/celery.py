import os

from celery import Celery
from celery.signals import celeryd_init, setup_logging, worker_ready

from .broker import register as register_embedded_broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

register_embedded_broker()
app = Celery("querent")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping(payload=None):
    """Round trip used by /health and the tests to prove a worker is consuming."""
    import socket

    return {"pong": payload, "worker": socket.gethostname(), "pid": os.getpid()}


def _django_logging(loglevel=None) -> None:
    """The worker logs like the web process (settings.LOGGING: JSON lines outside debug, secrets
    scrubbed) instead of in Celery's own format; `--loglevel` still sets the level."""
    import logging
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)  # e.g. Celery's warning about running as root, as a log line
    if loglevel:
        logging.getLogger().setLevel(loglevel)


@celeryd_init.connect(weak=False)
def _log_from_the_start(options=None, **kwargs) -> None:
    _django_logging((options or {}).get("loglevel"))  # before the worker's first warning


@setup_logging.connect(weak=False)
def _keep_django_logging(loglevel=None, **kwargs) -> None:
    _django_logging(loglevel)  # a receiver here also stops Celery from replacing the root handlers


@worker_ready.connect(weak=False)
def _freeze_startup_heap(**kwargs) -> None:
    from .runtime import freeze_startup_heap

    freeze_startup_heap()
