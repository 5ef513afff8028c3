"""DataSource: validation, secrecy of the URL, who may use and who may change it."""

import logging

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from config.identity import Principal
from executor.dsn import engine_from_url, mask_url
from executor.models import DataSource
from executor.selectors import data_source_get, data_source_get_owned, data_source_list
from executor.services import data_source_create, data_source_delete, data_source_update

# Tenant admins: creating and changing data sources needs the role (tests/executor/test_roles.py).
ALICE = Principal(tenant="acme", user_id="alice", is_tenant_admin=True)
BOB = Principal(tenant="acme", user_id="bob", is_tenant_admin=True)
EVE = Principal(tenant="evil", user_id="eve", is_tenant_admin=True)
SECRET_URL = "postgresql://analyst:s3cr3t-Pa55@db.example.com:5432/sales"


def make(principal=ALICE, **fields):
    fields.setdefault("name", "Sales")
    fields.setdefault("connection_url", SECRET_URL)
    if fields.pop("shared", False):  # only the operator shares with every tenant: not through the service
        return make_shared(principal, **fields)
    return data_source_create(principal=principal, **fields)


def make_shared(principal, **fields):
    data_source = DataSource(shared=True, **fields)
    data_source.engine = engine_from_url(data_source.connection_url)
    data_source.assign_owner(principal)
    data_source.save()
    return data_source


@pytest.mark.django_db
def test_defaults_and_engine_inferred_from_url():
    ds = make()
    assert ds.engine == "postgresql" and ds.row_limit == 10_000 and ds.statement_timeout_s == 30
    assert ds.actions == [] and ds.shared is False and ds.metadata == {}
    assert ds.tenant == "acme" and ds.owner == "alice"
    assert ds.created_at and ds.updated_at


@pytest.mark.django_db
def test_unsupported_engine_names_the_supported_ones():
    with pytest.raises(ValidationError) as info:
        make(engine="oracle", connection_url="oracle://u:p@h/db")
    text = str(info.value.message_dict)
    assert all(name in text for name in ("oracle", "postgresql", "sqlite", "mysql", "duckdb"))


@pytest.mark.django_db
def test_url_must_match_engine_and_be_supported():
    with pytest.raises(ValidationError, match="needs a sqlite URL"):
        make(engine="sqlite", connection_url=SECRET_URL)
    with pytest.raises(ValidationError, match="Unsupported connection URL"):
        make(connection_url="oracle://x/y")


@pytest.mark.django_db
def test_sqlalchemy_style_urls_are_accepted():
    assert make(connection_url="postgresql+psycopg2://u:p@h/db").engine == "postgresql"
    assert engine_from_url("postgres://h/db") == "postgresql"


@pytest.mark.django_db
def test_limits_and_actions_are_validated():
    for bad in ({"row_limit": 0}, {"statement_timeout_s": 0}, {"statement_timeout_s": 999_999}, {"actions": "issue_credit"}, {"actions": [1]}):
        with pytest.raises(ValidationError):
            make(**bad)
    assert make(actions=[" issue_credit ", "issue_credit", "refund"]).actions == ["issue_credit", "refund"]


@pytest.mark.django_db
def test_querents_own_database_cannot_be_a_data_source(settings, tmp_path):
    from django.db import connection

    params = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgresql://{params.get('USER') or 'postgres'}@{params.get('HOST') or 'localhost'}:{params.get('PORT') or 5432}/{params['NAME']}"
    else:
        url = f"sqlite:///{params['NAME']}"
    with pytest.raises(ValidationError, match="belongs to Querent itself"):
        make(connection_url=url)


@pytest.mark.django_db
def test_sqlite_files_in_var_are_off_limits_and_dirs_can_be_restricted(settings, tmp_path):
    # (in the embedded default that file is Querent's own broker, refused as such)
    with pytest.raises(ValidationError, match="operator's data directories|belongs to Querent itself|inside Querent's installation"):
        make(connection_url=f"sqlite:///{settings.VAR_DIR}/broker.sqlite3")
    settings.SQLITE_DATA_SOURCE_DIRS = [str(tmp_path / "allowed")]
    with pytest.raises(ValidationError):
        make(connection_url=f"sqlite:///{tmp_path}/other/x.db")
    assert make(connection_url=f"sqlite:///{tmp_path}/allowed/x.db").engine == "sqlite"


@pytest.mark.django_db
def test_url_never_in_str_repr_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    ds = make()
    assert "s3cr3t" not in str(ds) and "s3cr3t" not in repr(ds)
    assert ds.masked_url == "postgresql://analyst:***@db.example.com:5432/sales"
    assert "s3cr3t" not in caplog.text


def test_mask_url_variants():
    assert mask_url("postgres://u:p@h/db") == "postgres://u:***@h/db"
    assert mask_url("postgresql://h/db?user=u&password=p&sslmode=require") == "postgresql://h/db?user=u&password=***&sslmode=require"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("sqlite:////var/data/x.db") == "sqlite:////var/data/x.db"
    assert mask_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"


@pytest.mark.django_db
def test_usable_by_is_own_or_shared():
    own = make(name="mine")
    bobs = make(BOB, name="bob's")
    shared = make(BOB, name="demo", shared=True)
    foreign = make(EVE, name="eve's")
    assert set(DataSource.objects.usable_by(ALICE)) == {own, shared}
    assert set(DataSource.objects.usable_by(EVE)) == {foreign, shared}
    assert set(DataSource.objects.visible_to(ALICE)) == {own}
    assert list(data_source_list(ALICE)) == [own, shared]  # own first
    assert data_source_get(EVE, shared.id) == shared
    with pytest.raises(Http404):
        data_source_get(ALICE, bobs.id)
    with pytest.raises(Http404):
        data_source_get(ALICE, "not-a-uuid")
    with pytest.raises(Http404):
        data_source_get_owned(ALICE, shared.id)


@pytest.mark.django_db
def test_only_the_owner_changes_or_deletes():
    bobs = make(BOB, name="bob's")
    with pytest.raises(PermissionDenied):
        data_source_update(bobs, principal=ALICE, name="taken over")
    with pytest.raises(PermissionDenied):
        data_source_delete(bobs, principal=ALICE)
    data_source_update(bobs, principal=BOB, name="renamed", connection_url="sqlite:////tmp/querent-x.db")
    bobs.refresh_from_db()
    assert bobs.name == "renamed" and bobs.engine == "sqlite"
    data_source_delete(bobs, principal=BOB)
    assert not DataSource.objects.filter(pk=bobs.pk).exists()
    shared = make(BOB, name="demo", shared=True)
    with pytest.raises(PermissionDenied, match="operator only"):  # every tenant uses it: not even its owner
        data_source_update(shared, principal=BOB, name="renamed")


@pytest.mark.django_db
def test_unknown_fields_are_rejected():
    with pytest.raises(TypeError):
        make(password="x")
