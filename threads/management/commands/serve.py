"""Start Querent: daphne (web + websockets) and a Celery worker, as separate processes.

Prints the URLs once the web process answers, forwards Ctrl-C to both children and waits for them.
`--production` (`make serve`) starts them in production mode; see config/production.py.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config import production as startup
from config.web import argv as web_argv
from threads.management.commands.bootstrap import admin_credentials


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = "Run the web server (daphne) and a Celery worker until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("QUERENT_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("QUERENT_PORT", "8000")))
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("QUERENT_WORKER_CONCURRENCY", "8")))
        parser.add_argument("--production", action="store_true",
                            help="production mode (QUERENT_PRODUCTION=1): debug off, JSON logs, strict checks")

    def handle(self, *args, host, port, concurrency, production, **options):
        if production:
            startup.enter_production()  # runs this command again with QUERENT_PRODUCTION=1
        production = settings.PRODUCTION
        warnings = startup.preflight(production)  # refuses what production must not run with
        if not _port_free(host, port):
            raise CommandError(f"port {port} on {host} is in use; set QUERENT_PORT to another port")
        python = sys.executable
        # Production: no daphne access log (plain text on stdout, paths unscrubbed); Django logs each
        # 4xx/5xx as a JSON line, and the proxy in front keeps the access log.
        quiet = ["-v", "0"] if production else []
        web = web_argv(host, port, *quiet)  # daphne with request body and websocket message limits
        worker = [
            python, "-m", "celery", "-A", "config", "worker",
            "-Q", f"{settings.AGENT_QUEUE},{settings.CELERY_TASK_DEFAULT_QUEUE}", "-P", "threads", "-c", str(concurrency),
            "--loglevel", "WARNING", "-n", f"querent-{os.getpid()}@%h",
        ]
        worker.insert(worker.index("worker"), "--quiet")  # no Celery banner: ours says what matters
        children = {
            "web": subprocess.Popen(web, start_new_session=True),
            "worker": subprocess.Popen(worker, start_new_session=True),
        }
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            if stopping:
                return
            stopping = True
            self.stdout.write("\nStopping Querent …")
            for proc in children.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for name, proc in children.items():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.stdout.write(f"{name} did not stop in time; killing it")
                    proc.kill()
                    proc.wait()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        base = f"http://{host}:{port}"
        try:
            self._wait_ready(base, children, host_header=startup.probe_host(host, port))
        except BaseException:
            stop()  # a child that did start must not outlive a failed start-up
            raise
        banner = self._banner(base, production, warnings)
        self.stdout.write(banner)
        self.stdout.flush()
        try:
            while not stopping:
                for name, proc in children.items():
                    if proc.poll() is not None and not stopping:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping")
                        stop()
                        raise SystemExit(1)
                time.sleep(0.5)
        finally:
            stop()

    def _wait_ready(self, base: str, children: dict, host_header: str | None = None) -> None:
        """Until the web process answers and a worker answers a ping through the broker, so the
        banner comes after both processes' start-up output and a first question is answered."""
        self.stdout.write("Starting web server and worker", ending="")
        deadline = time.monotonic() + 90
        for what, path, timeout in (("web server", "/health?worker=0", 2), ("worker", "/health", 8)):
            while True:
                for name, proc in children.items():
                    if proc.poll() is not None:
                        raise CommandError(f"{name} exited during start-up with code {proc.returncode}")
                if time.monotonic() > deadline:
                    raise CommandError(f"the {what} did not become ready within 90 s")
                try:
                    probe = urllib.request.Request(f"{base}{path}", headers={"Host": host_header} if host_header else {})
                    with urllib.request.urlopen(probe, timeout=timeout) as response:
                        if response.status == 200:
                            break
                except OSError:  # not listening yet, or 503 while the worker starts
                    pass
                self.stdout.write(".", ending="")
                self.stdout.flush()
                time.sleep(0.5)
        self.stdout.write(" ready.")

    def _banner(self, base: str, production: bool, warnings: list[list[str]]) -> str:
        """What a person needs to start: where, how to sign in, which mode, model and sandbox."""
        mode = "embedded (SQLite, serverless broker)" if settings.EMBEDDED and not settings.REDIS_URL else "services (PostgreSQL/Redis)"
        demo = not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)
        model = "offline demo model (no OPENAI_API_KEY set)" if demo else settings.QUERENT_MODEL
        sandbox = "bubblewrap" if startup.sandbox_problem() is None else "NOT confined (bubblewrap missing; see the warning below)"
        rule = "=" * 78
        lines = [
            rule,
            self.style.SUCCESS("  Querent is running"),
            "  " + (self.style.SUCCESS if production else self.style.WARNING)(startup.mode_line(production)),
            f"  Chat:     {base}/",
            f"  Admin:    {base}/admin/",
            f"  API docs: {base}/api/docs/",
            f"  Health:   {base}/health",
        ]
        if not production:
            lines.append(f"  Sign in:  {admin_credentials()}")
        lines += [
            f"  Mode:     {mode}",
            f"  Model:    {model}",
            f"  Sandbox:  {sandbox}",
        ]
        if production:
            lines.append(f"  Hosts:    {', '.join(settings.ALLOWED_HOSTS)} (QUERENT_ALLOWED_HOSTS)")
        lines += [self.style.ERROR(f"!! {line}") for warning in warnings for line in warning]
        lines += ["  Press Ctrl-C to stop.", rule]
        return "\n" + "\n".join(lines) + "\n"
