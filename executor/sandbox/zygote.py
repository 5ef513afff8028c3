"""The worker's handle on one zygote process: start it, hand it snippets, stop it."""

import collections
import importlib.resources
import json
import logging
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import threading
import time

from .config import SandboxConfig
from .launch import LaunchPlan
from .runtime import RUNTIME_MODULES

log = logging.getLogger("querent.sandbox")


class ZygoteError(RuntimeError):
    """The zygote could not start or stopped answering."""


class _Launcher:
    """Starts processes from one long-lived thread.

    bwrap's --die-with-parent uses PR_SET_PDEATHSIG, which fires when the *thread* that forked it
    exits. Celery's threads and our start-up threads come and go, so every zygote is spawned here.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="sandbox-launcher", daemon=True)
                self._thread.start()
        reply: queue.SimpleQueue = queue.SimpleQueue()
        self._requests.put((argv, kwargs, reply))
        outcome = reply.get()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _serve(self) -> None:
        while True:
            argv, kwargs, reply = self._requests.get()
            try:
                reply.put(subprocess.Popen(argv, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                reply.put(exc)


_launcher = _Launcher()


def _new_launcher_in_forked_child() -> None:
    global _launcher
    _launcher = _Launcher()


os.register_at_fork(after_in_child=_new_launcher_in_forked_child)


def _runtime_sources() -> list[tuple[str, str]]:
    package = importlib.resources.files("executor.sandbox.runtime")
    return [(name, package.joinpath(f"{name}.py").read_text()) for name in RUNTIME_MODULES]


class Zygote:
    def __init__(self, slot: int, uid: int, plan: LaunchPlan, config: SandboxConfig):
        self.slot = slot
        self.plan = plan
        self.config = config
        self.uid = uid
        self.process: subprocess.Popen | None = None
        self.ctl: socket.socket | None = None
        self.info: dict = {}
        self.pending_run = None  # a finished snippet whose clean-up report has not been read yet
        self.broken = False
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.ctl = parent_end
        try:
            self.process = _launcher.popen(
                [*self.plan.argv, str(child_end.fileno())], pass_fds=[child_end.fileno()], env={},
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True, cwd="/")
        finally:
            child_end.close()
        threading.Thread(target=self._drain_stderr, name=f"sandbox-zygote-{self.slot}-stderr", daemon=True).start()
        hello = {"sources": _runtime_sources(), "config": {
            "uid": self.uid, "gid": self.uid, "tmp_dir": self.plan.tmp_dir, "private_tmp": self.plan.private_tmp,
            "max_tmp_files": self.config.tmp_files, "site_dir": self.plan.site_dir,
            "own_pid_namespace": self.plan.isolated, "limits": self.config.limits()}}
        self.ctl.send(json.dumps(hello).encode())
        ready = self._wait_event(self.config.start_timeout)
        if not ready or ready.get("event") != "ready":
            self.stop()
            raise ZygoteError(f"the sandbox interpreter did not start: {self.stderr_tail() or 'no output'}")
        self.info = ready

    def stop(self) -> None:
        self.broken = True
        if self.ctl is not None:
            try:
                self.ctl.send(b'{"op": "exit"}')
            except OSError:
                pass
            self.ctl.close()
        if self.process is not None and self.process.poll() is None:
            # bwrap's --die-with-parent takes the whole sandbox (its pid namespace) down with it.
            self.process.kill()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.error("sandbox zygote %s did not exit after SIGKILL", self.slot)
        if not self.plan.isolated:
            _kill_processes_of_uid(self.uid)  # no pid namespace did it for us
        for path in self.plan.cleanup_paths:
            shutil.rmtree(path, ignore_errors=True)

    def alive(self) -> bool:
        return not self.broken and self.process is not None and self.process.poll() is None

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr_tail)[-2000:]

    def _drain_stderr(self) -> None:
        for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()[:500]
            self._stderr_tail.append(line)
            log.warning("sandbox zygote %s: %s", self.slot, line)

    # --- one snippet ----------------------------------------------------------------------

    def fileno(self) -> int:
        return self.ctl.fileno()

    def begin(self, run_id: int, channel_fd: int) -> None:
        message = json.dumps({"op": "run", "run": run_id}).encode()
        socket.send_fds(self.ctl, [message], [channel_fd])

    def kill(self, run_id: int) -> None:
        try:
            self.ctl.send(json.dumps({"op": "kill", "run": run_id}).encode())
        except OSError:
            self.broken = True

    def read_event(self) -> dict | None:
        """One control message; None once the zygote is gone or talks nonsense."""
        try:
            data = self.ctl.recv(65536)
            return json.loads(data) if data else None
        except (OSError, ValueError):
            return None

    def wait_done(self, run_id: int, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            event = self._wait_event(deadline - time.monotonic())
            if event is None:
                return None
            if event.get("event") == "done" and event.get("run") == run_id:
                return event

    def _wait_event(self, timeout: float) -> dict | None:
        if timeout <= 0:
            return None
        return self.read_event() if wait_readable(self.ctl, timeout) else None


def wait_readable(sock: socket.socket, timeout: float) -> bool:
    # poll, not select: a busy worker may hold file descriptors above select's limit of 1024.
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(max(0.0, timeout) * 1000))


def wait_writable(sock: socket.socket, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    return bool(poller.poll(max(0.0, timeout) * 1000))


def _kill_processes_of_uid(uid: int) -> None:
    """Fallback mode only: the sandbox uid is dedicated to one slot, so all its processes are leftovers."""
    if os.geteuid() != 0 or uid == 0:
        return
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:  # /proc/<pid> itself is owned by root for non-dumpable processes, so read the real uid
            with open(f"/proc/{name}/status") as status:
                real_uid = next(int(line.split()[1]) for line in status if line.startswith("Uid:"))
            if real_uid == uid:
                os.kill(int(name), signal.SIGKILL)
        except (OSError, StopIteration, ValueError):
            pass
