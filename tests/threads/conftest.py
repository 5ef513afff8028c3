import pytest

from config.identity import Principal
from executor.models import DataSource
from threads.models import Thread


@pytest.fixture
def thread():
    """A thread owned by acme/alice, in whichever database the test's django_db marker gives."""
    thread = Thread(name="t")
    thread.assign_owner(Principal("acme", "alice"))
    thread.save()
    return thread


@pytest.fixture
def shared_demo(transactional_db, fresh_demo_pg_url):
    """A private copy of the Chinook demo as a shared data source, committed so the live processes
    see it (a copy: these tests approve writes, and the session's demo stays as it is)."""
    data_source = DataSource(
        name="Chinook demo", engine="postgresql", connection_url=fresh_demo_pg_url, actions=["issue_credit"], shared=True
    )
    data_source.tenant, data_source.owner = "system", "system"
    data_source.save()
    return data_source
