"""Overrides of third-party internals, each isolated here with the version it was checked against.

Every module's docstring details, per patch, what it overrides, why, and how it breaks. Nothing is
applied on import: the code that needs a patch uses it explicitly. tests/config/test_patches.py
fails when an installed version differs from the one a module was checked against (each module's
CHECKED_AGAINST) or when a module here is missing from this list.

- daphne_limits.py: Twisted's ``Request.gotLength``/``handleContentChunk``/``requestReceived``,
  daphne's ``HTTPFactory.buildProtocol`` and ``daphne.server.HTTPFactory``, autobahn's ``failByDrop``.
  daphne 4.2.3, Twisted 26.10.0, autobahn 26.11.1. Gain: none (correctness: request bodies refused
  while read, 413 before the body). Tests: tests/config/test_body_limits.py, test_web_launcher.py.
  Used by config/web.py.
- celery_reconnect.py: Celery's ``Consumer.on_connection_error_after_connected``, kombu's
  ``Connection.maybe_close_channel`` and the Redis ``Channel.conn_or_acquire`` of a dead channel.
  celery 5.7.0, kombu 5.7.0, redis 8.1.0. Gain: none (correctness: the worker reconnects after a
  broker outage with a task in flight instead of exiting). Test:
  tests/faults/test_redis_restart.py::test_stream_survives_a_redis_restart. Used by
  settings.CELERY_WORKER_CONSUMER.
- django_asgi.py: Django's ``ASGIHandler.__call__`` (a pooled single-thread executor per request
  through asgiref's ``ThreadSensitiveContext(executor=...)``) and request_started's two receivers
  outside DEBUG. Django 5.2.19, asgiref 3.13.0. Gain: 1.2-1.7 ms of CPU per request in process
  (ASGI loop over ``GET /ok``, medians of 5 rounds of 1,000). Tests: tests/config/test_handler.py.
  Used by config/asgi.py.
- django_middleware.py: ``MiddlewareMixin.__acall__`` of Django's 7 stock middleware, Csrf's
  ``process_view`` as a coroutine, WhiteNoise made async-capable. Django 5.2.19, whitenoise 6.12.0.
  Gain: 1.4-1.9 ms of CPU per request in process (same loop). Tests:
  tests/config/test_inline_middleware.py. Used by settings.MIDDLEWARE.
- spectacular_patterns.py: drf-spectacular's ``AutoSchema._map_serializer_field`` and its
  ``_map_serializer`` (the default schema the project's serializer extensions build on). drf-spectacular
  0.30.0. Gain: none (correctness: request schemas carry the patterns of what DRF's CharField
  refuses, NUL characters and blank values). Tests: tests/config/test_patches.py. Used by
  settings.REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS.

Paired runs of bench/opengpts_runs.py --runs 100 --rounds 3, three invocations of each build
alternating (A B C, C B A, A C B) on a busy machine, medians of 9 rounds (one thread + one run = two
requests): without the two Django patches (Django's own handler and middleware) web CPU per thread +
run was 17.1 ms at concurrency 1 and 14.8 ms at 10; with them 11.9 and 9.5 ms, and 35.2 against
27.2 runs/s at concurrency 10.

Removed, each below about 1 ms per run (and replaced by the library's documented behaviour):
kombu's Redis ``Channel._create_client`` kept per channel (0.12 ms of CPU per command, 0.2 ms per
publish; kombu's stock transport now), psycopg_pool's ``_check`` swapped for a socket peek (the stock
check is 0.04 ms per borrow, a few borrows per request; CONN_HEALTH_CHECKS with psycopg_pool's own
check now), and the openai SDK's argument validation skipped through ``extra_body`` (about 0.5 ms per
model call; create() takes the documented arguments now). All three together, in the same paired
runs: worker CPU per run 7.5 -> 8.3 ms at concurrency 1 and 6.7 -> 7.1 ms at 10, web CPU and
runs/s unchanged within noise.
"""
