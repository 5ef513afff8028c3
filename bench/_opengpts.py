"""The real OpenGPTs backend beside Querent, for side-by-side benchmarks.

The code is upstream's, unchanged, from the read-only anchor folder (OPENGPTS_ANCHOR, by default
/work/shared/anchors/opengpts; its README says how it was pinned and started). On first use this
module prepares what it needs and keeps it under a cache folder (QUERENT_BENCH_CACHE, by default
~/.cache/querent-bench):

- the `vector` extension, which OpenGPTs' first migration creates: built from the anchor's pgvector
  sources (a copy: the anchor is read-only) and installed into the machine's PostgreSQL 15 only when
  `pg_available_extensions` lacks it. That needs root and the server headers (apt-get). The server
  itself is never restarted or reconfigured; the extension is created only in a scratch database.
- a virtualenv with OpenGPTs' pinned requirements (`og-venv`), rebuilt when the pins change.

`opengpts_server()` then creates a scratch database, applies backend/migrations/*.up.sql in order,
starts one uvicorn process as upstream's Dockerfile does, and drops the database when done.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx

from _stack import PG, _admin, progress

ANCHOR = Path(os.environ.get("OPENGPTS_ANCHOR", "/work/shared/anchors/opengpts"))
CACHE = Path(os.environ.get("QUERENT_BENCH_CACHE", Path.home() / ".cache" / "querent-bench"))
PG_CONFIG = "/usr/lib/postgresql/15/bin/pg_config"


def _run(command: list, **options) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **options)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def _vector_available() -> bool:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is not None


def ensure_pgvector() -> None:
    """Install the anchor's pgvector into the local PostgreSQL 15 unless it is already available."""
    if _vector_available():
        return
    if os.geteuid() != 0:
        raise SystemExit("OpenGPTs needs the PostgreSQL `vector` extension; building it from "
                         f"{ANCHOR / 'pgvector'} and installing it needs root (or install postgresql-15-pgvector)")
    headers = Path("/usr/include/postgresql/15/server/postgres.h")
    if not Path(PG_CONFIG).exists() or not headers.exists() or not shutil.which("make") or not shutil.which("gcc"):
        progress("installing postgresql-server-dev-15, make and gcc (for pgvector) …")
        _run(["apt-get", "install", "-y", "postgresql-server-dev-15", "make", "gcc"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    build = CACHE / "pgvector-build"
    shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(ANCHOR / "pgvector", build)
    progress("building pgvector …")
    _run(["make", "-C", str(build), f"PG_CONFIG={PG_CONFIG}"])
    _run(["make", "-C", str(build), "install", f"PG_CONFIG={PG_CONFIG}"])
    if not _vector_available():
        raise RuntimeError("pgvector was installed but PostgreSQL does not list the `vector` extension")
    progress("")


def ensure_venv() -> Path:
    """OpenGPTs' pinned virtualenv; created (a few minutes) on first use or when the pins change."""
    venv = CACHE / "og-venv"
    lock = ANCHOR / "requirements.lock.txt"
    pins = hashlib.sha256(lock.read_bytes()).hexdigest()
    marker = venv / ".querent-pins"
    if marker.exists() and marker.read_text() == pins and (venv / "bin" / "uvicorn").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", None) or shutil.which("python3.11") or "python3"
    progress(f"creating OpenGPTs' virtualenv with its pinned requirements in {venv} (first use, a few minutes) …")
    _run([base, "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "-r", str(lock)])
    marker.write_text(pins)
    progress("")
    return venv


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def opengpts_server(llm_base_url: str):
    """Yields (base_url, uvicorn pid, database name) of a running OpenGPTs backend on a scratch database."""
    ensure_pgvector()
    venv = ensure_venv()
    database = f"og_bench_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{database}"')
    process = None
    workdir = Path(tempfile.mkdtemp(prefix="opengpts-bench-"))  # its log config writes ./app.log
    try:
        for migration in sorted((ANCHOR / "backend" / "migrations").glob("*.up.sql")):
            _run(["psql", "-v", "ON_ERROR_STOP=1", "-q", f"{PG}/{database}", "-f", str(migration)])
        port = _free_port()
        env = {
            "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(Path.home()),
            "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": PG.rsplit(":", 1)[-1], "POSTGRES_DB": database,
            "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "", "OPENAI_API_KEY": "x", "OPENAI_BASE_URL": llm_base_url,
            "PYTHONPYCACHEPREFIX": str(CACHE / "og-pycache"),  # the anchor is read-only
            "LANGCHAIN_TRACING_V2": "false", "NO_PROXY": "127.0.0.1,localhost",
        }
        backend = ANCHOR / "backend"
        log = open(workdir / "uvicorn.log", "w")
        process = subprocess.Popen(
            [str(venv / "bin" / "uvicorn"), "app.server:app", "--app-dir", str(backend), "--host", "127.0.0.1",
             "--port", str(port), "--log-config", str(backend / "log_config.json")],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        progress("starting OpenGPTs …")
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"OpenGPTs exited ({process.returncode}):\n{(workdir / 'uvicorn.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"OpenGPTs did not answer /ok in 120 s:\n{(workdir / 'uvicorn.log').read_text()[-3000:]}")
            time.sleep(0.2)
        progress("")
        yield base, process.pid, database
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        time.sleep(0.3)
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":  # prepare (install) only, e.g. before a timed run
    ensure_pgvector()
    print(ensure_venv())
