"""One snippet, seen from the worker: feed it code, serve its calls, watch the clocks, build the result.

The snippet's process is untrusted. Its frames are parsed defensively and must follow the protocol
exactly (consecutive ids, known operations, exact fields); anything else ends the snippet. The result
is assembled here, from served calls and output frames only.
"""

import itertools
import select
import signal
import socket
import time

from .config import SandboxConfig
from .host import SandboxHost
from .host_calls import HostCalls, OutputLog, StopSnippet, clean_text
from .runtime import framing
from .zygote import Zygote, wait_readable, wait_writable

STOPPED = "the code was stopped: "
CLEANUP_TIMEOUT = 10.0
FRAME_OVERHEAD = 1024 * 1024
# Each operation the snippet may send, with exactly the fields (besides id and op) and their types.
OPERATIONS = {
    "output": {"text": (str,)},
    "run_sql": {"sql": (str,)},
    "store_artifact": {"identifier": (str,), "title": (str,), "artifact_type": (str,),
                       "data": (dict, list, str, int, float, bool, type(None))},
    "get_artifact": {"identifier": (str,)},
    "finish": {"error": (str, type(None))},
}
MAX_ERROR_CHARS = 50_000
_run_ids = itertools.count(1)


class ProtocolViolation(Exception):
    pass


class ActiveClock:
    """Wall time the snippet itself runs: paused while the worker serves a host call."""

    def __init__(self, budget: float):
        self.deadline = time.monotonic() + budget
        self._paused_at: float | None = None

    def pause(self) -> None:
        self._paused_at = time.monotonic()

    def resume(self) -> None:
        self.deadline += time.monotonic() - self._paused_at
        self._paused_at = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


