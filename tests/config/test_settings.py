"""Settings come from the environment only: each case runs a fresh interpreter with its own env."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Each case runs a fresh interpreter with an environment of its own, whatever the pass.
pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "broker": settings.CELERY_BROKER_URL,
    "layer": settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND"),
    "dev_auth": settings.DEV_AUTH,
    "debug": settings.DEBUG,
    "model": settings.QUERENT_MODEL,
    "max_body": settings.MAX_BODY_BYTES,
    "embedded": settings.EMBEDDED,
}))
"""


def probe(tmp_path, **env):
    clean = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings", "QUERENT_VAR_DIR": str(tmp_path)}
    clean.update(env)
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)
    return result


def test_embedded_defaults(tmp_path):
    result = probe(tmp_path, QUERENT_DEBUG="1")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["db_name"] == str(tmp_path / "querent.sqlite3")
    assert values["broker"].startswith("querent-sqla+sqlite:///")
    assert values["layer"] is None
    assert values["embedded"] is True
    assert values["dev_auth"] is False  # off unless asked for


def test_services_mode(tmp_path):
    result = probe(
        tmp_path,
        QUERENT_SECRET_KEY="x",
        DATABASE_URL="postgres://u:p@db.example:5433/q",
        REDIS_URL="redis://cache.example:6379/3",
        QUERENT_DEV_AUTH="true",
        QUERENT_MODEL="my-model",
        QUERENT_MAX_BODY_BYTES="1234",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql"  # Django's own backend, psycopg_pool's own check
    assert values["db_name"] == "q"
    assert values["broker"] == "redis://cache.example:6379/3"
    assert values["layer"] is None  # websockets need no channel layer (threads.hub wakes them)
    assert values["dev_auth"] is True
    assert values["model"] == "my-model"
    assert values["max_body"] == 1234
    assert values["embedded"] is False


def test_secret_key_required_outside_debug(tmp_path):
    result = probe(tmp_path)
    assert result.returncode != 0
    assert "QUERENT_SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("name,value,message", [
    ("QUERENT_DEBUG", "maybe", "must be a boolean"),
    ("QUERENT_MAX_BODY_BYTES", "lots", "must be an integer"),
])
def test_bad_values_name_the_variable(tmp_path, name, value, message):
    env = {"QUERENT_SECRET_KEY": "x", name: value}
    result = probe(tmp_path, **env)
    assert result.returncode != 0
    assert name in result.stderr and message in result.stderr
