"""The context store in the admin: golden SQLs checked like the API checks them, edits reach the
next prompt, descriptions edited per table, a scan queued from the table list."""

import pytest
from django.urls import reverse

from config.identity import Principal
from executor.context.index import context_for
from executor.context.models import GoldenSql, Instruction, TableDescription
from executor.context.scan import scan
from executor.models import DataSource


@pytest.fixture
def source(db, demo_url):
    engine = "sqlite" if demo_url.startswith("sqlite:") else "postgresql"
    return DataSource.objects.create(tenant="acme", owner="alice", name="Chinook", engine=engine, connection_url=demo_url)


def test_golden_sql_form_refuses_a_write_and_saves_a_read(admin_client, source):
    url = reverse("admin:executor_goldensql_add")
    base = {"data_source": source.pk, "tenant": "acme", "owner": "alice", "prompt_text": "How many artists?", "source": "USER_UPLOAD", "metadata": "{}"}
    refused = admin_client.post(url, {**base, "sql": "DELETE FROM artist"})
    assert refused.status_code == 200 and "not a read-only query" in refused.content.decode()
    assert not GoldenSql.objects.exists()
    saved = admin_client.post(url, {**base, "sql": "SELECT count(*) FROM artist;"})
    assert saved.status_code == 302 and GoldenSql.objects.get().sql == "SELECT count(*) FROM artist"
    context = context_for(source, "How many artists are there?", Principal("acme", "alice"))
    assert context.examples[0].sql == "SELECT count(*) FROM artist"


def test_instruction_added_in_the_admin_reaches_the_prompt(admin_client, source):
    assert context_for(source, "artists", Principal("acme", "alice")).instructions == []
    response = admin_client.post(reverse("admin:executor_instruction_add"), {
        "data_source": source.pk, "tenant": "acme", "owner": "alice", "instruction": "Never list emails.", "metadata": "{}",
    })
    assert response.status_code == 302 and Instruction.objects.count() == 1
    assert context_for(source, "artists", Principal("acme", "alice")).instructions == ["Never list emails."]


def test_table_descriptions_are_edited_and_rescanned_from_the_admin(admin_client, source, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        scan(source)
        track = TableDescription.objects.get(data_source=source, table_name="track")
        page = admin_client.get(reverse("admin:executor_tabledescription_change", args=[track.pk]))
        assert page.status_code == 200 and "milliseconds" in page.content.decode()
        listing = admin_client.get(reverse("admin:executor_tabledescription_changelist") + f"?data_source__id__exact={source.pk}")
        assert "track" in listing.content.decode()
        queued = admin_client.post(reverse("admin:executor_tabledescription_changelist"), {
            "action": "scan_again", "_selected_action": [track.pk],
        })
        assert queued.status_code == 302
        track.refresh_from_db()
        assert track.status == "SYNCHRONIZED" and track.row_count == 3503
    finally:
        app.conf.task_always_eager = False
