"""Hostile snippets: each must be contained, and the worker and the next snippet must be fine.

The assertions check what the snippet could observe or achieve (it prints its findings), what the
worker reports, and that the pool keeps serving. Bubblewrap-specific views (the filesystem, the
network namespace) are checked when the pool runs in bubblewrap, as it does where it is installed.
"""

import os
import signal
import sys
import sysconfig
import threading
from pathlib import Path

import pytest
from django.conf import settings

from tests.executor.test_sandbox import StandInHost, assert_still_works, host_tmp_untouched, make_pool, needs_bwrap, run

# The sandbox's confinement: no app database or broker is involved, so one pass proves it.
pytestmark = pytest.mark.backend_independent

__all__ = ["host_tmp_untouched"]  # the autouse fixture applies to this module too

STOPPED = "the code was stopped: "


@pytest.fixture(scope="module")
def pool():
    pool = make_pool(first_uid=61100)
    yield pool
    pool.shutdown()


@pytest.fixture
def contained(pool):
    """Runs after the test body: the pool still serves and no zygote was lost or replaced."""
    before = {slot: zygote.process.pid for slot, zygote in pool._zygotes.items()}
    yield pool
    assert_still_works(pool)
    assert_still_works(pool)
    assert {slot: zygote.process.pid for slot, zygote in pool._zygotes.items()} == before


def findings(result: dict) -> list[str]:
    assert result["error"] is None, result["error"]
    return result["output"].splitlines()


# --- resource exhaustion ---------------------------------------------------------------------------


def test_fork_bomb(contained):
    result = run(contained, """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """, timeout=1.5)
    assert result["error"] == STOPPED + "it ran for more than 1.5 seconds"


def test_thread_bomb(contained):
    result = run(contained, """
        import threading, time
        started = 0
        while True:
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
            started += 1
            executor.print(started) if started % 10 == 0 else None
    """)
    assert result["error"].endswith("RuntimeError: can't start new thread\n")
    assert len(result["output"].splitlines()) < 4  # RLIMIT_NPROC of 32 stopped it early


def test_memory_bomb(contained):
    # Untouched allocations: the address-space limit, not page-filling speed, is what stops them.
    growing = run(contained, "import numpy as np\nblocks = []\nwhile True:\n    blocks.append(np.empty(2**28, 'u1'))")
    assert growing["error"].endswith("MemoryError: Unable to allocate 256. MiB for an array with shape (268435456,) "
                                     "and data type uint8\n")
    assert run(contained, "x = bytearray(3 * 1024**3)")["error"].endswith("MemoryError\n")


def test_infinite_loop(contained):
    assert run(contained, "while True:\n    pass", timeout=1)["error"] == STOPPED + "it ran for more than 1 second"


def test_cpu_spin_inside_c_code(contained):
    backtracking = run(contained, "import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')", timeout=1)
    assert backtracking["error"] == STOPPED + "it ran for more than 1 second"
    matrix = run(contained, "import numpy as np\na = np.ones((2500, 2500))\nwhile True:\n    a = a @ a", timeout=1)
    assert matrix["error"] == STOPPED + "it ran for more than 1 second"


def test_cpu_seconds_limit_even_when_sigxcpu_is_ignored(contained):
    result = run(contained, """
        import signal
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        while True:
            pass
    """, timeout=30)
    assert result["error"] == STOPPED + "it used more than 3 seconds of CPU time"


def test_huge_output(contained):
    result = run(contained, "import os\nos.write(1, b'raw' * 1000)\nwhile True:\n    print('y' * 1000)", timeout=1)
    assert result["error"] == STOPPED + "it ran for more than 1 second"
    assert result["output"].endswith("\n[output truncated: more than 20000 characters]\n")
    assert len(result["output"]) < 20_100 and "raw" not in result["output"]
    one_line = run(contained, "print('z' * 100_000_000)")
    assert one_line["error"] is None and len(one_line["output"]) < 20_100


