"""Fixtures for the Dataherald dialect: principals, API clients, an in-process worker (eager Celery)
and the model settings (scripted LLM, or none configured)."""

import uuid

import pytest
from rest_framework.test import APIClient

from config.celery import app as celery_app
from config.identity import Principal
from executor.dsn import engine_from_url
from executor.models import DataSource


def principal(user_id: str | None = None, tenant: str = "acme", *, admin: bool = False) -> Principal:
    return Principal(tenant=tenant, user_id=user_id or f"user-{uuid.uuid4().hex[:8]}", source="api_key", is_tenant_admin=admin)


def client_for(who: Principal) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=who)
    return client


@pytest.fixture
def alice():
    """A tenant admin of acme: she creates database connections."""
    return principal("alice", admin=True)


@pytest.fixture
def bob():
    return principal("bob")


@pytest.fixture
def api(alice):
    return client_for(alice)


@pytest.fixture
def eager_worker():
    """Tasks run inside the test, as a worker would run them."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def model(llm, settings):
    """The scripted OpenAI-compatible server as the configured model."""
    settings.OPENAI_BASE_URL = llm.base_url
    settings.OPENAI_API_KEY = "sk-scripted-test-key"
    settings.QUERENT_MODEL = "gpt-4o-mini"
    settings.LLM_MAX_RETRIES = 0
    return llm


@pytest.fixture
def no_model(settings):
    settings.OPENAI_BASE_URL = None
    settings.OPENAI_API_KEY = None
    return settings


@pytest.fixture
def exports_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.CSV_S3_BUCKET = None
    return tmp_path / "exports"


def make_source(owner: Principal, url: str, *, name: str = "chinook", shared: bool = False) -> DataSource:
    source = DataSource(name=name, engine=engine_from_url(url), connection_url=url, shared=shared)
    source.assign_owner(owner)
    source.full_clean()
    source.save()
    return source


@pytest.fixture
def pg_source(db, alice, demo_pg_url):
    return make_source(alice, demo_pg_url)


@pytest.fixture
def sqlite_source(db, alice, demo_sqlite_url):
    return make_source(alice, demo_sqlite_url, name="chinook-sqlite")
