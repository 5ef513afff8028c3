import json
import logging

from config.logging import JsonFormatter, log_context


def render(message, *args, **extra):
    record = logging.LogRecord("querent.test", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter().format(record))


def test_secrets_are_scrubbed():
    line = render("connecting to %s with %s and %s and %s", "postgres://app:hunter2@db:5432/q",
                  "Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl", "qk_0a1b2c3d_verysecretpart", "sk-abcdefghijklmnop")
    text = line["message"]
    for secret in ("hunter2", "eyJzdWIi", "verysecretpart", "abcdefghijklmnop"):
        assert secret not in text
    assert "postgres://app:***@db:5432/q" in text


def test_context_ids_are_attached_and_nested():
    with log_context(run_id="run-1"):
        with log_context(thread_id="thread-9"):
            inner = render("step")
        outer = render("after")
    outside = render("outside")
    assert inner["run_id"] == "run-1" and inner["thread_id"] == "thread-9"
    assert outer["run_id"] == "run-1" and "thread_id" not in outer
    assert "run_id" not in outside


def test_exceptions_are_scrubbed_too():
    try:
        raise RuntimeError("could not connect to postgres://u:pw123@h/db")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert "pw123" not in line["exc"]