def test_recursion_bomb(contained):
    shallow = run(contained, "def f(n):\n    return f(n + 1)\nf(0)")
    assert shallow["error"].endswith("RecursionError: maximum recursion depth exceeded\n")
    assert "Previous line repeated" in shallow["error"] and len(shallow["error"]) < 2000
    # json's C encoder recurses without Python frames; not repr(), whose cycle check scans every
    # enclosing list, so it spends seconds of CPU before the stack runs out and races the CPU limit.
    nested = "import json, sys\nsys.setrecursionlimit(10**8)\nx = []\nfor _ in range(10**6):\n    x = [x]\njson.dumps(x)"
    assert run(contained, nested)["error"] == STOPPED + "it crashed (SIGSEGV)"  # C stack overflow


# --- the filesystem ------------------------------------------------------------------------------------


def test_writing_outside_tmp_fails(contained):
    needs_bwrap(contained)
    result = run(contained, """
        import os, pandas
        targets = ["/escape", "/dev/escape", "/proc/sys/kernel/hostname", "/sandbox/escape",
                   pandas.__file__, os.__file__, "/usr/lib/escape"]
        for path in targets:
            try:
                with open(path, "a") as handle:
                    handle.write("x")
                executor.print("WROTE", path)
            except OSError as exc:
                executor.print("refused", type(exc).__name__)
        with open("/tmp/allowed", "w") as handle:
            executor.print("tmp ok", handle.write("fine"))
    """)
    lines = findings(result)
    assert not any(line.startswith("WROTE") for line in lines)
    assert len([line for line in lines if line.startswith("refused")]) == 7 and lines[-1] == "tmp ok 4"


def test_filling_tmp(contained):
    needs_bwrap(contained)
    big = run(contained, """
        chunk = b"x" * (1024 * 1024)
        written = 0
        try:
            for n in range(200):
                with open(f"/tmp/fill{n}", "wb") as handle:
                    for _ in range(10):
                        handle.write(chunk)
                        written += 1
        except OSError as exc:
            executor.print(type(exc).__name__, exc.errno, written)
    """)
    name, errno_text, megabytes = findings(big)[0].split()
    assert (name, errno_text) == ("OSError", "28") and 50 <= int(megabytes) <= 64  # ENOSPC at the 64 MB cap
    single = run(contained, "open('/tmp/one', 'wb').write(b'x' * 20 * 1024 * 1024)")
    assert "File too large" in single["error"]  # RLIMIT_FSIZE
    many = run(contained, "n = 0\nwhile True:\n    open(f'/tmp/f{n}', 'w').close()\n    n += 1")
    assert many["error"] == STOPPED + "it created more than 4096 files in /tmp"
    assert findings(run(contained, "import os\nexecutor.print(os.listdir('/tmp'))")) == ["[]"]


def test_reading_environment_and_other_processes_memory(contained):
    result = run(contained, """
        import os
        executor.print("env", dict(os.environ))
        parent = f"/proc/{os.getppid()}"
        for path in ["/proc/self/environ", "/proc/1/environ", f"{parent}/environ", f"{parent}/mem",
                     "/proc/1/mem", f"{parent}/maps"]:
            try:
                with open(path, "rb") as handle:
                    executor.print("READ", path, len(handle.read(100)))
            except OSError as exc:
                executor.print("refused", type(exc).__name__)
    """)
    lines = findings(result)
    assert lines[0] == "env {}"
    # Not dumpable: even its own /proc/self/environ is root's now (and the block is empty anyway).
    assert lines[1:] == ["refused PermissionError"] * 6


def interpreter_paths() -> list[str]:
    """Where this machine's Python is installed: the sandbox mounts that same interpreter."""
    base = {"base": sys.base_prefix, "installed_base": sys.base_prefix,
            "platbase": sys.base_exec_prefix, "installed_platbase": sys.base_exec_prefix}
    paths = [os.path.realpath(getattr(sys, "_base_executable", sys.executable)), sysconfig.get_paths(vars=base)["stdlib"]]
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        paths.append(sysconfig.get_config_var("LIBDIR"))
    return paths


