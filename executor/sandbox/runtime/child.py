"""One snippet's process: confine it, run the code, report back.

Runs in a process forked from the zygote ahead of time (a "spare"): it confines itself, then waits
for the zygote to pass it a snippet's channel. So no snippet code ever runs with more than the final
privileges, and the fork and confinement cost is paid between snippets, not while one waits.
The worker trusts nothing this process says except as a request to serve: results, SQL history
and artifacts are built on the worker's side.
"""

import ast
import asyncio
import builtins
import ctypes
import datetime
import decimal
import inspect
import io
import linecache
import math
import os
import resource
import select
import signal
import socket
import sys
import tempfile
import threading
import traceback

import framing

SNIPPET_FILENAME = "<string>"  # tracebacks keep only frames from this file
CONTROL_FD = 3  # the socket the zygote passes the snippet's channel over
PR_SET_DUMPABLE = 4
AWAIT_HELPER = "__await_any__"
_LIBC = ctypes.CDLL(None, use_errno=True)  # opened once in the zygote: a dlopen per child costs page faults
MAX_ERROR_CHARS = 20_000
MAX_DATA_DEPTH = 100


class ToolError(Exception):
    """Raised inside the snippet when the worker refuses or fails an executor call."""


ToolError.__module__ = "builtins"  # tracebacks then say "ToolError: ...", not an internal module path


# --- confinement ---------------------------------------------------------------------------


def confine(control_fd: int, config: dict, seccomp) -> None:
    os.setsid()  # own session: no terminal, and not in the zygote's process group
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # raw fd writes go nowhere; print() goes through the channel
    if control_fd != CONTROL_FD:
        os.dup2(control_fd, CONTROL_FD, inheritable=False)
    os.closerange(CONTROL_FD + 1, os.sysconf("SC_OPEN_MAX"))  # the zygote's own sockets among them
    if os.getuid() == 0:
        uid, gid = config["uid"], config["gid"]
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if 0 in os.getresuid() or 0 in os.getresgid():
            raise RuntimeError("could not leave uid 0")
    _LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no ptrace, no /proc/<pid>/mem, no core
    _set_limits(config["limits"])
    os.chdir(config["tmp_dir"])
    tempfile.tempdir = config["tmp_dir"]
    if seccomp is not None:
        seccomp.load()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _reseed_numpy()


