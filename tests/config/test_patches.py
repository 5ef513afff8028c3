"""config/patches: each override still has something to override, in the versions it was read against.

A library upgrade fails here first, naming what to re-check; the behaviour each patch exists for is
tested end to end where its docstring says (tests/faults/test_redis_restart.py for the worker's
reconnect, tests/config/test_body_limits.py and test_web_launcher.py for daphne's limits); the schema
patterns are checked here, on a schema generated for a probe serializer.
"""

import inspect
from importlib.metadata import version

import pytest

from celery.worker.consumer import Consumer
from django.conf import settings
from drf_spectacular.utils import extend_schema
from kombu import Connection
from kombu.transport import redis as kombu_redis
from rest_framework import serializers
from rest_framework.views import APIView

from config.celery import app
from config.patches import celery_reconnect, daphne_limits, django_asgi, django_middleware, spectacular_patterns


@pytest.mark.parametrize("patch", [celery_reconnect, django_asgi, django_middleware, spectacular_patterns], ids=lambda m: m.__name__)
def test_each_patch_was_checked_against_the_installed_versions(patch):
    installed = {name: version(name) for name in patch.CHECKED_AGAINST}
    assert installed == patch.CHECKED_AGAINST, f"re-check {patch.__file__} against these versions"


def test_the_package_lists_every_patch_module():
    from pathlib import Path

    import config.patches

    modules = sorted(p.stem for p in Path(config.patches.__file__).parent.glob("*.py") if p.stem != "__init__")
    assert modules == sorted(m.__name__.rsplit(".", 1)[1] for m in (celery_reconnect, daphne_limits, django_asgi, django_middleware, spectacular_patterns))
    assert all(f"{name}.py" in config.patches.__doc__ for name in modules)


def test_the_web_process_runs_the_pooled_handler_and_the_inline_middleware():
    from pathlib import Path

    # Read, not imported: importing config.asgi disconnects signal receivers and freezes the heap.
    asgi = (Path(django_asgi.__file__).parents[1] / "asgi.py").read_text()
    assert "from config.patches.django_asgi import get_asgi_application" in asgi
    assert all(not m.startswith("config.inline") for m in settings.MIDDLEWARE)
    assert sum(m.startswith("config.patches.django_middleware.") for m in settings.MIDDLEWARE) == 8


def test_the_worker_runs_the_reconnecting_consumer():
    assert settings.CELERY_WORKER_CONSUMER == "config.patches.celery_reconnect:ReconnectingConsumer"
    assert app.conf.worker_consumer == settings.CELERY_WORKER_CONSUMER
    assert issubclass(celery_reconnect.ReconnectingConsumer, Consumer)


def test_the_hooks_the_reconnect_overrides_are_where_it_expects_them():
    # 1. Celery calls this on a lost connection and collects, then closes, the broken connection there.
    source = inspect.getsource(Consumer.on_connection_error_after_connected)
    assert "self.connection.collect(" in source and "connection.close" in source
    # 2. kombu closes the default channel through maybe_close_channel, looked up on the instance.
    assert "self.maybe_close_channel(self._default_channel)" in inspect.getsource(Connection)
    # 3. The Redis channel's synchronous commands (acks included) borrow a client through conn_or_acquire.
    assert "conn_or_acquire" in inspect.getsource(kombu_redis.QoS)


class ProbeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=10)
    raw = serializers.CharField(trim_whitespace=False)
    note = serializers.CharField(allow_blank=True, required=False)
    email = serializers.EmailField()
    tags = serializers.ListField(child=serializers.CharField())


class _ProbeApi(APIView):
    @extend_schema(request=ProbeSerializer, responses=ProbeSerializer)
    def post(self, request):  # pragma: no cover - only documented, never called
        raise NotImplementedError


def test_request_strings_carry_what_charfield_refuses():
    from django.urls import path
    from drf_spectacular.generators import SchemaGenerator

    assert settings.REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] == "config.patches.spectacular_patterns.PatternsAutoSchema"
    schema = SchemaGenerator(patterns=[path("probe", _ProbeApi.as_view())]).get_schema(request=None, public=True)
    request, response = (schema["components"]["schemas"][name]["properties"] for name in ("ProbeRequest", "Probe"))
    not_blank, not_empty = spectacular_patterns.NOT_BLANK, spectacular_patterns.NOT_EMPTY
    assert request["name"] == {"type": "string", "minLength": 1, "maxLength": 10, "pattern": not_blank}
    assert request["raw"]["pattern"] == not_empty  # not trimmed: spaces are a value
    assert request["note"] == {"oneOf": [{"type": "string", "pattern": not_empty}, {"type": "string", "maxLength": 0}]}
    assert request["email"] == {"type": "string", "format": "email", "minLength": 1}  # its own format, no pattern
    assert request["tags"]["items"]["pattern"] == not_blank
    assert all("pattern" not in field for field in response.values())  # a response promises nothing of the kind


def test_the_hook_the_schema_patterns_override_is_where_it_expects_it():
    from drf_spectacular.openapi import AutoSchema

    assert list(inspect.signature(AutoSchema._map_serializer_field).parameters) == [
        "self", "field", "direction", "bypass_extensions",
    ]
    # default_serializer_schema's call (the default schema the serializer extensions build on).
    assert list(inspect.signature(AutoSchema._map_serializer).parameters) == [
        "self", "serializer", "direction", "bypass_extensions",
    ]
    # Every field of a serializer is mapped through it, before its validators add their own pattern.
    source = inspect.getsource(AutoSchema._map_basic_serializer)
    mapped, validated = source.find("self._map_serializer_field(field, direction)"), source.find("self._insert_field_validators(field, schema)")
    assert 0 <= mapped < validated
