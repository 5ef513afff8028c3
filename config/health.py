"""Liveness of the pieces a run needs: database, broker, and at least one worker consuming."""

import time

from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.response import Response

from .celery import app as celery_app, ping


def check_database() -> dict:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def check_broker() -> dict:
    started = time.monotonic()
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def check_worker(timeout: float = 5.0) -> dict:
    started = time.monotonic()
    try:
        result = ping.apply_async(args=["health"], expires=timeout)
        reply = result.get(timeout=timeout, propagate=True, interval=0.05)
        result.forget()
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1), "worker": reply.get("worker")}


_CHECK = {"type": "object", "required": ["ok"], "properties": {
    "ok": {"type": "boolean"}, "ms": {"type": "number"}, "error": {"type": "string"}, "worker": {"type": "string", "nullable": True}}}
_HEALTH = {"type": "object", "required": ["status", "checks"], "properties": {
    "status": {"type": "string", "enum": ["ok", "degraded"]},
    "checks": {"type": "object", "required": ["database", "broker"],
               "properties": {"database": _CHECK, "broker": _CHECK, "worker": _CHECK}}}}


@extend_schema(summary="Database, broker and worker reachability", responses={
    200: OpenApiResponse(_HEALTH, description="Every check passed"), 503: OpenApiResponse(_HEALTH, description="A check failed")})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def health(request):
    checks = {"database": check_database(), "broker": check_broker()}
    if request.query_params.get("worker", "1") != "0" and checks["broker"]["ok"]:
        checks["worker"] = check_worker()
    healthy = all(check["ok"] for check in checks.values())
    return Response({"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503)


@extend_schema(summary="Liveness without touching anything", responses={200: OpenApiResponse(
    {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean", "enum": [True]}}}, description="Alive")})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def ok(request):
    """OpenGPTs' liveness probe: answers without touching anything."""
    return Response({"ok": True})