def _set_limits(limits: dict) -> None:
    cpu = int(limits["cpu_seconds"])
    pairs = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),  # SIGXCPU first, SIGKILL a second later if it is ignored
        resource.RLIMIT_AS: (limits["memory_bytes"],) * 2,
        resource.RLIMIT_FSIZE: (limits["file_bytes"],) * 2,
        resource.RLIMIT_NOFILE: (limits["open_files"],) * 2,
        resource.RLIMIT_NPROC: (limits["processes"],) * 2,
        resource.RLIMIT_STACK: (limits["stack_bytes"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_MSGQUEUE: (0, 0),
    }
    for which, pair in pairs.items():
        resource.setrlimit(which, pair)


def _reseed_numpy() -> None:
    # Every child inherits the zygote's random state; reseed so snippets do not all draw the same numbers.
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


# --- the channel and the executor object ----------------------------------------------------


class Channel:
    """Numbered frames to the worker; each request waits for the reply with its number."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._reader = framing.FrameReader(max_size=1 << 31)  # the worker is the trusted side
        self._next_id = 1
        self._lock = threading.Lock()  # snippet threads may call the executor concurrently

    def receive(self):
        return framing.read_blocking(self._sock, self._reader)

    def send(self, op: str, **fields) -> None:
        with self._lock:
            self._sock.sendall(framing.encode({"id": self._take_id(), "op": op, **fields}))

    def call(self, op: str, **fields):
        with self._lock:
            frame_id = self._take_id()
            self._sock.sendall(framing.encode({"id": frame_id, "op": op, **fields}))
            reply = framing.read_blocking(self._sock, self._reader)
        if not isinstance(reply, dict) or reply.get("id") != frame_id:
            raise ToolError("the sandbox channel is out of step")
        if "error" in reply:
            raise ToolError(reply["error"])
        return reply.get("result")

    def _take_id(self) -> int:
        frame_id = self._next_id
        self._next_id += 1
        return frame_id


class SnippetOutput(io.TextIOBase):
    """sys.stdout and sys.stderr of the snippet: text goes to the worker in order with the calls."""

    def __init__(self, channel: Channel, limit: int):
        self._channel = channel
        self._budget = limit  # the worker enforces the cap too; this just stops sending early
        self._pending: list[str] = []
        self._pending_size = 0

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return "utf-8"

    def write(self, text) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._budget > 0 and text:
            piece = text[:self._budget]
            self._budget -= len(piece)
            self._pending.append(piece)
            self._pending_size += len(piece)
            # Flush per line so output printed before a crash or a timeout still reaches the worker.
            if "\n" in piece or self._pending_size >= 8192 or self._budget <= 0:
                self.flush()
        return len(text)

    def flush(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            self._channel.send("output", text=text)


class Executor:
    """The `executor` object a snippet sees. Every method is a request the worker serves."""

    def __init__(self, channel: Channel, output: SnippetOutput):
        self._channel = channel
        self._output = output

    def run_sql(self, sql):
        if not isinstance(sql, str):
            raise TypeError(f"run_sql() expects the SQL as a string, got {type(sql).__name__}")
        return self._call("run_sql", sql=sql)

    def store_artifact(self, identifier, title, artifact_type, data):
        for name, value in (("identifier", identifier), ("title", title), ("artifact_type", artifact_type)):
            if not isinstance(value, str):
                raise TypeError(f"store_artifact() expects {name} as a string, got {type(value).__name__}")
        try:
            payload = to_json_safe(data)
        except TypeError as exc:
            raise TypeError(f"store_artifact() data is not JSON-serializable: {exc}") from None
        self._call("store_artifact", identifier=identifier, title=title, artifact_type=artifact_type, data=payload)

    def get_artifact(self, identifier):
        if not isinstance(identifier, str):
            raise TypeError(f"get_artifact() expects the identifier as a string, got {type(identifier).__name__}")
        return self._call("get_artifact", identifier=identifier)

    def print(self, *args, sep=" ", end="\n"):
        builtins.print(*args, sep=sep, end=end, file=self._output)

    def _call(self, op: str, **fields):
        self._output.flush()  # keeps printed lines before the summary line the call adds
        return self._channel.call(op, **fields)

    def __repr__(self) -> str:
        return "<executor>"


def to_json_safe(value, depth: int = 0):
    """Plain JSON values from what analysis code usually holds (numpy, pandas, dates, NaN)."""
    if depth > MAX_DATA_DEPTH:
        raise TypeError(f"data is nested more than {MAX_DATA_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN and infinity are not JSON
    if isinstance(value, dict):
        return {_json_key(k): to_json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_safe(v, depth + 1) for v in value]
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        if value is pandas.NaT or value is pandas.NA:
            return None
        if isinstance(value, pandas.DataFrame):
            return to_json_safe(value.to_dict(orient="records"), depth + 1)
        if isinstance(value, (pandas.Series, pandas.Index)):
            return to_json_safe(value.tolist(), depth + 1)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return to_json_safe(value.tolist(), depth + 1)
        if isinstance(value, numpy.generic):
            return to_json_safe(value.item(), depth + 1)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return to_json_safe(float(value), depth + 1)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


def _json_key(key) -> str:
    return key if isinstance(key, str) else str(to_json_safe(key))


# --- running the snippet --------------------------------------------------------------------


class _Ready:
    """An awaitable that is already done: lets `await` work on plain values."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    def __await__(self):
        return self._value
        yield  # makes this a generator, as __await__ must return an iterator


def _awaitable(value):
    return value if inspect.isawaitable(value) else _Ready(value)


class _AwaitAnything(ast.NodeTransformer):
    """`await x` becomes `await __await_any__(x)`, so awaiting an executor call's plain result works."""

    def visit_Await(self, node: ast.Await) -> ast.Await:
        self.generic_visit(node)
        helper = ast.copy_location(ast.Name(id=AWAIT_HELPER, ctx=ast.Load()), node.value)
        node.value = ast.copy_location(ast.Call(func=helper, args=[node.value], keywords=[]), node.value)
        return node


def run_snippet(code: str, executor: Executor) -> str | None:
    """Run the code; return None on success or the traceback text the model will read."""
    linecache.cache[SNIPPET_FILENAME] = (len(code), None, code.splitlines(True), SNIPPET_FILENAME)
    namespace = {"__name__": "__main__", "__builtins__": builtins, "executor": executor, AWAIT_HELPER: _awaitable}
    try:
        tree = _AwaitAnything().visit(ast.parse(code, SNIPPET_FILENAME, "exec"))
        compiled = compile(tree, SNIPPET_FILENAME, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        if compiled.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(compiled, namespace))
        else:
            exec(compiled, namespace)
    except SystemExit as exc:
        return None if exc.code in (None, 0) else format_user_traceback(exc)
    except BaseException as exc:  # noqa: BLE001 - everything the snippet raises is the model's to read
        return format_user_traceback(exc)
    return None


def format_user_traceback(exc: BaseException) -> str:
    report = traceback.TracebackException.from_exception(exc)
    _keep_snippet_frames(report, set())
    text = "".join(report.format())
    if len(text) > MAX_ERROR_CHARS:
        half = MAX_ERROR_CHARS // 2
        text = text[:half] + "\n[... traceback shortened ...]\n" + text[-half:]
    return text


def _keep_snippet_frames(report: traceback.TracebackException, seen: set) -> None:
    if id(report) in seen:
        return
    seen.add(id(report))
    report.stack = traceback.StackSummary.from_list([f for f in report.stack if f.filename == SNIPPET_FILENAME])
    for name in ("__cause__", "__context__"):
        linked = getattr(report, name)
        if linked is not None and not any(f.filename == SNIPPET_FILENAME for f in linked.stack):
            setattr(report, name, None)  # raised and handled inside a library: not the model's business
        elif linked is not None:
            _keep_snippet_frames(linked, seen)
    for member in getattr(report, "exceptions", None) or ():
        _keep_snippet_frames(member, seen)


# Throwaway work for a spare that is waiting anyway, cheapest and most common first. After fork every
# page is shared with the zygote, and the first write to one (a reference count is enough) costs a
# page fault and a copy; taking those faults while idle takes milliseconds off the next snippet.
WARM_UP_IDLE_SECONDS = 0.05
WARM_UP_STEPS = (
    "text = f'{1 + 1} rows'",
    "import pandas as pd\nframe = pd.DataFrame({'key': ['a', 'b', 'a'], 'value': [1, 2, 3]})",
    "import pandas as pd\npd.DataFrame({'k': [1, 2, 1], 'v': [1, 2, 3]}).groupby('k')['v'].sum().reset_index()",
    "import pandas as pd\nstr(pd.DataFrame({'k': [1, 2], 'v': [1.5, 2.5]}).head(2)); str(pd.Series([1, 2]))",
)


def _warm_up_until_needed(control: socket.socket) -> None:
    """Run the warm-up steps, stopping as soon as a snippet arrives.

    Only the first, cheap step runs at once. The rest wait until the zygote has been idle for a
    moment: when snippets arrive back to back, the CPU is better spent on them.
    """
    sink = Channel(_NullSocket())
    executor = Executor(sink, SnippetOutput(sink, 1 << 20))
    for number, step in enumerate(WARM_UP_STEPS):
        if select.select([control], [], [], 0 if number == 0 else WARM_UP_IDLE_SECONDS)[0]:
            return
        run_snippet(step, executor)
        executor.print(step[:10])


class _NullSocket:
    def sendall(self, data) -> None:
        pass


def main(control_fd: int, config: dict, seccomp) -> None:
    """Entry point of a spare child; never returns."""
    status = 0
    try:
        confine(control_fd, config, seccomp)
        control = socket.socket(fileno=CONTROL_FD)
        _warm_up_until_needed(control)
        _, fds, _, _ = socket.recv_fds(control, 64, 1)
        control.close()
        if len(fds) != 1:
            os._exit(0)  # the zygote is stopping: there will be no snippet
        channel = Channel(socket.socket(fileno=fds[0]))
        start = channel.receive()
        # One character past the cap tells the worker the output was cut.
        output = SnippetOutput(channel, int(start["output_limit"]) + 1)
        sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = output
        sys.stdin = sys.__stdin__ = io.StringIO()
        sys.argv = [""]
        error = run_snippet(start["code"], Executor(channel, output))
        try:
            output.flush()
        except OSError:
            pass
        channel.send("finish", error=error)
    except BaseException:  # noqa: BLE001 - the worker reports "exited before finishing"
        status = 71
    os._exit(status)
