"""Production runs no code without bubblewrap: the pool refuses, and every snippet gets the reason as
its tool error instead of running with only rlimits, a uid and seccomp around it.

"No bubblewrap" is simulated by where the sandbox looks for it (QUERENT_SANDBOX_BWRAP / PATH).
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from executor.sandbox import SandboxConfig, SandboxPool, check_bwrap, warm_up

from .test_sandbox import StandInHost

# The sandbox's start-up checks and workers with environments of their own: the same in either pass.
pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[2]
MISSING = "/nonexistent/bwrap"


def pool_with(**overrides) -> SandboxPool:
    return SandboxPool(SandboxConfig(**{"pool_size": 1, "timeout": 5.0, "first_uid": 61500, **overrides}))


@pytest.mark.parametrize("why", [{"bwrap": MISSING}, {"disable_bwrap": True}], ids=["missing", "disabled"])
def test_required_bubblewrap_refuses_every_snippet_without_crashing(why, caplog):
    pool = pool_with(require_bwrap=True, **why)
    try:
        with caplog.at_level(logging.ERROR, logger="querent.sandbox"):
            first = pool.execute("executor.print('never')", StandInHost())
        second = pool.execute("executor.print('still never')", StandInHost())
        assert pool.mode == "refused"
        for result in (first, second):
            assert result["output"] == "" and result["sql_statements"] == []
            assert result["error"].startswith("the code was not run: the sandbox is unavailable (")
            assert "no code runs without bubblewrap" in result["error"]
            assert "apt-get install -y bubblewrap" in result["error"]
            assert "QUERENT_SANDBOX_ALLOW_UNSAFE_NO_BWRAP=1" in result["error"]
        assert "SANDBOX REFUSED" in caplog.text
        assert not pool._zygotes  # nothing was started
    finally:
        pool.shutdown()


def test_without_the_requirement_it_falls_back_with_a_warning(caplog):
    pool = pool_with(bwrap=MISSING)
    try:
        with caplog.at_level(logging.WARNING, logger="querent.sandbox"):
            result = pool.execute("executor.print('ran')", StandInHost())
        assert pool.mode == "fallback"
        assert result["error"] is None and result["output"] == "ran\n"
        assert f"SANDBOX WARNING: bubblewrap (`{MISSING}`" in caplog.text
        assert "reach the network" in caplog.text
    finally:
        pool.shutdown()


def test_check_bwrap_names_the_problem():
    assert check_bwrap(SandboxConfig(bwrap=MISSING))[1].startswith(f"bubblewrap (`{MISSING}`")
    assert check_bwrap(SandboxConfig(disable_bwrap=True))[1] == "bubblewrap is disabled by QUERENT_SANDBOX_DISABLE_BWRAP"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install -y bubblewrap)")
def test_required_bubblewrap_that_is_there_runs_code():
    if check_bwrap(SandboxConfig())[1] is not None:
        pytest.skip(f"bubblewrap cannot start here: {check_bwrap(SandboxConfig())[1]}")
    pool = pool_with(require_bwrap=True)
    try:
        assert pool.execute("executor.print('confined')", StandInHost())["output"] == "confined\n"
        assert pool.mode == "bwrap"
    finally:
        pool.shutdown()


def test_warm_up_does_not_raise_when_refused(settings):
    from executor import sandbox

    settings.SANDBOX_REQUIRE_BWRAP = True
    settings.SANDBOX_BWRAP = MISSING
    settings.SANDBOX_POOL_SIZE = 1
    sandbox.shutdown()
    try:
        warm_up()  # the worker's start-up: logged, not raised
        assert sandbox._pool.mode == "refused"
    finally:
        sandbox.shutdown()


# A worker process started by hand with QUERENT_PRODUCTION=1 on a machine without bubblewrap: the
# settings make the sandbox refuse; the override lets it run code with a warning.
WORKER_PROBE = textwrap.dedent("""
    import json, django
    django.setup()
    from executor.sandbox import execute_python
    from tests.executor.test_sandbox import StandInHost
    print(json.dumps(execute_python("executor.print('ran')", StandInHost())))
""")


def worker_probe(tmp_path, **env) -> dict:
    clean = {
        "PATH": str(Path(sys.executable).parent), "HOME": os.environ.get("HOME", "/root"),
        "DJANGO_SETTINGS_MODULE": "config.settings", "QUERENT_VAR_DIR": str(tmp_path),
        "QUERENT_PRODUCTION": "1", "QUERENT_SECRET_KEY": "a-production-secret-key-long-enough-0123456789",
        "QUERENT_SANDBOX_POOL_SIZE": "1", "QUERENT_SANDBOX_FIRST_UID": "61600", **env,
    }
    result = subprocess.run([sys.executable, "-c", WORKER_PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {"result": json.loads(result.stdout.strip().splitlines()[-1]), "log": result.stderr}


def test_a_production_worker_without_bubblewrap_refuses(tmp_path):
    assert shutil.which("bwrap", path=str(Path(sys.executable).parent)) is None
    probe = worker_probe(tmp_path)
    assert probe["result"]["output"] == ""
    assert "no code runs without bubblewrap" in probe["result"]["error"]
    assert "SANDBOX REFUSED" in probe["log"]


def test_a_production_worker_with_the_unsafe_override_runs_code_and_warns(tmp_path):
    probe = worker_probe(tmp_path, QUERENT_SANDBOX_ALLOW_UNSAFE_NO_BWRAP="1")
    assert probe["result"]["error"] is None and probe["result"]["output"] == "ran\n"
    warning = next(json.loads(line) for line in probe["log"].splitlines() if "SANDBOX WARNING" in line)
    assert warning["level"] == "WARNING" and "is not installed" in warning["message"]