def expected_view() -> tuple[list[str], list[str] | None]:
    """What the sandbox's / (and the interpreter's home folder, if it is under /root) should list on
    this host: its own /dev, /proc, /tmp and /sandbox, /usr, the host's /lib* and /bin where they are
    symlinks into /usr (merged /usr) or real library folders, and the interpreter's top folder."""
    tops = {"dev", "proc", "tmp", "sandbox", "usr"}
    tops |= {name for name in ("bin", "lib", "lib64", "lib32", "libx32") if os.path.islink(f"/{name}")}
    tops |= {name for name in ("lib", "lib64") if os.path.isdir(f"/{name}") and not os.path.islink(f"/{name}")}
    parts = [Path(path).parts for path in interpreter_paths()]
    tops |= {p[1] for p in parts}
    root_home = sorted({p[2] for p in parts if p[1] == "root" and len(p) > 2}) if "root" in tops else None
    return sorted(tops), root_home


def test_reading_settings_secrets_and_databases(contained):
    needs_bwrap(contained)
    project, var = Path(settings.BASE_DIR), Path(settings.VAR_DIR)
    secrets = [project / "config" / "settings.py", project / ".env", var / "querent.sqlite3", var / "secret_key",
               Path.home() / ".bash_history", "/etc/passwd", "/etc/hostname", "/var/run/postgresql/.s.PGSQL.5432"]
    result = run(contained, f"""
        import os
        for path in {[str(path) for path in secrets]!r}:
            executor.print(os.path.exists(path))
        executor.print(sorted(os.listdir("/")))
        executor.print(os.listdir("/root") if os.path.isdir("/root") else None)
        executor.print(os.path.exists({str(project)!r}))
    """)
    lines = findings(result)
    assert lines[:8] == ["False"] * 8
    tops, root_home = expected_view()
    assert lines[8:] == [str(tops), str(root_home), "False"]


# --- network ---------------------------------------------------------------------------------------------


def test_sockets_and_dns(contained):
    result = run(contained, """
        import socket
        attempts = {
            "tcp postgres": lambda: socket.create_connection(("127.0.0.1", 5432), timeout=1),
            "udp": lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53)),
            "unix": lambda: socket.socket(socket.AF_UNIX).connect("/var/run/postgresql/.s.PGSQL.5432"),
            "dns": lambda: socket.getaddrinfo("example.com", 443),
            "raw": lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW),
        }
        for name, attempt in attempts.items():
            try:
                attempt()
                executor.print("CONNECTED", name)
            except OSError as exc:
                executor.print("refused", name)
    """)
    assert findings(result) == ["refused tcp postgres", "refused udp", "refused unix", "refused dns", "refused raw"]


# --- processes, privileges, the kernel -----------------------------------------------------------------


def test_subprocess_and_os_system(contained):
    result = run(contained, """
        import os, subprocess, sys
        executor.print("system", os.system("id > /tmp/id"))
        for argv in (["/bin/sh", "-c", "id"], ["/usr/bin/env"], [sys.executable, "-c", "print(1)"]):
            try:
                subprocess.run(argv, timeout=5)
                executor.print("RAN", argv[0])
            except OSError as exc:
                executor.print("refused", type(exc).__name__)
        executor.print(os.path.exists("/tmp/id"))
    """)
    lines = findings(result)
    assert lines[0] != "system 0" and lines[-1] == "False"
    assert not any(line.startswith("RAN") for line in lines)


def test_ctypes_calls_into_the_kernel(contained):
    result = run(contained, """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
        checks = {
            "unshare user": lambda: libc.unshare(CLONE_NEWUSER),
            "unshare net": lambda: libc.unshare(CLONE_NEWNET),
            "ptrace parent": lambda: libc.ptrace(16, 1, 0, 0),
            "setuid root": lambda: libc.setuid(0),
            "mount": lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None),
            "chroot": lambda: libc.chroot(b"/tmp"),
            "bpf": lambda: libc.syscall(321, 0, 0, 0),
            "io_uring": lambda: libc.syscall(425, 8, 0),
        }
        for name, check in checks.items():
            executor.print(name, check())
        ctypes.string_at(0)
    """)
    assert result["error"] == STOPPED + "it crashed (SIGSEGV)"
    assert all(line.endswith(" -1") for line in result["output"].splitlines()), result["output"]
    assert len(result["output"].splitlines()) == 8


