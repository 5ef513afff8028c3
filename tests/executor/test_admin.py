"""The DataSource admin: masked URL, filters, test-connection action, schema preview."""

import pytest
from django.urls import reverse

from executor.models import DataSource

SECRET = "adm1n-pa55word"


@pytest.fixture
def secret_source(db, demo_pg_url):
    url = demo_pg_url.replace("postgres@", f"postgres:{SECRET}@", 1)  # trust auth ignores the password
    return DataSource.objects.create(tenant="acme", owner="alice", name="Warehouse", engine="postgresql",
                                     connection_url=url, actions=["issue_credit"])


def test_changelist_masks_the_url_and_filters(admin_client, secret_source):
    response = admin_client.get(reverse("admin:executor_datasource_changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Warehouse" in html and "postgres:***@" in html and SECRET not in html
    filtered = admin_client.get(reverse("admin:executor_datasource_changelist") + "?engine__exact=sqlite")
    assert "Warehouse" not in filtered.content.decode().split("<tbody>")[-1]
    found = admin_client.get(reverse("admin:executor_datasource_changelist") + "?q=wareh")
    assert "Warehouse" in found.content.decode()


def test_change_page_previews_schema_without_the_secret(admin_client, secret_source):
    response = admin_client.get(reverse("admin:executor_datasource_change", args=[secret_source.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert SECRET not in html
    assert "invoice_line" in html and "issue_credit" in html


def test_saving_with_an_empty_url_keeps_the_stored_one(admin_client, secret_source):
    url = reverse("admin:executor_datasource_change", args=[secret_source.pk])
    data = {
        "name": "Warehouse 2", "tenant": "acme", "owner": "alice", "engine": "postgresql", "connection_url": "",
        "actions": '["issue_credit"]', "row_limit": 100, "statement_timeout_s": 10, "metadata": "{}",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    secret_source.refresh_from_db()
    assert secret_source.name == "Warehouse 2" and SECRET in secret_source.connection_url


def test_add_page_requires_a_url_and_validates_the_engine(admin_client, db):
    url = reverse("admin:executor_datasource_add")
    assert admin_client.get(url).status_code == 200
    data = {"name": "X", "tenant": "t", "owner": "o", "engine": "postgresql", "connection_url": "",
            "actions": "[]", "row_limit": 10, "statement_timeout_s": 5, "metadata": "{}"}
    assert admin_client.post(url, data).status_code == 200  # form shown again with the error
    assert not DataSource.objects.exists()


def test_test_connection_action(admin_client, secret_source):
    down = DataSource.objects.create(tenant="acme", owner="alice", name="Down", engine="postgresql",
                                     connection_url=f"postgresql://u:{SECRET}@127.0.0.1:1/x")
    response = admin_client.post(
        reverse("admin:executor_datasource_changelist"),
        {"action": "test_connections", "_selected_action": [secret_source.pk, down.pk]},
        follow=True,
    )
    html = response.content.decode().lower()  # the admin capitalises messages
    assert "connected to data source &#x27;warehouse&#x27;" in html
    assert "could not connect to data source &#x27;down&#x27;" in html
    assert SECRET.lower() not in html


def test_refresh_schema_action(admin_client, secret_source):
    response = admin_client.post(
        reverse("admin:executor_datasource_changelist"),
        {"action": "refresh_schemas", "_selected_action": [secret_source.pk]},
        follow=True,
    )
    assert "12 tables introspected" in response.content.decode()
    secret_source.refresh_from_db()
    assert secret_source.schema_refreshed_at is not None


def test_test_connection_button_refuses_querents_own_database(admin_client, secret_source):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("services mode: the app database is PostgreSQL")
    params = connection.settings_dict
    own = DataSource.objects.create(tenant="acme", owner="alice", name="Own", engine="postgresql",
                                    connection_url=f"postgresql://postgres@2130706433:{params.get('PORT') or 5432}/{params['NAME']}")
    response = admin_client.post(
        reverse("admin:executor_datasource_changelist"),
        {"action": "test_connections", "_selected_action": [own.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "belongs to Querent itself" in html and "django_session" not in html
