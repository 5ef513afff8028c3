"""The README's copy-paste examples, run as written (bash, curl, jq) against a server started the way
`make run` starts it: `manage.py migrate`, `bootstrap` and `serve` with development auth and debug,
in a folder of its own (embedded: SQLite and the serverless broker), with the offline demo model.
Only `localhost:8000` is replaced by the test server's address. The management commands the README
gives (`make create-api-key`, `make reset-admin-password`) run as written too."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# Its server runs embedded in a folder of its own, whatever the pass: the same proof in both.
pytestmark = [pytest.mark.e2e, pytest.mark.backend_independent, pytest.mark.skipif(not shutil.which("jq") or not shutil.which("curl"), reason="the README's examples use curl and jq")]


def examples() -> dict[str, str]:
    """{name: shell code} for each block marked `<!-- example: name -->` in the README."""
    text = README.read_text()
    return {name: code for name, code in re.findall(r"<!-- example: (\w[\w-]*) -->\n```(?:sh|bash)\n(.*?)```", text, re.S)}


def readme_commands(target: str) -> list[str]:
    """The README's `make <target> ...` command lines, as written."""
    return re.findall(rf"^\s*(make {re.escape(target)}\b[^\n#`]*?)\s*(?:#.*)?$", README.read_text(), re.M)