def test_python_level_privilege_changes(contained):
    result = run(contained, """
        import os, resource
        for attempt in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.setgroups([0]),
                        lambda: resource.setrlimit(resource.RLIMIT_NPROC, (10_000, 10_000)),
                        lambda: resource.prlimit(1, resource.RLIMIT_AS, (1, 1)),
                        lambda: os.chroot("/tmp")):
            try:
                attempt()
                executor.print("CHANGED")
            except (OSError, ValueError) as exc:
                executor.print("refused")
        executor.print(os.getuid() >= 60000, os.getgid() >= 60000, os.getgroups())
    """)
    assert findings(result) == ["refused"] * 6 + ["True True []"]


def test_killing_the_parent_the_zygote_and_everything(contained):
    result = run(contained, """
        import os, signal
        me = os.getpid()
        targets = [os.getppid(), 1] + [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
        for pid in sorted(set(targets)):
            for sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM):
                try:
                    os.kill(pid, sig)
                    executor.print("SIGNALLED", pid, sig)
                except OSError:
                    pass
        os.kill(-1, signal.SIGKILL)
        executor.print("alive", os.getppid())
    """)
    lines = findings(result)
    assert not any(line.startswith("SIGNALLED") for line in lines)
    assert lines[-1].startswith("alive")


def test_a_dead_zygote_is_replaced_by_the_pool():
    """Snippets cannot signal the zygote (above); if it dies anyway (a crash, the OOM killer), the pool recovers."""
    pool = make_pool(pool_size=1, first_uid=61200)
    try:
        first = pool._zygotes[0]
        threading.Timer(0.5, os.kill, (first.process.pid, signal.SIGKILL)).start()
        result = run(pool, "import time\nexecutor.print('started')\ntime.sleep(30)")
        assert result == {"output": "started\n", "error": STOPPED + "the sandbox process died unexpectedly",
                          "sql_statements": [], "modified_artifacts": []}
        assert_still_works(pool)
        second = pool._zygotes[0]
        assert second is not first
        os.kill(second.process.pid, signal.SIGKILL)  # now while idle: the next borrower notices
        second.process.wait()
        assert_still_works(pool)
        assert pool._zygotes[0] is not second
    finally:
        pool.shutdown()


