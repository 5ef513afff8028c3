"""Process-wide tuning applied once a web or worker process has finished starting."""

import gc


def freeze_startup_heap() -> None:
    """Take everything built at start-up (modules, models, URL patterns, the SDK clients) out of
    the garbage collector's sight.

    A full collection otherwise walks all of it: 95-144 ms each in the web and worker processes
    (measured with gc.callbacks during bench/threads_stream.py), landing on whichever request or
    run happens to allocate at that moment. Objects created later are collected as usual; the
    frozen ones were going to live as long as the process anyway.
    """
    gc.collect()
    gc.freeze()
