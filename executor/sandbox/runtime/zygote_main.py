"""The zygote: a warm interpreter (pandas and numpy imported) that forks a fresh child per snippet.

It serves one snippet at a time, so every process of its sandbox uid belongs to the current snippet
(or, between snippets, is the one spare child waiting for the next) and cleaning up is exact: kill
every other process, wipe /tmp, report to the worker, fork the next spare. Control messages are JSON
over a SOCK_SEQPACKET socket; the snippet's channel arrives as a passed fd and only the child keeps it.
"""

import ctypes
import gc
import json
import os
import select
import shutil
import signal
import socket
import stat
import sys
import time

import child
import seccomp_filter

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
CLEANUP_SECONDS = 5.0
SMALL_PAGE, HUGE_PAGE = 4096, 2 * 1024 * 1024
MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25
TMP_CHECK_SECONDS = 0.05

# Imported before forking so snippets get them for free, and so a fallback sandbox whose uid
# cannot read the interpreter's files still has the common ones.
PRELOAD = (
    "ast", "asyncio", "base64", "bisect", "calendar", "collections", "copy", "csv", "dataclasses",
    "datetime", "decimal", "encodings.idna", "enum", "fractions", "functools", "hashlib", "heapq", "inspect", "io",
    "itertools", "json", "math", "operator", "pprint", "random", "re", "statistics", "string",
    "textwrap", "traceback", "typing", "uuid", "zoneinfo",
)
# One BLAS thread: the zygote must be single-threaded to fork safely, and snippets are small.
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def main(ctl: socket.socket, config: dict) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of a snippet come back here to be killed
    # Python's SIGINT handler would let a same-uid snippet interrupt the zygote; the default action cannot.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    keep = ctl.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    if config.get("site_dir"):
        sys.path.append(config["site_dir"])
    _preload()
    seccomp, problem = _build_seccomp()
    gc.collect()
    gc.freeze()  # keeps the children's copy-on-write pages shared
    huge_pages = _heap_into_huge_pages(libc)
    _send(ctl, {"event": "ready", "pid": os.getpid(), "uid": os.getuid(), "seccomp": seccomp is not None,
                "seccomp_problem": problem, "huge_pages_mb": huge_pages})
    Zygote(ctl, config, seccomp).serve()


def _preload() -> None:
    for name in THREAD_ENV:
        os.environ[name] = "1"
    import numpy
    import pandas

    for name in PRELOAD:
        __import__(name)
    frame = pandas.DataFrame({"key": ["a", "b", "a"], "value": [1.0, 2.0, 3.0]})
    frame.groupby("key")["value"].agg(["sum", "mean"]).reset_index().to_string()  # fills pandas' lazy caches
    numpy.arange(10).reshape(2, 5).sum(axis=0)
    child.run_snippet("pass", None)
    os.environ.clear()  # snippets start with an empty environment


