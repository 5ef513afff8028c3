"""`manage.py serve --production` as a real process (embedded mode: SQLite and the serverless broker):
what it serves, what it logs, and what it refuses to start with.

"No bubblewrap" is simulated with a PATH that lacks it (the sandbox looks it up there), never by
uninstalling it.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from executor.sandbox import SandboxConfig, check_bwrap

# Its servers run embedded in folders of their own, whatever the pass: the same proof in both.
pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "production-test-secret-key-" + "x" * 40
NO_BWRAP_PATH = str(Path(sys.executable).parent)  # the venv's bin: python, no bwrap
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(var_dir: Path, **extra) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "QUERENT_SECRET_KEY": SECRET_KEY,
        "QUERENT_VAR_DIR": str(var_dir),
        "QUERENT_SANDBOX_POOL_SIZE": "1",
        "QUERENT_WORKER_CONCURRENCY": "2",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return {key: value for key, value in env.items() if value is not None}


def manage(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class Server:
    """One `serve --production` process; stdout and stderr kept apart in files."""

    def __init__(self, var_dir: Path, **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.stdout_path = var_dir / f"serve-{self.port}.out"
        self.stderr_path = var_dir / f"serve-{self.port}.err"
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--production", "--port", str(self.port)],
            cwd=ROOT, env=production_env(var_dir, **env), stdin=subprocess.DEVNULL,
            stdout=open(self.stdout_path, "w"), stderr=open(self.stderr_path, "w"), start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve --production exited with {self.proc.returncode}:\n{self.output()}")
            if "Press Ctrl-C to stop." in self.stdout_path.read_text():
                return
            time.sleep(0.3)
        raise AssertionError(f"serve --production was not ready within {timeout}s:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # as Ctrl-C: serve stops its web and worker processes
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def output(self) -> str:
        return f"--- stdout ---\n{self.stdout_path.read_text()}\n--- stderr ---\n{self.stderr_path.read_text()}"


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    """A migrated embedded database, shared by this module's servers (one at a time)."""
    path = tmp_path_factory.mktemp("production")
    result = manage(production_env(path, QUERENT_PRODUCTION="1"), "migrate", "--noinput", "-v", "0")
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def server(var_dir):
    """A production start on this machine as it is (bubblewrap installed, as CI installs it)."""
    problem = check_bwrap(SandboxConfig())[1]
    if problem is not None:
        pytest.skip(f"bubblewrap cannot confine code on this machine ({problem}); apt-get install -y bubblewrap")
    server = Server(var_dir)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_the_banner_says_production(server):
    banner = server.stdout_path.read_text()
    assert "PRODUCTION mode" in banner and "DEVELOPMENT" not in banner
    assert "SANDBOX WARNING" not in banner
    assert "Hosts:    localhost, 127.0.0.1, [::1]" in banner
    assert "QUERENT_HTTPS is not set" in banner


def test_not_found_is_json_and_lists_no_url_patterns(server):
    for path in ("/definitely/not/here", "/accounts/not-here"):
        response = httpx.get(server.base + path, timeout=10)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"detail": f"Not found: {path}", "code": "not_found"}
        assert "URL pattern" not in response.text and "admin/" not in response.text


@pytest.mark.parametrize("path", ["/", "/accounts/login", "/health", "/api/v1/me", "/definitely/not/here"])
def test_every_response_carries_the_security_headers(server, path):
    response = httpx.get(server.base + path, timeout=10)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (path, name, response.headers)
    assert "strict-transport-security" not in response.headers  # only with QUERENT_HTTPS=1
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize("path", ["/", "/accounts/login"])
def test_the_chat_and_sign_in_pages_have_a_strict_policy_their_html_keeps(server, path):
    response = httpx.get(server.base + path, timeout=10)
    assert response.status_code == 200
    policy = dict(directive.split(" ", 1) for directive in response.headers["content-security-policy"].split("; "))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"] == f"'self' ws://127.0.0.1:{server.port}"
    assert "unsafe" not in response.headers["content-security-policy"]
    html = response.text
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert all("src=" in tag or 'type="application/json"' in tag for tag in scripts), scripts
    assert not re.search(r"\sstyle=", html) and not re.search(r"\son[a-z]+=", html)


