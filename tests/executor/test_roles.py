"""Who may do what with a data source (DESIGN §9): tenant admins create and change them, `shared`
is the operator's alone and read-only for everyone, `tenant_wide` opens one to the whole tenant,
and every use is checked as a data source. The end-to-end proof is tests/config/test_trust_roles_e2e.py."""

import sqlite3

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from config.identity import Principal
from executor.demo import COPY_OWNER, ensure_demo_data_source, tenant_demo_copy
from executor.dsn import sqlite_path
from executor.errors import DataSourceUnavailable, ReadOnlySource, TenantAdminRequired
from executor.models import DataSource
from executor.selectors import data_source_for_use, data_source_get
from executor.services import NeedsConfirmation, data_source_create, data_source_delete, data_source_update, run_sql

from .helpers import Approval, source

ADMIN = Principal("acme", "ada", is_tenant_admin=True)
MEMBER = Principal("acme", "max")
MATE = Principal("acme", "mia")
OUTSIDER = Principal("globex", "olga", is_tenant_admin=True)
URL = "postgresql://analyst:pw@db.example.com:5432/sales"


def row(owner: Principal, **fields) -> DataSource:
    data_source = DataSource(name=fields.pop("name", "db"), engine="postgresql", connection_url=URL, **fields)
    data_source.assign_owner(owner)
    data_source.save()
    return data_source


@pytest.mark.django_db
class TestTenantAdminRole:
    def test_a_member_cannot_create_change_or_delete(self):
        with pytest.raises(TenantAdminRequired, match="tenant-admin role") as info:
            data_source_create(principal=MEMBER, name="mine", connection_url=URL)
        assert info.value.code == "tenant_admin_required" and isinstance(info.value, PermissionDenied)
        own = row(MEMBER)  # made by the operator for them, say
        with pytest.raises(TenantAdminRequired):
            data_source_update(own, principal=MEMBER, name="renamed")
        with pytest.raises(TenantAdminRequired):
            data_source_delete(own, principal=MEMBER)
        assert DataSource.objects.filter(pk=own.pk, name="db").exists()

    def test_an_admin_creates_private_by_default_and_tenant_wide_on_request(self):
        private = data_source_create(principal=ADMIN, name="private", connection_url=URL)
        team = data_source_create(principal=ADMIN, name="team", connection_url=URL, tenant_wide=True)
        assert (private.tenant_wide, private.shared, team.tenant_wide, team.shared) == (False, False, True, False)

    def test_shared_is_never_set_through_the_service(self):
        with pytest.raises(ValidationError) as info:
            data_source_create(principal=ADMIN, name="everyone's", connection_url=URL, shared=True)
        assert "shared" in info.value.message_dict and "operator" in info.value.message_dict["shared"][0]
        mine = data_source_create(principal=ADMIN, name="mine", connection_url=URL)
        with pytest.raises(ValidationError):
            data_source_update(mine, principal=ADMIN, shared=True)
        mine.refresh_from_db()
        assert mine.shared is False

    def test_tenant_admins_manage_their_tenants_tenant_wide_sources_only(self):
        other_admin = Principal("acme", "abe", is_tenant_admin=True)
        private = row(ADMIN, name="ada's")
        team = row(ADMIN, name="team", tenant_wide=True)
        data_source_update(team, principal=other_admin, name="team, renamed")
        with pytest.raises(PermissionDenied):
            data_source_update(private, principal=other_admin, name="taken over")
        with pytest.raises(PermissionDenied):
            data_source_delete(team, principal=OUTSIDER)
        shared = row(ADMIN, name="demo", shared=True)
        with pytest.raises(PermissionDenied, match="operator only"):
            data_source_update(shared, principal=ADMIN, name="mine now")


@pytest.mark.django_db
def test_usable_by_is_own_tenant_wide_in_the_tenant_or_shared():
    own = row(MEMBER, name="own")
    mates_private = row(MATE, name="mate's private")
    mates_team = row(MATE, name="mate's team", tenant_wide=True)
    foreign_team = row(OUTSIDER, name="globex team", tenant_wide=True)
    shared = row(OUTSIDER, name="demo", shared=True)
    assert set(DataSource.objects.usable_by(MEMBER)) == {own, mates_team, shared}
    assert set(DataSource.objects.usable_by(OUTSIDER)) == {foreign_team, shared}
    for data_source in (own, mates_private, mates_team, foreign_team, shared):
        # The in-memory rule and the queryset say the same.
        assert data_source.is_usable_by(MEMBER) == DataSource.objects.usable_by(MEMBER).filter(pk=data_source.pk).exists()
    assert data_source_get(MEMBER, mates_team.id) == mates_team
    assert data_source_for_use(MEMBER, mates_team) is mates_team
    assert data_source_for_use(MEMBER, None) is None
    with pytest.raises(DataSourceUnavailable, match="'mate's private'.*not available to you") as info:
        data_source_for_use(MEMBER, mates_private)
    assert info.value.code == "data_source_unavailable"
    with pytest.raises(DataSourceUnavailable):
        data_source_for_use(MEMBER, foreign_team)


