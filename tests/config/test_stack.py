"""The real processes: daphne + Celery worker on PostgreSQL and Redis answer health, admin and docs."""

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_health_reports_every_part(stack):
    body = httpx.get(f"{stack.base_url}/health", timeout=10).json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "worker"}
    assert all(check["ok"] for check in body["checks"].values())


def test_admin_login_served(stack):
    response = httpx.get(f"{stack.base_url}/admin/login/", timeout=10)
    assert response.status_code == 200
    assert "Django administration" in response.text or "Querent" in response.text


def test_static_files_served_by_daphne(stack):
    response = httpx.get(f"{stack.base_url}/static/admin/css/base.css", timeout=10)
    assert response.status_code == 200
    assert "text/css" in response.headers["content-type"]


def test_openapi_schema(stack):
    response = httpx.get(f"{stack.base_url}/api/schema/", timeout=10, headers={"Accept": "application/json"})
    assert response.status_code == 200


def test_unknown_route_json_404_over_http(stack):
    response = httpx.get(f"{stack.base_url}/definitely/not/here", timeout=10)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_unauthenticated_api_is_401(stack):
    response = httpx.get(f"{stack.base_url}/api/v1/me", timeout=10)
    assert response.status_code == 401