class MakeRunServer:
    """`make run`'s three steps in their own QUERENT_VAR_DIR (Makefile: setup, run)."""

    def __init__(self, var_dir: Path):
        self.var_dir = var_dir
        self.port = free_port()
        var_dir.mkdir(parents=True, exist_ok=True)
        (var_dir / "secret_key").write_text("readme-examples-secret-key-" + "x" * 32 + "\n")
        self.env = {
            "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
            "QUERENT_VAR_DIR": str(var_dir), "QUERENT_PORT": str(self.port), "QUERENT_DEV_AUTH": "1",
            "PYTHONUNBUFFERED": "1", "QUERENT_WORKER_CONCURRENCY": "4",
        }
        self.dev_env = {**self.env, "QUERENT_SECRET_KEY": (var_dir / "secret_key").read_text().strip(), "QUERENT_DEBUG": "1"}
        self.proc = None
        self.log = var_dir / "serve.log"

    def manage(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.dev_env, capture_output=True, text=True, timeout=timeout)

    def start(self) -> "MakeRunServer":
        for step in (("migrate", "--noinput", "-v0"), ("bootstrap",)):
            done = self.manage(*step)
            assert done.returncode == 0, done.stdout + done.stderr
        self.proc = subprocess.Popen([sys.executable, "manage.py", "serve"], cwd=ROOT, env=self.dev_env,
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 240
        while "Press Ctrl-C to stop." not in self.log.read_text():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C: serve stops web and worker
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def bash(self, code: str, *, cwd: Path, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
        code = code.replace("localhost:8000", f"127.0.0.1:{self.port}")
        return subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = MakeRunServer(tmp_path_factory.mktemp("make-run") / "var")
    try:
        yield server.start()
    finally:
        server.stop()


def run_example(server, tmp_path, name: str) -> str:
    code = examples()[name]
    done = server.bash(code.replace(".venv/bin/python", sys.executable), cwd=tmp_path)
    assert done.returncode == 0, f"exit {done.returncode}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr[-3000:]}"
    return done.stdout


def test_every_dialect_and_the_websocket_have_an_example():
    assert set(examples()) >= {"promptql", "opengpts", "dataherald", "bi", "julep", "websocket"}


def test_banner_comes_last_and_says_how_to_sign_in(server):
    output = server.log.read_text()
    banner = output[output.rindex("=" * 78, 0, output.rindex("Press Ctrl-C")) :]
    for line in ("Querent is running", f"Chat:     http://127.0.0.1:{server.port}/", "Sign in:  admin / ",
                 "Mode:     embedded (SQLite, serverless broker)", "Model:    offline demo model", "Sandbox:  "):
        assert line in banner, banner
    assert output.rstrip().endswith("=" * 78), output[-1500:]  # nothing printed after the banner (yet)
    password = re.search(r"Sign in:  admin / (\S+)", banner).group(1)
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
        form = client.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        signed_in = client.post("/admin/login/?next=/admin/", data={"username": "admin", "password": password, "csrfmiddlewaretoken": token})
        assert signed_in.status_code == 302 and signed_in.headers["location"] == "/admin/"


def test_promptql_example(server, tmp_path):
    out = run_example(server, tmp_path, "promptql")
    assert "event: finish" in out and "Top customer: Helena Hol" in out  # JSON spells ý as \\u00fd
    assert "SELECT issue_credit(7, 15.00) AS credit_id" in out
    assert "Credit issued: id" in out and "15.00 to customer 7" in out
    rejoined = out[out.rindex(": querent stream"):]  # the re-joined stream: what came after event 4
    assert "event: tool_response_message" in rejoined and "event: finish" in rejoined


def test_opengpts_example(server, tmp_path):
    out = run_example(server, tmp_path, "opengpts")
    assert "event: metadata" in out and "event: end" in out
    state = out[out.rindex("event: end"):]  # the thread's state, after the stream
    assert "Highest: Rock with 1297" in state


def test_dataherald_example(server, tmp_path):
    out = json.loads(run_example(server, tmp_path, "dataherald"))
    assert out["sql_generation_status"] == "VALID"
    assert out["rows"][0] == {"genre": "Rock", "tracks": 1297}


def test_bi_example(server, tmp_path):
    out = run_example(server, tmp_path, "bi")
    assert "Total revenue: 463.67" in out and '"y": "revenue"' in out
    assert "Revenue by month and billing country in 2010" in out
    assert '"stacked_bar"' in out and "Break this down by" in out


def test_julep_example(server, tmp_path):
    out = run_example(server, tmp_path, "julep")
    assert "Top customer: Helena Holý (customer 6, Czech Republic) spent 49.62" in out


def test_websocket_example(server, tmp_path):
    pytest.importorskip("websockets")
    out = run_example(server, tmp_path, "websocket")
    assert "user_confirmation" in out and "ack" in out
    assert "Credit issued: id" in out and out.strip().splitlines()[-1].split()[1] == "finish"


def _stamped_venv() -> None:
    """`make`'s targets depend on the runtime dependencies' stamp; when it is missing (pytest run by
    hand), `make venv` writes it (pip finds everything installed)."""
    digest = hashlib.sha1((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    if not (ROOT / ".venv" / f".deps-run-{digest}").exists():
        done = subprocess.run(["make", "venv"], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr


def test_create_api_key_and_reset_admin_password_as_written(server, tmp_path):
    if Path(sys.executable).resolve() != (ROOT / ".venv" / "bin" / "python").resolve():
        pytest.skip("make's targets run .venv/bin/python")
    _stamped_venv()
    [create] = [c for c in readme_commands("create-api-key")][:1]
    done = server.bash(create, cwd=ROOT, env={"QUERENT_VAR_DIR": str(server.var_dir)}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    key = re.search(r"\bqk_[A-Za-z0-9_\-]+", done.stdout).group(0)
    me = httpx.get(f"http://127.0.0.1:{server.port}/api/v1/bi/sessions", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert me.status_code == 200, me.text

    [reset] = readme_commands("reset-admin-password")[:1]
    done = server.bash(reset, cwd=ROOT, env={"QUERENT_VAR_DIR": str(server.var_dir)}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    password = re.search(r"New password for admin: (\S+)", done.stdout).group(1)
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/admin/login/").text).group(1)
        signed_in = client.post("/admin/login/?next=/admin/", data={"username": "admin", "password": password, "csrfmiddlewaretoken": token})
        assert signed_in.status_code == 302
