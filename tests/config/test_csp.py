"""The Content-Security-Policy middleware, the security headers and QUERENT_HTTPS."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory

from config.csp import HEADER, NOT_HTML, policy_for

ROOT = Path(__file__).resolve().parents[2]


def directives(policy: str) -> dict:
    return dict(directive.split(" ", 1) for directive in policy.split("; "))


def html(status: int = 200) -> HttpResponse:
    return HttpResponse("<!doctype html><title>x</title>", status=status)


def test_pages_get_the_strict_policy_with_their_own_websocket_origin(settings):
    settings.ALLOWED_HOSTS = ["chat.example"]
    request = RequestFactory().get("/", HTTP_HOST="chat.example:8443")
    policy = directives(policy_for(request, html()))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'" and policy["img-src"] == "'self'"
    assert policy["connect-src"] == "'self' ws://chat.example:8443"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    secure = RequestFactory().get("/", HTTP_HOST="chat.example", secure=True)
    assert directives(policy_for(secure, html()))["connect-src"] == "'self' wss://chat.example"


def test_admin_gets_style_attributes_only_and_docs_inline_styles_and_data_images():
    factory = RequestFactory()
    admin = directives(policy_for(factory.get("/admin/threads/thread/"), html()))
    assert admin["style-src"] == "'self'" and admin["style-src-attr"] == "'unsafe-inline'"
    assert admin["script-src"] == "'self'"
    docs = directives(policy_for(factory.get("/api/docs/"), html()))
    assert docs["style-src"] == "'self' 'unsafe-inline'" and docs["img-src"] == "'self' data:"
    assert docs["script-src"] == "'self'"


def test_what_is_not_html_may_load_nothing():
    request = RequestFactory().get("/threads")
    assert policy_for(request, JsonResponse({"a": 1})) == NOT_HTML
    assert policy_for(request, HttpResponse("<svg/>", content_type="image/svg+xml")) == NOT_HTML


def test_a_policy_a_view_set_is_kept_and_a_bad_host_gets_no_websocket_source(settings):
    response = html()
    response[HEADER] = "default-src 'none'"
    assert policy_for(RequestFactory().get("/"), response) is None
    settings.ALLOWED_HOSTS = ["querent.example"]
    policy = directives(policy_for(RequestFactory().get("/", HTTP_HOST="evil.example"), html(400)))
    assert policy["connect-src"] == "'self'"


def test_debug_error_pages_keep_their_inline_styles(settings):
    settings.DEBUG = True
    assert policy_for(RequestFactory().get("/accounts/nope"), html(404)) is None
    assert policy_for(RequestFactory().get("/"), html(200)) is not None


def test_the_middleware_sets_the_headers(client):
    response = client.get("/accounts/login")
    assert response.status_code == 200
    assert "script-src 'self'" in response[HEADER]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert client.get("/ok")[HEADER] == NOT_HTML


HTTPS_PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client()
plain = client.get("/accounts/login")
proxied = client.get("/accounts/login", HTTP_X_FORWARDED_PROTO="https")
health = client.get("/ok")
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "proxied": [proxied.status_code, proxied.get("Strict-Transport-Security"), proxied.get("Content-Security-Policy")],
    "csrf_cookie_secure": bool(proxied.cookies["csrftoken"]["secure"]),
    "health": health.status_code,
}))
"""


def https_probe(tmp_path, **env) -> dict:
    clean = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings", "QUERENT_VAR_DIR": str(tmp_path),
             "QUERENT_SECRET_KEY": "x" * 50, "QUERENT_ALLOWED_HOSTS": "testserver", **env}
    result = subprocess.run([sys.executable, "-c", HTTPS_PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_behind_https_hsts_redirects_and_secure_cookies(tmp_path):
    found = https_probe(tmp_path, QUERENT_HTTPS="1")
    assert found["plain"] == [301, "https://testserver/accounts/login"]
    status, hsts, policy = found["proxied"]
    assert status == 200 and hsts == "max-age=31536000"
    assert "connect-src 'self' wss://testserver" in policy
    assert found["csrf_cookie_secure"] is True
    assert found["health"] == 200  # load balancers' plain-HTTP health checks are not redirected


def test_without_https_no_hsts_no_redirect(tmp_path):
    found = https_probe(tmp_path)
    assert found["plain"] == [200, None]
    assert found["proxied"][1] is None
    assert found["csrf_cookie_secure"] is False
