import pytest

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
