"""Sandbox limits, read once from Django settings (defaults live in config/settings.py)."""

from dataclasses import dataclass, fields, replace

MB = 1024 * 1024

# Installed distributions whose files are mounted into the sandbox; missing ones are skipped.
SANDBOX_DISTRIBUTIONS = ("numpy", "pandas", "python-dateutil", "six", "tzdata", "pytz")


@dataclass(frozen=True)
class SandboxConfig:
    pool_size: int = 4
    timeout: float = 30.0  # seconds the snippet itself runs; time blocked in host calls is not counted
    total_timeout: float = 1800.0  # everything included, e.g. a run_sql waiting for a person to approve
    memory_mb: int = 2048  # address space per snippet process
    cpu_seconds: int = 30
    output_chars: int = 100_000
    max_sql_calls: int = 50
    max_artifact_calls: int = 20
    artifact_mb: float = 5.0
    disable_bwrap: bool = False
    bwrap: str = "bwrap"  # the bubblewrap binary: a name looked up on PATH, or a path
    # Without bubblewrap run no snippet at all (production), instead of the weaker fallback.
    require_bwrap: bool = False
    tmp_mb: int = 64
    tmp_files: int = 4096
    file_mb: int = 16
    max_processes: int = 32  # processes and threads of one snippet (RLIMIT_NPROC of its own uid)
    max_open_files: int = 64
    stack_mb: int = 8  # fixed, so deep C recursion crashes the same way whatever `ulimit -s` the worker got
    first_uid: int = 60500  # each slot claims a free uid (= gid) from here up, machine-wide
    max_code_chars: int = 1_000_000
    start_timeout: float = 60.0

    @classmethod
    def from_settings(cls) -> "SandboxConfig":
        from django.conf import settings

        values = {}
        for field in fields(cls):
            name = f"SANDBOX_{field.name.upper()}"  # e.g. SANDBOX_POOL_SIZE from QUERENT_SANDBOX_POOL_SIZE
            if hasattr(settings, name):
                values[field.name] = getattr(settings, name)
        return replace(cls(), **values)

    def limits(self) -> dict:
        """The rlimits each snippet process gets, in the form the sandbox runtime expects."""
        return {
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_mb * MB,
            "file_bytes": self.file_mb * MB,
            "open_files": self.max_open_files,
            "processes": self.max_processes,
            "stack_bytes": self.stack_mb * MB,
        }

    @property
    def artifact_bytes(self) -> int:
        return int(self.artifact_mb * MB)
