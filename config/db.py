"""Running ORM code off the event loop without keeping pooled connections on worker threads."""

import functools

from asgiref.sync import sync_to_async
from django.db import connections


def release_connections() -> None:
    """Give this thread's database connections back (to the pool, when there is one)."""
    for connection in connections.all(initialized_only=True):
        connection.close()


def in_worker_thread(func):
    """`sync_to_async(thread_sensitive=False)` that returns the thread's connections when done.

    A worker thread keeps whatever connection it opened until someone closes it there; with a pool
    of 20, a few such threads per process would drain it. Works on functions and on methods.
    """

    @functools.wraps(func)
    def call(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            release_connections()

    return sync_to_async(call, thread_sensitive=False)
