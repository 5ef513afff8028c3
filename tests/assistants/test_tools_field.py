"""Assistant.tools is what OpenGPTs sent, kept for reading back: runs do not read it, so nobody edits it."""

import pytest
from django.urls import reverse

from assistants.forms import AssistantAdminForm
from assistants.models import Assistant
from threads import prompt


def test_the_admin_form_does_not_offer_the_tools():
    assert "tools" not in AssistantAdminForm().fields
    assert not Assistant._meta.get_field("tools").editable


@pytest.mark.django_db
def test_the_admin_shows_the_stored_tools_and_a_save_keeps_them(admin_client):
    assistant = Assistant.objects.create(tenant="acme", owner="alice", name="a", tools=["Wikipedia"])
    url = reverse("admin:assistants_assistant_change", args=[assistant.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and "Wikipedia" in page.content.decode()
    data = {"name": "renamed", "tenant": "acme", "owner": "alice", "instructions": "", "about": "", "model": "",
            "metadata": "{}", "config": "{}", "tools": '["Search"]'}
    assert admin_client.post(url, data).status_code == 302
    assistant.refresh_from_db()
    assert (assistant.name, assistant.tools) == ("renamed", ["Wikipedia"])


def test_runs_offer_the_same_tools_whatever_the_assistant_stored():
    assert prompt.tools_for(Assistant(tools=["Wikipedia"])) == prompt.tools_for(Assistant(tools=[]))
