"""The background loops every Celery worker runs beside its tasks.

The worker's consumer, which survives losing its Redis broker with a task in flight, is a patch of
Celery's internals and lives in config/patches/celery_reconnect.py.
"""

import logging
import threading

from .db import release_connections

logger = logging.getLogger(__name__)


def run_periodically(name: str, action, *, every: float, stop: threading.Event, at_once: bool = False) -> threading.Thread:
    """Call `action` on a daemon thread every `every` seconds (first at once with `at_once`) until
    `stop` is set. A failure is logged and the next turn tries again; the thread's database
    connections are given back after each call, so an idle loop holds none.
    """

    def loop() -> None:
        if not at_once and stop.wait(every):
            return
        while True:
            try:
                action()
            except Exception:  # noqa: BLE001 - the next turn tries again
                logger.exception("%s failed", name)
            finally:
                release_connections()
            if stop.wait(every):
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
