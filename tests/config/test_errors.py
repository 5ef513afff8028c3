import pytest
from django.test import override_settings

from assistants.models import ApiKey

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.config.urls")]


@pytest.fixture
def client(client):
    _, token = ApiKey.issue(name="t", tenant="acme", user_id="alice")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def test_unknown_path_is_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["detail"] == "Not found: /no/such/thing"


def test_wrong_method_is_json_405(client):
    response = client.delete("/api/test/echo")
    assert response.status_code == 405
    assert "DELETE" in response.json()["detail"]


def test_malformed_json_is_400_naming_the_problem(client):
    response = client.post("/api/test/echo", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_wrong_content_type_is_415(client):
    response = client.post("/api/test/echo", data="a=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


@override_settings(MAX_BODY_BYTES=1000, DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_oversized_body_is_413(client):
    response = client.post("/api/test/echo", data='{"x": "' + "a" * 5000 + '"}', content_type="application/json")
    assert response.status_code == 413
    assert "exceeds the limit of 1000 bytes" in response.json()["detail"]


def test_valid_json_passes(client):
    response = client.post("/api/test/echo", data={"x": 1}, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"received": {"x": 1}}


def test_drf_crash_is_json_500_without_internals(client):
    client.raise_request_exception = False
    response = client.get("/api/test/explode")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}


def test_plain_view_crash_is_json_500(client):
    client.raise_request_exception = False
    response = client.get("/api/test/plain-explode")
    assert response.status_code == 500
    assert response.json()["detail"] == "Internal server error."
    assert "plain boom" not in response.content.decode()


def test_unauthenticated_is_json_401(db):
    from django.test import Client

    response = Client().get("/api/v1/me")
    assert response.status_code == 401
    assert "Authentication required" in response.json()["detail"] or "credentials" in response.json()["detail"]


def test_admin_login_page_stays_html(db):
    from django.test import Client

    response = Client().get("/admin/login/")
    assert response.status_code == 200
    assert "text/html" in response["Content-Type"]


@pytest.mark.parametrize("path, method, allowed", [
    ("/threads", "patch", "GET, POST"),
    ("/runs/stream", "get", "POST"),
])
def test_an_async_views_405_names_the_methods_it_serves(client, path, method, allowed):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response.json()["detail"].endswith(f"allowed: {allowed}")
