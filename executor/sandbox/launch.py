"""How a zygote process starts: inside bubblewrap where the machine allows it, else a fallback.

Inside bubblewrap the sandbox sees a read-only tree built from nothing: the interpreter binary, its
standard library, the shared libraries it links against, the mounted Python packages, /usr/bin/env,
a private /proc and /dev, and a size-capped tmpfs on /tmp. Nothing from the project tree is mounted;
the runtime's code arrives as source over the control socket (see runtime/__init__.py).
"""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .config import MB, SANDBOX_DISTRIBUTIONS, SandboxConfig

SITE_DIR_INSIDE = "/sandbox/site-packages"
TMP_INSIDE = "/tmp"

# Runs as `python -c BOOTSTRAP <ctl fd>`: load the runtime modules sent by the worker, start the zygote.
BOOTSTRAP = """\
import json, socket, sys, types
ctl = socket.socket(fileno=int(sys.argv[1]))
hello = json.loads(ctl.recv(1 << 22))
for name, source in hello["sources"]:
    module = types.ModuleType(name)
    module.__file__ = "<sandbox runtime " + name + ">"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
sys.modules["zygote_main"].main(ctl, hello["config"])
"""


@dataclass(frozen=True)
class Interpreter:
    executable: str
    stdlib: str
    libpython: str | None  # where the dynamic loader looks for it (may be a symlink)
    global_site_packages: str


def current_interpreter() -> Interpreter:
    """The base interpreter behind the worker's venv: the same Python runs in the sandbox."""
    executable = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    base = {"base": sys.base_prefix, "installed_base": sys.base_prefix,
            "platbase": sys.base_exec_prefix, "installed_platbase": sys.base_exec_prefix}
    paths = sysconfig.get_paths(vars=base)
    libpython = None
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        candidate = os.path.join(sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME"))
        libpython = candidate if os.path.exists(candidate) else None
    return Interpreter(executable, paths["stdlib"], libpython, paths["purelib"])


def distribution_entries(names=SANDBOX_DISTRIBUTIONS) -> list[tuple[str, str]]:
    """(host path, name) of every top-level file or folder of the installed distributions."""
    entries: dict[str, str] = {}
    for name in names:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        site = str(dist.locate_file(""))
        for item in dist.files or ():
            top = PurePosixPath(item).parts[0]
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue  # console scripts outside site-packages; .pth files only matter to `site`
            entries.setdefault(top, os.path.join(site, top))
    return sorted((path, top) for top, path in entries.items() if os.path.exists(path))


@dataclass
class LaunchPlan:
    """One zygote's command line plus what its runtime needs to know about the layout."""

    argv: list[str]
    python: list[str]  # the interpreter part of argv, for probing
    isolated: bool  # inside bubblewrap (own mount, pid, net, ipc, uts namespaces)
    tmp_dir: str
    private_tmp: bool  # /tmp is the sandbox's own tmpfs, so inode counts can be watched
    site_dir: str | None
    cleanup_paths: list[str] = field(default_factory=list)


def locate_bwrap(config: SandboxConfig) -> str | None:
    """The bubblewrap binary the sandbox would use (QUERENT_SANDBOX_BWRAP: a name looked up on PATH,
    or a path), or None when there is none."""
    return shutil.which(config.bwrap)


def bwrap_plan(config: SandboxConfig, interpreter: Interpreter, entries: list[tuple[str, str]],
               binary: str | None = None) -> LaunchPlan:
    env_binary = os.path.realpath(shutil.which("env") or "/usr/bin/env")
    argv = [binary or locate_bwrap(config) or config.bwrap, "--new-session", "--die-with-parent", "--clearenv"]
    if os.geteuid() == 0:
        # As root, --unshare-all would add a user namespace that maps only uid 0, and then the child
        # could not drop to its own uid (and RLIMIT_NPROC means nothing to uid 0). So: every other
        # namespace, no user namespace, and the zygote keeps just enough to fork unprivileged children
        # and kill what they leave behind. Nested user namespaces are refused by the seccomp filter.
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                 "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_KILL"]
    else:
        argv += ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    argv += ["--hostname", "sandbox"]

    binds = [(interpreter.executable, interpreter.executable), (interpreter.stdlib, interpreter.stdlib),
             (env_binary, env_binary)]
    if interpreter.libpython:
        binds.append((os.path.realpath(interpreter.libpython), interpreter.libpython))
    binds += [(path, path) for path in _library_dirs()]
    binds += [(path, path) for path in ("/usr/share/zoneinfo",) if os.path.isdir(path)]  # time zones for pandas
    binds += [(path, f"{SITE_DIR_INSIDE}/{name}") for path, name in entries]
    for directory in _parent_dirs([dest for _, dest in binds]):
        argv += ["--perms", "0755", "--dir", directory]  # bwrap would copy /root's 0700 otherwise
    for top in ("/lib", "/lib64", "/lib32", "/libx32", "/bin"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]  # merged-/usr systems: /lib -> usr/lib
    for source, dest in binds:
        argv += ["--ro-bind", source, dest]
    if interpreter.global_site_packages.startswith(interpreter.stdlib + "/"):
        # hide the base interpreter's own packages behind an empty, read-only directory
        argv += ["--perms", "0555", "--tmpfs", interpreter.global_site_packages,
                 "--remount-ro", interpreter.global_site_packages]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(config.tmp_mb * MB), "--tmpfs", TMP_INSIDE,
             "--remount-ro", "/", "--chdir", TMP_INSIDE]
    python = _python_command(env_binary, interpreter)
    return LaunchPlan([*argv, "--", *python], python, isolated=True, tmp_dir=TMP_INSIDE, private_tmp=True,
                      site_dir=SITE_DIR_INSIDE)


