"""Documents and feedback in the admin: listed, shown with their passages or run, not editable."""

import pytest

from assistants import document_services
from assistants.document_services import Scope, Upload
from assistants.models import Assistant, Document
from config.identity import Principal
from threads.models import Feedback, Run, Thread

pytestmark = pytest.mark.django_db


def test_document_and_feedback_pages(admin_client):
    assistant = Assistant.objects.create(tenant="acme", owner="alice", name="handbook")
    [document] = document_services.ingest(Principal("acme", "alice"), Scope(assistant=assistant),
                                          [Upload("rules.md", b"# Rules\n\nBadges are worn at all times.")])
    thread = Thread.objects.create(tenant="acme", owner="alice", assistant=assistant)
    run = Run.objects.create(thread=thread)
    feedback = Feedback.objects.create(tenant="acme", owner="alice", run=run, key="user_score", score=1.0, comment="helpful")

    listing = admin_client.get("/admin/assistants/document/")
    assert listing.status_code == 200 and "rules.md" in listing.content.decode()
    page = admin_client.get(f"/admin/assistants/document/{document.pk}/change/").content.decode()
    assert "Badges are worn at all times." in page  # its passages
    assert admin_client.get("/admin/assistants/document/add/").status_code == 403
    assert admin_client.post(f"/admin/assistants/document/{document.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Document.objects.exists()

    listing = admin_client.get("/admin/threads/feedback/").content.decode()
    assert "user_score" in listing and "helpful" in listing
    assert admin_client.get(f"/admin/threads/feedback/{feedback.pk}/change/").status_code == 200
