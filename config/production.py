"""What `manage.py serve` decides before it starts anything: production or development, and whether
the sandbox can confine code here.

`serve --production` runs with QUERENT_PRODUCTION=1 (manage.py sets it before the settings are read;
another entry point runs the command again with it), so that its own settings, and those of the web
and worker processes it starts, are production's (config/settings.py refuses debug, development auth,
a missing or short secret key and `*` hosts). It refuses to start when
bubblewrap cannot confine the model's code, unless QUERENT_SANDBOX_ALLOW_UNSAFE_NO_BWRAP=1.
"""

import logging
import os
import sys

from django.conf import settings
from django.core.management.base import CommandError

log = logging.getLogger("querent.serve")


def enter_production() -> None:
    """Replace this process by the same command with QUERENT_PRODUCTION=1 (settings are read once)."""
    if settings.PRODUCTION:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ["QUERENT_PRODUCTION"] = "1"
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def sandbox_problem() -> str | None:
    """Why bubblewrap cannot confine snippets on this machine, or None when it can."""
    from executor.sandbox import SandboxConfig, check_bwrap

    _, problem = check_bwrap(SandboxConfig.from_settings())
    return problem


def preflight(production: bool) -> list[list[str]]:
    """Warnings for the banner (each a few lines); raises CommandError for what a production start
    must not run with."""
    from executor.sandbox.pool import ALLOW_UNSAFE_VARIABLE, UNCONFINED, refusal

    warnings = []
    problem = sandbox_problem()
    if problem is not None:
        if settings.SANDBOX_REQUIRE_BWRAP:
            raise CommandError(refusal(problem))
        how = (f"{ALLOW_UNSAFE_VARIABLE}=1 is set" if production
               else "development mode runs without it; production refuses to")
        warnings.append([f"SANDBOX WARNING: {problem}:", f"  {UNCONFINED}.",
                         f"  Install it: apt-get install -y bubblewrap ({how})."])
        if production:
            log.warning("SANDBOX WARNING: %s: %s (%s)", problem, UNCONFINED, how)
    if production and not settings.HTTPS:
        warnings.append(["QUERENT_HTTPS is not set: no HSTS, no secure-only cookies. Set QUERENT_HTTPS=1 when",
                         "  Querent is served over HTTPS (a TLS proxy that sets X-Forwarded-Proto)."])
    return warnings


def mode_line(production: bool) -> str:
    if production:
        return "PRODUCTION mode (debug off, JSON logs, development auth off)"
    parts = [name for name, on in (("debug pages", settings.DEBUG), ("development auth", settings.DEV_AUTH)) if on]
    detail = f" ({', '.join(parts)})" if parts else ""
    return f"DEVELOPMENT mode{detail}: not for production; `make serve` starts the production mode"


def probe_host(host: str, port: int) -> str:
    """A Host header the web process accepts, for the readiness probe (it may be bound to 0.0.0.0
    while ALLOWED_HOSTS lists only the deployment's names)."""
    for allowed in settings.ALLOWED_HOSTS:
        if allowed != "*":
            return f"{allowed.lstrip('.')}:{port}"
    return f"{host}:{port}"
