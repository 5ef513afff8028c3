import pytest

from assistants.models import ApiKey, Assistant
from config.identity import Principal
from tests.support.sources import tenant_source
from threads.models import Thread


@pytest.fixture
def thread():
    """A thread owned by acme/alice, in whichever database the test's django_db marker gives."""
    thread = Thread(name="t")
    thread.assign_owner(Principal("acme", "alice"))
    thread.save()
    return thread


@pytest.fixture
def caller():
    """acme/alice's API key as request headers, with an assistant and a thread of hers (for in-process calls)."""
    _, token = ApiKey.issue(name="in-process", tenant="acme", user_id="alice")
    assistant = Assistant.objects.create(tenant="acme", owner="alice", name="a")
    thread = Thread.objects.create(tenant="acme", owner="alice", assistant=assistant, name="t")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}, assistant, thread


@pytest.fixture
def tenant_demo(transactional_db, fresh_demo_url):
    """A private copy of the Chinook demo as tenant acme's tenant-wide data source (every api_user()
    may use it), committed so the live processes see it. A copy: these tests approve writes, and
    a write needs a source that is not shared with every tenant (those are read-only). PostgreSQL in
    the services pass, SQLite in the embedded pass."""
    return tenant_source(fresh_demo_url, tenant="acme")