def test_logs_are_json_lines_with_secrets_scrubbed(server):
    key = f"sk-{uuid.uuid4().hex}"
    password = f"hunter2{uuid.uuid4().hex[:8]}"
    assert httpx.get(f"{server.base}/nope/{key}", timeout=10).status_code == 404
    assert httpx.get(f"{server.base}/nope/postgres://app:{password}@db.internal/q", timeout=10).status_code == 404
    assert httpx.get(f"{server.base}/api/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code == 401
    deadline = time.monotonic() + 10
    while True:  # the web process writes its log lines as it answers; wait for the last one
        stderr = server.stderr_path.read_text()
        if "Unauthorized: /api/v1/me" in stderr or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    stdout = server.stdout_path.read_text()
    assert key not in stdout + stderr and password not in stdout + stderr
    lines = [json.loads(line) for line in stderr.splitlines(keepends=True) if line.endswith("\n") and line.strip()]
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)  # every line is JSON
    messages = [line["message"] for line in lines]
    assert "Not Found: /nope/sk-***" in messages
    assert any("postgres://app:***@db.internal/q" in message for message in messages)
    assert "Unauthorized: /api/v1/me" in messages
    assert '"GET /' not in stdout  # no plain-text access log


@pytest.mark.parametrize("env,message", [
    ({"QUERENT_SECRET_KEY": None}, "QUERENT_SECRET_KEY must be set for a production start"),
    ({"QUERENT_SECRET_KEY": "too-short"}, "QUERENT_SECRET_KEY is shorter than 32 characters"),
    ({"QUERENT_ALLOWED_HOSTS": "*"}, "QUERENT_ALLOWED_HOSTS=* accepts any Host header"),
    ({"QUERENT_DEBUG": "1"}, "QUERENT_DEBUG=1 is for development only"),
    ({"QUERENT_DEV_AUTH": "1"}, "QUERENT_DEV_AUTH=1 trusts a cookie and a header"),
    ({"PATH": NO_BWRAP_PATH}, "no code runs without bubblewrap"),
    ({"QUERENT_SANDBOX_DISABLE_BWRAP": "1"}, "bubblewrap is disabled by QUERENT_SANDBOX_DISABLE_BWRAP"),
], ids=["no-secret-key", "short-secret-key", "any-host", "debug", "dev-auth", "no-bwrap", "bwrap-disabled"])
def test_refuses_to_start_and_says_why(var_dir, env, message):
    port = free_port()
    result = manage(production_env(var_dir, **env), "serve", "--production", "--port", str(port), timeout=60)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "Querent is running" not in result.stdout
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # nothing was started on the port


def test_no_bwrap_message_says_how_to_fix_it(var_dir):
    result = manage(production_env(var_dir, PATH=NO_BWRAP_PATH), "serve", "--production", "--port", str(free_port()))
    assert "bubblewrap (`bwrap`, Debian package `bubblewrap`) is not installed" in result.stderr
    assert "apt-get install -y bubblewrap" in result.stderr
    assert "QUERENT_SANDBOX_ALLOW_UNSAFE_NO_BWRAP=1" in result.stderr


def test_any_host_needs_saying_so(var_dir):
    result = manage(production_env(var_dir, QUERENT_ALLOWED_HOSTS="*", QUERENT_ALLOW_ANY_HOST="1", PATH=NO_BWRAP_PATH),
                    "serve", "--production", "--port", str(free_port()))
    assert "QUERENT_ALLOWED_HOSTS" not in result.stderr  # past the hosts check, stopped at the sandbox's
    assert "no code runs without bubblewrap" in result.stderr


def test_the_unsafe_override_starts_with_a_loud_warning(var_dir):
    server = Server(var_dir, PATH=NO_BWRAP_PATH, QUERENT_SANDBOX_ALLOW_UNSAFE_NO_BWRAP="1")
    try:
        server.wait_ready()
        assert httpx.get(server.base + "/health?worker=0", timeout=10).status_code == 200
    finally:
        server.stop()
    banner = server.stdout_path.read_text()
    assert "PRODUCTION mode" in banner
    assert "!! SANDBOX WARNING: bubblewrap (`bwrap`, Debian package `bubblewrap`) is not installed" in banner
    assert "QUERENT_SANDBOX_ALLOW_UNSAFE_NO_BWRAP=1 is set" in banner
    warnings = [json.loads(line) for line in server.stderr_path.read_text().splitlines() if "SANDBOX WARNING" in line]
    assert {line["logger"] for line in warnings} >= {"querent.serve"}
    assert all(line["level"] == "WARNING" for line in warnings)


def test_admin_and_docs_have_laxer_style_policies_and_no_inline_script(server):
    admin = httpx.get(server.base + "/admin/login/", timeout=10)
    assert admin.status_code == 200
    policy = admin.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src-attr 'unsafe-inline'" in policy
    docs = httpx.get(server.base + "/api/docs/", timeout=10)
    assert docs.status_code == 200
    assert "script-src 'self';" in docs.headers["content-security-policy"]
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", docs.text))
    start = httpx.get(server.base + "/api/docs/?script=", timeout=10)  # Swagger UI's start-up script, as a file
    assert start.status_code == 200 and "SwaggerUIBundle" in start.text
