"""Django's ASGI handler, with the per-request thread taken from a pool instead of started anew,
and request_started's receivers off outside DEBUG.

Django runs each request in its own ``ThreadSensitiveContext``: the request's thread-sensitive sync
work (the request_started/finished signals, ``response.close()``, sync views and middleware) runs on a
single-thread executor made for that request, and on exit a second thread is started to join it:
two thread starts and a join per request, even for an async view that does no sync work of its own.
Here requests borrow an idle single-thread executor and give it back: one request at a time per
thread, as before, without the thread churn. Thread-local state a request leaves behind is what
Django cleans at request end anyway: request_finished closes (returns to the pool) the thread's
database connections; a request that ends before Django could send it has its thread's connections
closed here. Django also runs request_started's receivers on the request's thread: one more hop
before the view. Outside DEBUG both have nothing to do there (``without_request_started_hop``).

Checked against Django 5.2.19 and asgiref 3.13.0 (``CHECKED_AGAINST`` below, compared with what is
installed by tests/config/test_patches.py). Measured gain: 1.2-1.7 ms of CPU per request in process
(an in-process ASGI loop over ``GET /ok``, 5 rounds of 1,000, medians: 3.95 -> 2.30 ms with the stock
middleware, 2.06 -> 0.90 ms with config.patches.django_middleware); paired bench figures in
config/patches/__init__.py. Tests that fail when Django or asgiref change under it:
tests/config/test_handler.py (one thread reused by requests in sequence, one per concurrent request,
connections given back at the end, no hop for request_started, receivers kept under DEBUG) and the
version check in tests/config/test_patches.py.

Patches, one per non-public thing used:

1. ``PooledThreadASGIHandler.__call__`` overrides ``django.core.handlers.asgi.ASGIHandler.__call__``
   (its body, with the executor passed to ``ThreadSensitiveContext``, asgiref's
   ``ThreadSensitiveContext(executor=...)``); breaks if Django's __call__ does more than
   ``handle()`` inside the context.
2. ``without_request_started_hop`` disconnects Django's own receivers ``close_old_connections``
   and ``reset_queries`` from ``request_started`` (connected in django/db/__init__.py).
3. ``get_asgi_application`` replaces ``django.core.asgi.get_asgi_application`` (config/asgi.py).
"""

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_started
from django.db import close_old_connections

# The versions these overrides were read against; tests/config/test_patches.py fails on any other.
CHECKED_AGAINST = {"django": "5.2.19", "asgiref": "3.13.0"}


class ExecutorPool:
    """Idle single-thread executors, handed out one per request; beyond `keep` idle ones are shut."""

    def __init__(self, keep: int = 16):
        self.keep = keep
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)

    def take(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{next(self._numbers)}")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)  # its queued work still runs; the thread then ends


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self, keep_idle_threads: int = 16):
        super().__init__()
        self.executors = ExecutorPool(keep_idle_threads)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.executors.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        except BaseException:
            # Ended before response.close() sent request_finished: close what the request left
            # open on its thread, ahead of the next request's work there (one thread, in order).
            executor.submit(close_old_connections)
            raise
        finally:
            self.executors.give_back(executor)


def without_request_started_hop() -> None:
    """Disconnect request_started's receivers, which Django runs through a thread hop before each
    view: close_old_connections finds nothing to close on a pooled request thread (the previous
    request closed its connections at its end, by request_finished or in __call__), and
    reset_queries clears a query log that only DEBUG keeps, so under DEBUG they stay."""
    from django.conf import settings
    from django.db import reset_queries

    if not settings.DEBUG:
        request_started.disconnect(close_old_connections)
        request_started.disconnect(reset_queries)


def get_asgi_application() -> PooledThreadASGIHandler:
    """`django.core.asgi.get_asgi_application` with the pooled handler."""
    import django

    django.setup(set_prefix=False)
    without_request_started_hop()
    return PooledThreadASGIHandler()