def _heap_into_huge_pages(libc) -> int:
    """Move the warm heap onto 2 MB pages; returns how many MB moved.

    Every fork copies one page-table entry per 4 KB page of private memory and every child's exit
    frees them again: on a 50 MB heap that is most of a trivial snippet's cost (on virtual machines
    especially). A 2 MB page is one entry. A child's first write to one splits only its own mapping,
    and the handful the zygote itself keeps writing to are split and stay split. Only mostly-resident
    ranges are collapsed, so untouched reservations (BLAS buffers) do not become resident memory.
    The launcher sets PYTHONMALLOC=malloc so that objects live in one contiguous heap instead of
    1 MB arenas, which are too small to hold a 2 MB page. Best effort: kernels before 6.1 or with
    transparent huge pages disabled refuse, and everything works as before.
    """
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    resident = ctypes.create_string_buffer(HUGE_PAGE // SMALL_PAGE)
    collapsed = 0
    try:
        with open("/proc/self/maps") as maps:
            regions = maps.read().splitlines()
    except OSError:
        return 0
    for line in regions:
        fields = line.split()
        if fields[1][:2] != "rw" or fields[1][3] != "p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue  # private, writable, anonymous memory only
        start, end = (int(value, 16) for value in fields[0].split("-"))
        first, last = -(-start // HUGE_PAGE) * HUGE_PAGE, end // HUGE_PAGE * HUGE_PAGE
        for address in range(first, last, HUGE_PAGE):
            if libc.mincore(address, HUGE_PAGE, resident) != 0:
                continue
            if sum(byte & 1 for byte in resident.raw) < len(resident.raw) // 2:
                continue
            # MADV_HUGEPAGE too, so the kernel's background collapsing may repair split pages later.
            libc.madvise(address, HUGE_PAGE, MADV_HUGEPAGE)
            if libc.madvise(address, HUGE_PAGE, MADV_COLLAPSE) == 0:
                collapsed += 1
    return collapsed * HUGE_PAGE // (1024 * 1024)


def _build_seccomp():
    try:
        # init, the zygote and its parent (the worker itself when there is no pid namespace)
        protected = tuple(sorted({1, os.getpid(), os.getppid()}))
        seccomp = seccomp_filter.SeccompFilter(protected_pids=protected)
    except Exception as exc:  # noqa: BLE001 - reported to the worker, which warns
        return None, f"{type(exc).__name__}: {exc}"
    probe = os.fork()
    if probe == 0:  # prove a child can load it before relying on it
        try:
            seccomp.load()
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(probe, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None, "the kernel refused the filter"
    return seccomp, None


def _send(ctl: socket.socket, message: dict) -> None:
    try:
        ctl.send(json.dumps(message).encode())
    except OSError:  # the worker closed the control socket: it is stopping this zygote
        os._exit(0)


class Spare:
    """A child forked and confined ahead of time, waiting for a snippet's channel.

    Forking and confining take milliseconds on a large interpreter; done between snippets, they
    are off the path a waiting user sees.
    """

    def __init__(self, config: dict, seccomp):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = os.fork()
        if self.pid == 0:
            try:
                ours.close()
                child.main(theirs.fileno(), config, seccomp)
            finally:
                os._exit(70)
        theirs.close()
        self.sock = ours

    def hand_over(self, channel_fd: int) -> bool:
        try:
            socket.send_fds(self.sock, [b"run"], [channel_fd])
            return True
        except OSError:  # it died while waiting (killed from outside, out of memory)
            return False
        finally:
            self.sock.close()


class Zygote:
    def __init__(self, ctl: socket.socket, config: dict, seccomp):
        self.ctl = ctl
        self.config = config
        self.seccomp = seccomp

    def serve(self) -> None:
        spare = Spare(self.config, self.seccomp)
        while True:
            message, fds = self._receive()
            if message is None or message.get("op") == "exit":
                return
            if message.get("op") == "run" and len(fds) == 1:
                self._run(message, fds[0], spare)
                # Forked after the clean-up, so it never coexists with the previous snippet's processes.
                spare = Spare(self.config, self.seccomp)
            else:  # a late "kill" for a snippet that already ended
                for fd in fds:
                    os.close(fd)

    def _receive(self):
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.ctl, 65536, 4)
        except OSError:
            return None, []
        if not data:
            return None, fds
        return json.loads(data), fds

    def _run(self, message: dict, channel_fd: int, spare: Spare) -> None:
        run_id = message["run"]
        if not spare.hand_over(channel_fd):
            self._kill_descendants()
            spare = Spare(self.config, self.seccomp)
            spare.hand_over(channel_fd)
        os.close(channel_fd)
        status, cpu, reason = self._watch(spare.pid, run_id)
        healthy = self._clean_up()
        _send(self.ctl, {"event": "done", "run": run_id, "status": status, "cpu": cpu, "reason": reason,
                         "healthy": healthy})

    def _watch(self, pid: int, run_id):
        """Wait for the child to exit, killing it when the worker asks or /tmp fills with files."""
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(self.ctl, select.POLLIN)
        watch_tmp = self.config.get("max_tmp_files") and self.config.get("private_tmp")
        reason = None
        try:
            while True:
                events = poller.poll(TMP_CHECK_SECONDS * 1000 if watch_tmp else None)
                for fd, _event in events:
                    if fd == pidfd:
                        _, status, usage = os.wait4(pid, 0)
                        return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, reason
                    message, fds = self._receive()
                    for extra in fds:
                        os.close(extra)
                    if message is None:  # the worker is gone: nobody will read a result
                        os.kill(pid, signal.SIGKILL)
                        self._clean_up()
                        os._exit(0)
                    if message.get("op") == "kill" and message.get("run") == run_id:
                        os.kill(pid, signal.SIGKILL)
                if watch_tmp and reason is None and self._tmp_files() > self.config["max_tmp_files"]:
                    reason = "tmp_files"  # tmpfs caps bytes, not inodes; inodes are kernel memory
                    os.kill(pid, signal.SIGKILL)
        finally:
            os.close(pidfd)

    def _tmp_files(self) -> int:
        info = os.statvfs(self.config["tmp_dir"])
        return info.f_files - info.f_ffree

    def _clean_up(self) -> bool:
        killed = self._kill_descendants()
        wiped = self._wipe_tmp()
        return killed and wiped

    def _kill_descendants(self) -> bool:
        """Kill and reap every process the snippet left (orphans are reparented here to be reaped)."""
        deadline = time.monotonic() + CLEANUP_SECONDS
        while time.monotonic() < deadline:
            try:
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            except ChildProcessError:
                return True  # no children means no descendants: orphans always come back here first
            self._signal_everything()
            time.sleep(0.001)
        return False

    def _signal_everything(self) -> None:
        if self.config.get("own_pid_namespace"):
            # Only the snippet's processes share this pid namespace with us (and init, which is spared),
            # so one kill(-1) stops a fork bomb at once instead of chasing it generation by generation.
            _kill_all_visible()
        elif os.getuid() == 0:
            # No pid namespace, but the snippet's uid is dedicated to this zygote: kill(-1) as that uid.
            self._as_snippet_user(_kill_all_visible)
        else:  # sharing the worker's uid: only our own descendants may be touched
            for pid in _children():
                try:
                    os.kill(pid, signal.SIGKILL)  # our own unreaped child: its pid cannot be reused yet
                except ProcessLookupError:
                    pass

    def _wipe_tmp(self) -> bool:
        tmp_dir = self.config["tmp_dir"]
        if not os.listdir(tmp_dir):
            return True
        if os.getuid() != 0:
            _remove_contents(tmp_dir)
        else:  # root here lacks CAP_DAC_OVERRIDE: the snippet's uid removes what the snippet made
            os.waitpid(self._as_snippet_user(lambda: _remove_contents(tmp_dir)), 0)
        return not os.listdir(tmp_dir)

    def _as_snippet_user(self, action) -> int:
        """Run `action` in a forked helper with the snippet's uid and gid; returns the helper's pid."""
        helper = os.fork()
        if helper == 0:
            try:
                uid, gid = self.config["uid"], self.config["gid"]
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                action()
            finally:
                os._exit(0)
        return helper


def _kill_all_visible() -> None:
    try:
        os.kill(-1, signal.SIGKILL)  # every process we may signal except ourselves and init
    except ProcessLookupError:
        pass


def _children() -> list[int]:
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:  # kernels without CONFIG_PROC_CHILDREN: scan every process's parent
        return [pid for pid in _all_pids() if _parent_of(pid) == me]


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _remove_contents(path: str) -> None:
    def make_writable_and_retry(function, failed_path, _exc_info):
        parent = os.path.dirname(failed_path)
        for target in (parent, failed_path):
            try:
                if stat.S_ISDIR(os.lstat(target).st_mode):
                    os.chmod(target, 0o700)
            except OSError:
                pass
        try:
            function(failed_path)
        except OSError:
            pass

    for entry in os.listdir(path):
        full = os.path.join(path, entry)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                os.chmod(full, 0o700)
                shutil.rmtree(full, onerror=make_writable_and_retry)
            else:
                os.unlink(full)
        except (OSError, RecursionError):  # what is left makes the zygote unhealthy, so it is replaced
            pass
