"""JSON log lines for production, with secrets scrubbed from every message."""

import contextvars
import json
import logging
import re
from contextlib import contextmanager
from datetime import datetime, timezone

# Ids of what the current thread of execution works on (a run, a thread): every log line carries them.
_context: contextvars.ContextVar[dict] = contextvars.ContextVar("querent_log_context", default={})


@contextmanager
def log_context(**ids):
    token = _context.set({**_context.get(), **{k: str(v) for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)

# Connection URLs with passwords, bearer tokens and API keys never reach a log line.
_SECRET_PATTERNS = [
    (re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]+)@", re.I), r"\g<scheme>\g<user>:***@"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]+", re.I), r"\1***"),
    (re.compile(r"\b(qk_[a-z0-9]+_)[A-Za-z0-9_\-]+"), r"\1***"),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), "sk-***"),
]


def scrub(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class PlainFormatter(logging.Formatter):
    """Development log lines (`make run`): readable, and scrubbed like the JSON ones."""

    def __init__(self, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s", **kwargs):
        super().__init__(fmt, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    CONTEXT_KEYS = ("run_id", "thread_id", "task_id", "tenant", "user_id", "confirmation_id")

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        payload.update(_context.get())
        for key in self.CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = str(value)
        if record.exc_info:
            payload["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)
