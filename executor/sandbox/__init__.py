"""The sandbox that runs model-written Python: a warm pool of forked, confined interpreters.

    result = execute_python(code, host)   # thread-safe; returns the execute_python tool output

`host` serves the snippet's `executor.run_sql/store_artifact/get_artifact` calls on the calling
thread. How the containment works and why: the "Sandbox:" lines of docs/decisions.md.
"""

import atexit
import os
import threading

from .config import SandboxConfig
from .host import SandboxHost, ToolError
from .pool import SandboxPool, SandboxRefused, check_bwrap

__all__ = [
    "SandboxConfig", "SandboxHost", "SandboxPool", "SandboxRefused", "ToolError", "check_bwrap", "execute_python",
    "shutdown", "warm_up",
]

_pool: SandboxPool | None = None
_pool_lock = threading.Lock()


def _default_pool() -> SandboxPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = SandboxPool(SandboxConfig.from_settings())
        return _pool


def execute_python(code: str, host: SandboxHost, *, timeout: float | None = None) -> dict:
    """Run a snippet; never raises for anything the snippet does.

    `timeout` (seconds) overrides QUERENT_SANDBOX_TIMEOUT and counts only the snippet's own running
    time, not time spent blocked in host calls.
    """
    return _default_pool().execute(code, host, timeout=timeout)


def warm_up() -> None:
    """Start the pool now (the worker calls this at start-up); otherwise the first snippet starts it."""
    try:
        _default_pool().start()
    except SandboxRefused:
        pass  # logged once as SANDBOX REFUSED; every snippet gets the reason as its tool error


def shutdown() -> None:
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown()


def _forget_pool_in_forked_child() -> None:
    # A forked copy of the worker must not drive the parent's zygotes; it starts its own if needed.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_forked_child)
atexit.register(shutdown)
