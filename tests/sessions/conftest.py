import uuid

import httpx
import pytest

from assistants.models import ApiKey
from executor.models import DataSource


@pytest.fixture
def shared_demo(transactional_db, demo_pg_url):
    """The Chinook demo as a shared data source, committed so the live processes see it."""
    data_source = DataSource(
        name="Chinook demo", engine="postgresql", connection_url=demo_pg_url, actions=["issue_credit"], shared=True
    )
    data_source.tenant, data_source.owner = "system", "system"
    data_source.save()
    return data_source


@pytest.fixture
def service_token(transactional_db):
    """A service key: it may act for any tenant, chosen per request with X-Tenant-ID."""
    _, token = ApiKey.issue(name="bi-backend", tenant="service", user_id=f"svc-{uuid.uuid4().hex[:6]}", can_act_for_any_tenant=True)
    return token


class Api:
    """httpx calls against the live stack with one credential (and optionally one tenant)."""

    def __init__(self, base_url: str, token: str | None, tenant: str | None = None):
        self.base_url = base_url
        self.headers = {}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if tenant:
            self.headers["X-Tenant-ID"] = tenant

    def request(self, method: str, path: str, *, headers: dict | None = None, timeout: float = 60, **kwargs) -> httpx.Response:
        return httpx.request(method, f"{self.base_url}{path}", headers={**self.headers, **(headers or {})}, timeout=timeout, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)