# --- the shared demo is read-only for everyone ---------------------------------------------


@pytest.fixture
def sqlite_dirs(settings, fresh_demo_sqlite_url):
    """The operator allows the folder the demo copies of these tests are in."""
    settings.SQLITE_DATA_SOURCE_DIRS = [str(sqlite_path(fresh_demo_sqlite_url).parent)]


def test_a_write_on_a_shared_source_is_refused_before_anyone_is_asked(fresh_demo_sqlite_url, sqlite_dirs):
    shared = source(fresh_demo_sqlite_url, shared=True, metadata={"demo": "chinook"})
    update = "UPDATE artist SET name = 'Tenant B was here' WHERE id = 1"
    with pytest.raises(ReadOnlySource, match="shared demo database is read-only"):
        run_sql(shared, update)
    with pytest.raises(ReadOnlySource):  # an approval (however it was got) never runs on it
        run_sql(shared, update, approval=Approval(update))
    with pytest.raises(ReadOnlySource):  # a declared action is a write too
        run_sql(shared, "SELECT issue_credit(1, 5)", approval=Approval("SELECT issue_credit(1, 5)"))
    assert run_sql(shared, "SELECT name FROM artist WHERE id = 1").rows == [{"name": "AC/DC"}]
    # The same statement on a source that is not shared asks, and runs once approved.
    own = source(fresh_demo_sqlite_url)
    with pytest.raises(NeedsConfirmation):
        run_sql(own, update)
    run_sql(own, update, approval=Approval(update))
    assert run_sql(shared, "SELECT name FROM artist WHERE id = 1").rows == [{"name": "Tenant B was here"}]


def test_a_shared_source_that_is_not_the_demo_says_its_name(fresh_demo_sqlite_url, sqlite_dirs):
    shared = source(fresh_demo_sqlite_url, shared=True, name="Company catalogue")
    with pytest.raises(ReadOnlySource, match="shared data source 'Company catalogue' is read-only"):
        run_sql(shared, "DELETE FROM artist")


# --- each tenant's writable copy of an SQLite demo -----------------------------------------


@pytest.fixture
def sqlite_demo(db, settings, tmp_path, fresh_demo_sqlite_url):
    settings.VAR_DIR = tmp_path / "var"
    settings.SQLITE_DATA_SOURCE_DIRS = []  # the default: VAR_DIR/data, where the copies go
    settings.DEMO_DATABASE_URL = fresh_demo_sqlite_url
    return ensure_demo_data_source(Principal(settings.DEFAULT_TENANT, "system"), fresh_demo_sqlite_url)


def test_each_tenant_gets_its_own_writable_copy_of_the_sqlite_demo(sqlite_demo, settings):
    first = DataSource.objects.default_for(MEMBER)
    assert first != sqlite_demo and first.tenant == "acme" and first.owner == COPY_OWNER
    assert first.tenant_wide and not first.shared and first.metadata["tenant_demo_copy"] is True
    assert sqlite_path(first.connection_url).is_relative_to(settings.VAR_DIR / "data")
    assert DataSource.objects.default_for(MATE) == first  # one copy per tenant, reused
    assert tenant_demo_copy("acme") == first and DataSource.objects.filter(metadata__tenant_demo_copy=True).count() == 1
    globex = DataSource.objects.default_for(OUTSIDER)
    assert globex not in (first, sqlite_demo) and globex.tenant == "globex"
    assert first.is_usable_by(MATE) and not first.is_usable_by(OUTSIDER)

    # A change asks for approval on the copy, and stays in that tenant.
    update = "UPDATE artist SET name = 'acme only' WHERE id = 1"
    with pytest.raises(NeedsConfirmation):
        run_sql(first, update)
    run_sql(first, update, approval=Approval(update))
    assert run_sql(first, "SELECT name FROM artist WHERE id = 1").rows == [{"name": "acme only"}]
    assert run_sql(globex, "SELECT name FROM artist WHERE id = 1").rows == [{"name": "AC/DC"}]
    assert run_sql(sqlite_demo, "SELECT name FROM artist WHERE id = 1").rows == [{"name": "AC/DC"}]
    with pytest.raises(ReadOnlySource):
        run_sql(sqlite_demo, update)


def test_a_copy_is_never_overwritten_and_a_lost_file_is_made_again(sqlite_demo):
    copy = tenant_demo_copy("acme")
    path = sqlite_path(copy.connection_url)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE artist SET name = 'kept' WHERE id = 1")
    assert tenant_demo_copy("acme") == copy
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM artist WHERE id = 1").fetchone() == ("kept",)
    path.unlink()
    assert tenant_demo_copy("acme") == copy and path.exists()


@pytest.mark.django_db
def test_no_copy_without_a_shared_sqlite_demo():
    demo = row(Principal("default", "system"), name="Chinook demo", shared=True, metadata={"demo": "chinook"})
    assert tenant_demo_copy("acme") is None
    assert DataSource.objects.default_for(MEMBER) == demo  # the read-only demo, as before
