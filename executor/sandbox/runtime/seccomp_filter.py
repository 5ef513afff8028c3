"""A seccomp filter for snippet processes, built with libseccomp through ctypes.

Default allow plus a deny list: pandas and numpy use a wide, version-dependent set of system calls,
so an allow list would break them in ways tests cannot foresee, while the deny list names the calls
that matter for escaping or attacking the host. Namespaces, mounts and the filesystem view are
already constrained by bubblewrap; this filter removes what an unprivileged process could still do:
exec, ptrace, new sockets, nested namespaces, kernel interfaces with a history of bugs, and state
that would outlive the snippet (SysV IPC, message queues, keyrings).
"""

import ctypes
import errno
import os

ACT_ALLOW = 0x7FFF0000
CMP_NE = 1
CMP_EQ = 4
CMP_MASKED_EQ = 7
PID_MASK = 0xFFFFFFFF  # pid_t is 32 bits; the upper half of the register is not guaranteed

NAMESPACE_CLONE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)

DENIED_SYSCALLS = (
    # running other programs and reaching into other processes
    "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    # new namespaces or a different filesystem view
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "name_to_handle_at", "open_by_handle_at",
    # network: the snippet's only channel is the socket it inherits (socketpair stays for asyncio)
    "socket",
    # state that would survive into the next snippet of the same uid
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl",
    "semget", "semop", "semctl", "semtimedop", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr", "add_key", "request_key", "keyctl",
    # memory that RLIMIT_AS does not count
    "memfd_create", "memfd_secret",
    # kernel interfaces a data snippet never needs
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "fanotify_init", "lookup_dcookie", "quotactl", "quotactl_fd", "iopl", "ioperm", "vhangup",
    "swapon", "swapoff", "reboot", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "acct", "syslog", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "sethostname", "setdomainname", "personality",
)

# (syscall, argument index) pairs that may only target the calling process (argument 0 = self).
SELF_ONLY = (
    ("prlimit64", 0), ("setpriority", 1), ("ioprio_set", 1), ("sched_setaffinity", 0),
    ("sched_setscheduler", 0), ("sched_setparam", 0), ("sched_setattr", 0),
)

# Syscalls whose argument 0 is a pid or tgid that must not be the zygote or the namespace's init.
SIGNALLING = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open")


PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class SeccompFilter:
    """Compiled to BPF once in the zygote; each forked child installs that program with prctl.

    Compiling with libseccomp takes milliseconds; installing ready BPF takes microseconds.
    """

    def __init__(self, protected_pids: tuple[int, ...]):
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.restype = ctypes.c_int
        lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
        lib.seccomp_export_bpf.restype = ctypes.c_int
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._ctx = lib.seccomp_init(ACT_ALLOW)
        if not self._ctx:
            raise OSError("seccomp_init failed")
        deny = _errno_action(errno.EPERM)
        for name in DENIED_SYSCALLS:
            self._add(deny, name)
        # glibc tries clone3 first and falls back to clone only on ENOSYS, so EPERM here would break threads.
        self._add(_errno_action(errno.ENOSYS), "clone3")
        for flag in NAMESPACE_CLONE_FLAGS:
            self._add(deny, "clone", (0, CMP_MASKED_EQ, flag, flag))
        for name, index in SELF_ONLY:
            self._add(deny, name, (index, CMP_NE, 0, 0))
        for pid in protected_pids:
            for name in SIGNALLING:
                self._add(deny, name, (0, CMP_MASKED_EQ, PID_MASK, pid))
        bpf = self._export()
        lib.seccomp_release(self._ctx)
        count = len(bpf) // ctypes.sizeof(_SockFilter)
        self._instructions = (_SockFilter * count).from_buffer_copy(bpf)
        self._program = _SockFprog(count, self._instructions)
        self._libc = ctypes.CDLL(None, use_errno=True)

    def _export(self) -> bytes:
        read_end, write_end = os.pipe()
        try:
            rc = self._lib.seccomp_export_bpf(self._ctx, write_end)
            os.close(write_end)
            write_end = -1
            if rc < 0:
                raise OSError(-rc, "seccomp_export_bpf failed")
            chunks = []
            while chunk := os.read(read_end, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)

    def _add(self, action: int, name: str, *comparisons) -> None:
        number = self._lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            return  # not a syscall on this architecture or libseccomp version
        array = (_ArgCmp * max(1, len(comparisons)))(*[_ArgCmp(*c) for c in comparisons])
        rc = self._lib.seccomp_rule_add_array(self._ctx, action, number, len(comparisons), array)
        if rc < 0:
            raise OSError(-rc, f"seccomp rule for {name} rejected")

    def load(self) -> None:
        libc = self._libc
        # no_new_privs first: the kernel refuses a filter from a process that could still gain privileges.
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self._program), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP failed")