def fallback_plan(interpreter: Interpreter, uid: int) -> LaunchPlan:
    """No namespaces: rlimits, a dropped uid and seccomp (if present) are all the protection."""
    env_binary = os.path.realpath(shutil.which("env") or "/usr/bin/env")
    tmp_dir = tempfile.mkdtemp(prefix="querent-sandbox-")
    if os.geteuid() == 0:
        os.chown(tmp_dir, uid, uid)
    site_dir = sysconfig.get_paths()["purelib"]  # the venv's; there is no mount namespace to curate it
    python = _python_command(env_binary, interpreter)
    return LaunchPlan(python, python, isolated=False, tmp_dir=tmp_dir, private_tmp=False, site_dir=site_dir,
                      cleanup_paths=[tmp_dir])


def probe_bwrap(plan: LaunchPlan) -> str | None:
    """None when bubblewrap can start the interpreter with this layout, else why not."""
    sandbox = plan.argv[:len(plan.argv) - len(plan.python)]
    argv = [*sandbox, *plan.python[:plan.python.index("-c")], "-c", "pass"]
    try:
        result = subprocess.run(argv, env={}, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{type(exc).__name__}: {exc}"
    if result.returncode != 0:
        return result.stderr.decode(errors="replace").strip()[-500:] or f"exit status {result.returncode}"
    return None


def _python_command(env_binary: str, interpreter: Interpreter) -> list[str]:
    # env -i: bwrap sets PWD even after --clearenv, and /proc/<pid>/environ keeps what exec received.
    # -s -P instead of -I (= -E -s -P): the one variable set here must be read. PYTHONMALLOC=malloc
    # puts objects in the C heap, which the zygote can move onto huge pages (zygote_main).
    return [env_binary, "-i", "PYTHONMALLOC=malloc", interpreter.executable, "-s", "-P", "-S", "-B", "-c", BOOTSTRAP]


def _library_dirs() -> list[str]:
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    candidates = [f"/usr/lib/{multiarch}" if multiarch else "", "/usr/lib64", "/usr/lib32"]
    candidates += [top for top in ("/lib", "/lib64") if os.path.isdir(top) and not os.path.islink(top)]
    if not multiarch:
        candidates.append("/usr/lib")
    return [path for path in candidates if path and os.path.isdir(path) and not os.path.islink(path)]


def _parent_dirs(destinations: list[str]) -> list[str]:
    """Directories to create, parents first, excluding anything inside another mount."""
    created: dict[str, None] = {}
    for dest in destinations:
        path = PurePosixPath(dest)
        for parent in reversed(path.parents):
            text = str(parent)
            if text != "/" and not any(text == d or text.startswith(d + "/") for d in destinations):
                created.setdefault(text, None)
    return list(created)
