"""A pool of zygotes shared by the worker's threads; each snippet borrows one zygote.

A zygote runs one snippet at a time under its own uid, so snippets of different threads never share
a uid, a process budget or a /tmp. A broken zygote is stopped and replaced in the background.
"""

import collections
import logging
import os
import socket
import threading
import time

from .config import SandboxConfig
from .host import SandboxHost
from .launch import (
    Interpreter, LaunchPlan, bwrap_plan, current_interpreter, distribution_entries, fallback_plan, locate_bwrap, probe_bwrap,
)
from .snippet import CLEANUP_TIMEOUT, STOPPED, SnippetRun
from .zygote import Zygote, ZygoteError

log = logging.getLogger("querent.sandbox")
_warned: set[str] = set()
_warned_lock = threading.Lock()
MAX_RESTART_DELAY = 30.0
UNCONFINED = "snippets can read every world-readable file and reach the network; only rlimits, uid and seccomp apply"
ALLOW_UNSAFE_VARIABLE = "QUERENT_SANDBOX_ALLOW_UNSAFE_NO_BWRAP"


def warn_once(key: str, message: str, *args) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning("SANDBOX WARNING: " + message, *args)


class UidClaims:
    """Machine-wide ownership of sandbox uids, so two worker processes never share one.

    A uid is claimed by binding an abstract unix socket named after it: the kernel keeps the name
    unique and releases it when the process dies, so no stale lock files are left behind.
    """

    SEARCH = 1000

    def __init__(self):
        self._sockets: dict[int, socket.socket] = {}

    def claim(self, first_uid: int) -> int:
        for uid in range(first_uid, first_uid + self.SEARCH):
            if uid in self._sockets:
                continue
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(f"\0querent-sandbox-uid-{uid}")
            except OSError:
                sock.close()
                continue
            self._sockets[uid] = sock
            return uid
        raise ZygoteError(f"no free sandbox uid in {first_uid}..{first_uid + self.SEARCH - 1}")

    def release_all(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()


class SandboxRefused(ZygoteError):
    """Production without bubblewrap: no snippet runs (each gets this as its tool error)."""


def check_bwrap(config: SandboxConfig, interpreter: Interpreter | None = None) -> tuple[LaunchPlan | None, str | None]:
    """The bubblewrap launch plan, or (None, why bubblewrap cannot confine snippets on this machine)."""
    if config.disable_bwrap:
        return None, "bubblewrap is disabled by QUERENT_SANDBOX_DISABLE_BWRAP"
    binary = locate_bwrap(config)
    if binary is None:
        return None, f"bubblewrap (`{config.bwrap}`, Debian package `bubblewrap`) is not installed"
    plan = bwrap_plan(config, interpreter or current_interpreter(), distribution_entries(), binary)
    problem = probe_bwrap(plan)
    if problem is not None:
        return None, f"bubblewrap cannot start the sandbox on this machine ({problem})"
    return plan, None


def refusal(problem: str) -> str:
    return (f"{problem}; in production (QUERENT_PRODUCTION=1) no code runs without bubblewrap: install it "
            f"(apt-get install -y bubblewrap), or set {ALLOW_UNSAFE_VARIABLE}=1 to run code with only "
            "rlimits, a uid and seccomp around it")


def not_run(reason: str) -> dict:
    return {"output": "", "error": f"the code was not run: {reason}", "sql_statements": [], "modified_artifacts": []}


class SandboxPool:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self.mode: str | None = None  # "bwrap", "fallback" or "refused" (production without bubblewrap) once started
        self.start_seconds: float | None = None
        self.last_error: str | None = None
        self._cond = threading.Condition()
        self._idle: collections.deque[Zygote] = collections.deque()
        self._zygotes: dict[int, Zygote] = {}
        self._failing: set[int] = set()
        self._plan_for = None
        self._uids = UidClaims()
        self._slot_uids: dict[int, int] = {}
        self._started = False
        self._closed = False

    # --- start and stop ----------------------------------------------------------------------

    def start(self) -> None:
        """Start every zygote and wait for them (the first caller does the work)."""
        with self._cond:
            if self._started or self._closed:
                return
            self._started = True
        began = time.monotonic()
        try:
            for slot in range(self.config.pool_size):
                self._slot_uids[slot] = self._uids.claim(self.config.first_uid)
            self._choose_launch()
        except ZygoteError as exc:
            with self._cond:
                self.last_error = str(exc)
                self._failing = set(range(self.config.pool_size))  # so borrowers fail fast
            if isinstance(exc, SandboxRefused):
                self._uids.release_all()
            raise
        threads = [threading.Thread(target=self._spawn, args=(slot,), name=f"sandbox-start-{slot}", daemon=True)
                   for slot in range(self.config.pool_size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.start_seconds = time.monotonic() - began
        for slot in range(self.config.pool_size):
            if slot not in self._zygotes:
                self._restart_later(slot)
        if not self._zygotes:
            raise ZygoteError(f"no sandbox process could start: {self.last_error}")

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            zygotes = list(self._zygotes.values())
            self._zygotes.clear()
            self._idle.clear()
            self._cond.notify_all()
        for zygote in zygotes:
            zygote.stop()
        self._uids.release_all()

    def _choose_launch(self) -> None:
        interpreter = current_interpreter()
        if os.geteuid() != 0:
            warn_once("not-root", "the worker is not root, so snippets run under the worker's own uid "
                      "(no per-snippet uid; RLIMIT_NPROC counts all of the worker user's processes)")
        plan, problem = check_bwrap(self.config, interpreter)
        if plan is not None:
            self.mode = "bwrap"
            self._plan_for = lambda slot: plan
            return
        if self.config.require_bwrap:
            self.mode = "refused"
            message = refusal(problem)
            log.error("SANDBOX REFUSED: %s", message)
            raise SandboxRefused(message)
        warn_once(f"no-bwrap: {problem}", "%s: %s", problem, UNCONFINED)
        self.mode = "fallback"
        self._plan_for = lambda slot: fallback_plan(interpreter, self._slot_uids[slot])

    def _spawn(self, slot: int) -> bool:
        zygote = Zygote(slot, self._slot_uids[slot], self._plan_for(slot), self.config)
        try:
            zygote.start()
        except (ZygoteError, OSError) as exc:
            with self._cond:
                self.last_error = str(exc)
                self._failing.add(slot)
                self._cond.notify_all()
            log.error("sandbox zygote %s failed to start: %s", slot, exc)
            return False
        if not zygote.info.get("seccomp"):
            warn_once("seccomp", "no seccomp filter in the sandbox (%s)", zygote.info.get("seccomp_problem"))
        with self._cond:
            if self._closed:
                closed = True
            else:
                closed = False
                self._failing.discard(slot)
                self._zygotes[slot] = zygote
                self._idle.append(zygote)
                self._cond.notify_all()
        if closed:
            zygote.stop()
        return not closed

    def _replace(self, zygote: Zygote) -> None:
        """Stop a broken zygote and start a new one for its slot, retrying with backoff."""
        with self._cond:
            if self._zygotes.get(zygote.slot) is zygote:
                del self._zygotes[zygote.slot]
        zygote.stop()
        self._restart_later(zygote.slot, first_delay=0.0)

    def _restart_later(self, slot: int, first_delay: float = 0.5) -> None:
        def restart() -> None:
            delay = first_delay
            while True:
                time.sleep(delay)
                if self._closed or self._spawn(slot):
                    return
                delay = min(max(delay * 2, 0.5), MAX_RESTART_DELAY)

        threading.Thread(target=restart, name=f"sandbox-restart-{slot}", daemon=True).start()

    # --- borrowing -------------------------------------------------------------------------------

    def acquire(self, timeout: float) -> Zygote | None:
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                while not self._idle:
                    if self._closed or (not self._zygotes and self._failing >= set(range(self.config.pool_size))):
                        return None  # nothing can start: fail now instead of waiting out the timeout
                    if not self._cond.wait(max(0.0, deadline - time.monotonic())) and time.monotonic() >= deadline:
                        return None
                zygote = self._idle.popleft()
            if zygote.pending_run is not None:  # the previous snippet's clean-up report
                event = zygote.wait_done(zygote.pending_run, CLEANUP_TIMEOUT)
                zygote.pending_run = None
                if event is None or not event.get("healthy", False):
                    self._replace(zygote)
                    continue
            if not zygote.alive():
                self._replace(zygote)
                continue
            return zygote

    def release(self, zygote: Zygote, run: SnippetRun | None) -> None:
        unhealthy = run is None or run.zygote_lost or (run.done is not None and not run.done.get("healthy", False))
        if zygote.broken or unhealthy or not zygote.alive():
            self._replace(zygote)
            return
        zygote.pending_run = None if run.done else run.run_id
        with self._cond:
            if self._closed:
                closed = True
            else:
                closed = False
                self._idle.append(zygote)
                self._cond.notify()
        if closed:
            zygote.stop()

    # --- the public operation ------------------------------------------------------------------

    def execute(self, code: str, host: SandboxHost, timeout: float | None = None) -> dict:
        if not isinstance(code, str):
            return not_run("the code must be a string")
        if len(code) > self.config.max_code_chars:
            return not_run(f"the code is longer than {self.config.max_code_chars} characters")
        try:
            self.start()
        except ZygoteError as exc:
            return not_run(f"the sandbox is unavailable ({exc})")
        zygote = self.acquire(self.config.total_timeout)
        if zygote is None:
            return not_run(f"the sandbox is unavailable ({self.last_error or 'no free sandbox process'})")
        run = SnippetRun(zygote, host, code, self.config, timeout if timeout is not None else self.config.timeout)
        completed = False
        try:
            result = run.execute()
            completed = True
            return result
        except Exception:  # noqa: BLE001 - the worker must survive whatever happened
            log.exception("sandbox run failed")
            return {**run.result(), "error": STOPPED + "an internal error stopped the sandbox"}
        finally:
            self.release(zygote, run if completed else None)