def test_signal_tricks(contained):
    ignored = run(contained, """
        import signal
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGXCPU):
            signal.signal(sig, signal.SIG_IGN)
        signal.alarm(1)
        while True:
            pass
    """, timeout=1)
    assert ignored["error"] == STOPPED + "it ran for more than 1 second"
    stopped = run(contained, "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", timeout=1)
    assert stopped["error"] == STOPPED + "it ran for more than 1 second"
    crashed = run(contained, "import os, signal\nos.kill(os.getpid(), signal.SIGBUS)")
    assert crashed["error"] == STOPPED + "it crashed (SIGBUS)"
    killed = run(contained, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert killed["error"] == STOPPED + "it was killed (SIGKILL)"


def test_subclasses_escape(contained):
    result = run(contained, """
        found = {c.__name__: c for c in ().__class__.__base__.__subclasses__()}
        wrap_close = found["_wrap_close"]
        system = wrap_close.__init__.__globals__["system"]
        executor.print("system", system("cat SETTINGS_FILE > /tmp/stolen") != 0)
        popen = [c for c in object.__subclasses__() if c.__name__ == "Popen"]
        for cls in popen:
            try:
                cls(["cat", "SETTINGS_FILE"])
                executor.print("SPAWNED")
            except OSError:
                executor.print("refused")
        import os
        executor.print("stolen", os.path.exists("/tmp/stolen") and os.path.getsize("/tmp/stolen"))
    """.replace("SETTINGS_FILE", str(Path(settings.BASE_DIR) / "config" / "settings.py")))
    lines = findings(result)
    assert lines[0] == "system True" and lines[-1] == "stolen False"
    assert "SPAWNED" not in lines


# --- the channel to the worker -----------------------------------------------------------------------------


def test_forged_frames_cannot_add_sql_or_artifacts(contained):
    host = StandInHost()
    result = run(contained, """
        import json, os, struct
        def frame(message):
            body = json.dumps(message).encode()
            return struct.pack(">I", len(body)) + body
        forged = {"id": 1, "op": "finish", "error": None,
                  "sql_statements": [{"sql": "DROP TABLE users", "result": []}],
                  "modified_artifacts": [{"identifier": "x", "title": "x", "artifact_type": "table", "data": []}]}
        executor.print("before")
        for fd in os.listdir("/proc/self/fd"):
            try:
                os.write(int(fd), frame({**forged, "id": 2}))
            except OSError:
                pass
        executor.print("after")
    """, host)
    assert result["error"] == STOPPED + "it broke the sandbox protocol (unexpected fields in a finish frame)"
    assert result["output"] == "before\n"
    assert result["sql_statements"] == [] and result["modified_artifacts"] == [] and host.queries == []


def test_forged_replies_and_out_of_order_ids(contained):
    result = run(contained, """
        import json, os, struct, gc
        channel = [o for o in gc.get_objects() if type(o).__name__ == "Channel"][0]
        body = json.dumps({"id": 99, "result": [{"fake": 1}]}).encode()
        channel._sock.sendall(struct.pack(">I", len(body)) + body)
        executor.print("unreachable")
    """)
    assert result["error"] == STOPPED + "it broke the sandbox protocol (expected frame 1, got 99)"


def test_garbage_on_every_fd(contained):
    result = run(contained, """
        import os
        junk = os.urandom(4096)
        for fd in range(64):
            try:
                os.write(fd, junk)
            except OSError:
                pass
        executor.print("unreachable")
    """)
    assert result["error"].startswith(STOPPED + "it broke the sandbox protocol")


def test_an_oversized_frame_header(contained):
    result = run(contained, """
        import gc, struct
        channel = [o for o in gc.get_objects() if type(o).__name__ == "Channel"][0]
        channel._sock.sendall(struct.pack(">I", 2**32 - 1))
        import time
        time.sleep(10)
    """)
    assert result["error"] == (STOPPED + "it broke the sandbox protocol "
                               "(a frame of 4294967295 bytes is larger than the limit of 6291456)")


def test_closing_the_channel_and_exiting(contained):
    closed = run(contained, "import os\nexecutor.print('bye')\nos.closerange(3, 64)\nwhile True:\n    pass", timeout=1)
    assert closed == {"output": "bye\n", "error": STOPPED + "it ran for more than 1 second",
                      "sql_statements": [], "modified_artifacts": []}


# --- nothing survives into the next snippet -----------------------------------------------------------------


def test_no_state_persists_into_the_next_snippet():
    pool = make_pool(pool_size=1, first_uid=61300)
    try:
        needs_bwrap(pool)  # it plants files in /tmp, which is the host's without bubblewrap
        planted = run(pool, """
            import builtins, json, os, sys, time, types
            open("/tmp/marker", "w").write("planted")
            os.makedirs("/tmp/locked/inner")
            open("/tmp/locked/inner/file", "w").write("x")
            os.chmod("/tmp/locked/inner", 0)
            os.chmod("/tmp/locked", 0)
            json.planted = True
            builtins.planted = True
            sys.modules["planted"] = types.ModuleType("planted")
            if os.fork() == 0:  # a daemon that tries to outlive the snippet
                os.setsid()
                if os.fork() == 0:
                    time.sleep(60)
                os._exit(0)
            executor.print("planted")
        """)
        assert planted["output"] == "planted\n"
        result = run(pool, """
            import builtins, json, os, sys
            others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, 2, os.getpid())]
            executor.print(os.listdir("/tmp"), hasattr(json, "planted"), hasattr(builtins, "planted"),
                           "planted" in sys.modules, others)
        """)
        assert findings(result) == ["[] False False False []"]
    finally:
        pool.shutdown()


def test_unbounded_run_sql_loop(contained):
    result = run(contained, "while True:\n    executor.run_sql('SELECT 1')")
    assert "more than 50 times" in result["error"]
    assert len(result["sql_statements"]) == 50


def test_snippet_code_is_parsed_only_inside_the_sandbox(contained):
    # A snippet that breaks the parser or compiler must fail in the sandbox, not in the worker.
    result = run(contained, "x = " + "(" * 200_000)
    assert result["error"] and ("SyntaxError" in result["error"] or "MemoryError" in result["error"]
                                or "RecursionError" in result["error"] or result["error"].startswith(STOPPED))
