"""Querent's web server: daphne, with request bodies and websocket messages limited while they are read.

    python -m config.web -b 127.0.0.1 -p 8000 config.asgi:application

takes daphne's own command line and starts daphne's Server with two limits from the settings:

- a request body over QUERENT_MAX_BODY_BYTES is refused with a JSON 413 as it arrives: a declared
  Content-Length over the limit before any of the body is read, a chunked body at the limit, without
  reading or storing the rest;
- a websocket message or frame over QUERENT_MAX_WS_MESSAGE_BYTES closes the connection with 1009
  (daphne's --websocket-max-message-size / --websocket-max-frame-size, autobahn's
  maxMessagePayloadSize / maxFramePayloadSize, and a close frame rather than a dropped connection).

Both through config/patches/daphne_limits.py.

`manage.py serve` and the end-to-end tests' Stack start the web process with `argv()`. A plain
`daphne config.asgi:application` still works, but reads every body whole before Django's check.
"""

import daphne.server  # noqa: F401 - first: installs the asyncio reactor before anything imports Twisted's

import os
import sys
from functools import partial

from daphne.cli import CommandLineInterface

from config.patches.daphne_limits import LimitedServer

APPLICATION = "config.asgi:application"


def argv(host: str, port: int, *options: str) -> list[str]:
    """The command that starts the web process on host:port (extra daphne options before the app)."""
    return [sys.executable, "-m", "config.web", "-b", host, "-p", str(port), *options, APPLICATION]


def limits() -> tuple[int, int]:
    """(largest request body, largest websocket message) in bytes, from the settings; both positive."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    body, message = settings.MAX_BODY_BYTES, settings.MAX_WS_MESSAGE_BYTES
    if body <= 0:
        raise ImproperlyConfigured(f"QUERENT_MAX_BODY_BYTES must be positive, got {body}")
    if message <= 0:
        raise ImproperlyConfigured(f"QUERENT_MAX_WS_MESSAGE_BYTES must be positive, got {message}")
    return body, message


class CommandLine(CommandLineInterface):
    description = "Querent web server: daphne with request body and websocket message limits"

    def run(self, args):
        body, message = limits()
        self.server_class = partial(LimitedServer, max_body_bytes=body)
        # Given first, so an explicit option on the command line still wins (argparse keeps the last).
        defaults = ["--websocket-max-message-size", str(message), "--websocket-max-frame-size", str(message)]
        super().run([*defaults, *args])


if __name__ == "__main__":
    CommandLine.entrypoint()