class SnippetRun:
    def __init__(self, zygote: Zygote, host: SandboxHost, code: str, config: SandboxConfig, timeout: float):
        self.zygote = zygote
        self.config = config
        self.code = code
        self.timeout = timeout
        self.run_id = next(_run_ids)
        self.output = OutputLog(config.output_chars)
        self.calls = HostCalls(host, config, self.output)
        self.reader = framing.FrameReader(max_size=config.artifact_bytes + FRAME_OVERHEAD)
        self.next_id = 1
        self.finished = False
        self.error: str | None = None
        self.stop_reason: str | None = None
        self.done: dict | None = None  # the zygote's report that the child exited and was cleaned up
        self.zygote_lost = False

    def execute(self) -> dict:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                self.zygote.begin(self.run_id, theirs.fileno())
            except OSError:
                self.zygote_lost = True
                self.stop_reason = "the sandbox process was not available"
                return self.result()
            finally:
                theirs.close()
            ours.setblocking(False)
            self.clock = ActiveClock(self.timeout)
            self.total_deadline = time.monotonic() + self.config.total_timeout
            self._converse(ours)
        finally:
            ours.close()
        return self.result()

    # --- the conversation -------------------------------------------------------------------

    def _converse(self, sock: socket.socket) -> None:
        try:
            self._send(sock, framing.encode({"code": self.code, "output_limit": self.config.output_chars}))
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            poller.register(self.zygote.fileno(), select.POLLIN)
            while not (self.finished or self.done):
                wait = self._time_left()
                for fd, _event in poller.poll(max(0.0, wait) * 1000):
                    if fd == sock.fileno():
                        if not self._read_child(sock):
                            poller.unregister(sock)  # closed: wait for the zygote to say it exited
                    elif self._read_zygote():
                        self._drain(sock)  # the finish frame may still be in the buffer
                    if self.finished or self.done:
                        break
        except ProtocolViolation as exc:
            self.stop_reason = f"it broke the sandbox protocol ({exc})"
        except StopSnippet as exc:
            self.stop_reason = str(exc)
        except _OutOfTime as exc:
            self.stop_reason = str(exc)
        if not self.done:
            self.zygote.kill(self.run_id)  # also after a finish frame: threads may still be running

    def _time_left(self) -> float:
        now = time.monotonic()
        if now >= self.total_deadline:
            raise _OutOfTime(f"it ran for more than {seconds(self.config.total_timeout)} in total, "
                             "including time spent waiting for queries")
        remaining = self.clock.remaining()
        if remaining <= 0:
            raise _OutOfTime(f"it ran for more than {seconds(self.timeout)}")
        return min(remaining, self.total_deadline - now)

    def _read_child(self, sock: socket.socket) -> bool:
        """Handle whatever the child has sent; False once its end is closed."""
        try:
            data = sock.recv(1 << 20)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        try:
            frames = self.reader.feed(data)
        except framing.FrameError as exc:
            raise ProtocolViolation(str(exc)) from None
        for frame in frames:
            if self.finished:
                raise ProtocolViolation("a frame arrived after the finish frame")
            self._handle(sock, frame)
        return True

    def _drain(self, sock: socket.socket) -> None:
        """Read what is still buffered once the child has exited."""
        while not self.finished:
            if not wait_readable(sock, 0) or not self._read_child(sock):
                return

    def _read_zygote(self) -> bool:
        event = self.zygote.read_event()
        if event is None:
            self.zygote_lost = True
            self.done = {"status": None}
            return True
        if event.get("event") == "done" and event.get("run") == self.run_id:
            self.done = event
            return True
        return False

    def _handle(self, sock: socket.socket, frame) -> None:
        op = _validate(frame, self.next_id)
        self.next_id += 1
        if op == "output":
            self.output.write(frame["text"])
        elif op == "finish":
            self.finished = True
            error = frame["error"]
            self.error = None if error is None else clean_text(error[:MAX_ERROR_CHARS])
        elif self.done:
            return  # a request left in the buffer by a process that has exited: nobody awaits the answer
        else:
            self.clock.pause()  # a run_sql may wait minutes for a person; that is not the snippet's time
            try:
                kind, payload = self.calls.serve(op, frame)
            finally:
                self.clock.resume()
            if kind == "result":
                reply = f'{{"id":{frame["id"]},"result":{payload}}}'.encode()
            else:
                reply = framing.encode({"id": frame["id"], "error": payload})[framing.HEADER.size:]
            self._send(sock, framing.HEADER.pack(len(reply)) + reply)

    def _send(self, sock: socket.socket, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                sent = 0
            except OSError:
                return  # the child is gone; the zygote's report will say how
            view = view[sent:]
            if view and not wait_writable(sock, self._time_left()):
                self._time_left()  # raises once the time is really up

    # --- the result ---------------------------------------------------------------------------

    def result(self) -> dict:
        error = self.error
        if not self.finished:
            error = STOPPED + (self.stop_reason or self._exit_reason())
        elif self.stop_reason:  # e.g. a protocol violation right after finishing
            error = STOPPED + self.stop_reason
        return {
            "output": self.output.text(),
            "error": error,
            "sql_statements": self.calls.sql_statements,
            "modified_artifacts": self.calls.modified_artifacts(),
        }

    def _exit_reason(self) -> str:
        if self.zygote_lost or not self.done:
            return "the sandbox process died unexpectedly"
        status = self.done.get("status")
        cpu = self.done.get("cpu") or 0.0
        if self.done.get("reason") == "tmp_files":
            return f"it created more than {self.config.tmp_files} files in /tmp"
        if status == -signal.SIGXCPU or (status == -signal.SIGKILL and cpu >= self.config.cpu_seconds):
            return f"it used more than {seconds(self.config.cpu_seconds)} of CPU time"
        if isinstance(status, int) and status < 0:
            try:
                name = signal.Signals(-status).name
            except ValueError:
                name = f"signal {-status}"
            return f"it crashed ({name})" if name != "SIGKILL" else "it was killed (SIGKILL)"
        return f"it exited with status {status} before finishing"


class _OutOfTime(Exception):
    pass


def seconds(amount: float) -> str:
    return f"{amount:g} second" + ("" if amount == 1 else "s")


def _validate(frame, expected_id: int) -> str:
    if not isinstance(frame, dict):
        raise ProtocolViolation("a frame is not an object")
    frame_id = frame.get("id")
    if type(frame_id) is not int or frame_id != expected_id:
        raise ProtocolViolation(f"expected frame {expected_id}, got {frame_id!r}")
    op = frame.get("op")
    spec = OPERATIONS.get(op) if isinstance(op, str) else None
    if spec is None:
        raise ProtocolViolation(f"unknown operation {op!r}")
    if set(frame) != {"id", "op", *spec}:
        raise ProtocolViolation(f"unexpected fields in a {op} frame")
    for name, types in spec.items():
        if not isinstance(frame[name], types):
            raise ProtocolViolation(f"field {name} of a {op} frame has the wrong type")
    return op
