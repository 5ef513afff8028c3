"""Julep agent and user docs over HTTP against the live server: shapes, metadata, search, errors,
and another principal's docs out of reach."""

import json

import pytest
import requests

from tests.support.principals import api_user, headers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_docs_create_list_search_delete_and_isolation(stack):
    base = f"{stack.base_url}/api"
    alice, bob = headers(api_user(tenant="docs")), headers(api_user(tenant="docs"))
    agent = requests.post(f"{base}/agents", headers=alice, json={"name": "Helper"}).json()["id"]
    user = requests.post(f"{base}/users", headers=alice, json={"name": "Ana"}).json()["id"]

    created = requests.post(f"{base}/agents/{agent}/docs", headers=alice, json={
        "title": "Opening hours", "content": ["Weekdays 9 to 17.", "Saturdays 10 to 14."], "metadata": {"lang": "en"}})
    assert created.status_code == 201 and set(created.json()) == {"id", "created_at"}
    doc = created.json()["id"]
    listed = requests.get(f"{base}/agents/{agent}/docs", headers=alice).json()["items"]
    assert [(d["id"], d["title"], d["content"], d["metadata"]) for d in listed] == [
        (doc, "Opening hours", ["Weekdays 9 to 17.", "Saturdays 10 to 14."], {"lang": "en"})]
    filtered = requests.get(f"{base}/agents/{agent}/docs", headers=alice, params={"metadata_filter": json.dumps({"lang": "fr"})})
    assert filtered.json()["items"] == []
    found = requests.post(f"{base}/agents/{agent}/docs/search", headers=alice, json={"text": "open on saturdays?"}).json()["items"]
    assert found[0]["id"] == doc and "Saturdays" in found[0]["snippet"]["content"]

    user_doc = requests.post(f"{base}/users/{user}/docs", headers=alice, json={"title": "Ana", "content": "Ana likes mornings."}).json()["id"]
    assert [d["id"] for d in requests.get(f"{base}/users/{user}/docs", headers=alice).json()["items"]] == [user_doc]

    # Bad input names the field; another principal's agent, user or doc is a 404.
    for body, field in [({"content": "x"}, "title"), ({"title": "t", "content": ""}, "content"),
                        ({"title": "t", "content": [1, 2]}, "content"), ({"title": "t", "content": "x", "metadata": "no"}, "metadata")]:
        response = requests.post(f"{base}/agents/{agent}/docs", headers=alice, json=body)
        assert response.status_code == 400 and field in response.json()["detail"], response.text
    assert requests.post(f"{base}/agents/{agent}/docs/search", headers=alice, json={"text": ""}).status_code == 400
    assert requests.get(f"{base}/agents/{agent}/docs", headers=bob).status_code == 404
    assert requests.post(f"{base}/agents/{agent}/docs", headers=bob, json={"title": "t", "content": "x"}).status_code == 404
    assert requests.post(f"{base}/users/{user}/docs/search", headers=bob, json={"text": "mornings"}).status_code == 404
    assert requests.delete(f"{base}/agents/{agent}/docs/{doc}", headers=bob).status_code == 404
    assert requests.delete(f"{base}/users/{user}/docs/{doc}", headers=alice).status_code == 404  # not that user's doc
    assert requests.delete(f"{base}/agents/{agent}/docs/not-a-uuid", headers=alice).status_code == 404

    deleted = requests.delete(f"{base}/agents/{agent}/docs/{doc}", headers=alice)
    assert deleted.status_code == 202 and deleted.json()["id"] == doc
    assert requests.get(f"{base}/agents/{agent}/docs", headers=alice).json()["items"] == []
    # Deleting the user deletes their docs.
    assert requests.delete(f"{base}/users/{user}", headers=alice).status_code in (200, 202)
    from assistants.models import Document

    assert not Document.objects.filter(pk=user_doc).exists()


def test_doc_content_the_database_cannot_keep_is_a_400(stack):
    base, alice = f"{stack.base_url}/api", headers(api_user(tenant="docs"))
    agent = requests.post(f"{base}/agents", headers=alice, json={"name": "Helper"}).json()["id"]
    long_nul = "x" * 9000 + "\u0000"  # past the binary sniff of the first 8 KB
    for content in ["a\u0000b", [long_nul], "\ud800 lone surrogate"]:
        # json.dumps escapes the lone surrogate as \ud800, which the server's parser reads back as one.
        response = requests.post(f"{base}/agents/{agent}/docs", headers={**alice, "Content-Type": "application/json"},
                                 data=json.dumps({"title": "t", "content": content}), timeout=30)
        assert response.status_code == 400 and "content" in response.json()["detail"], response.text


def test_agent_and_user_created_with_inline_docs_in_one_transaction(stack):
    """Julep's `docs` on POST /agents and /users: stored with the owner, or, when one is bad, neither."""
    from assistants.models import Assistant, Document
    from sessions.models import EndUser

    base, alice = f"{stack.base_url}/api", headers(api_user(tenant="docs"))
    created = requests.post(f"{base}/agents", headers=alice, json={"name": "Helper", "docs": [
        {"title": "Hours", "content": "Open weekdays 9 to 17."},
        {"title": "Prices", "content": ["Tea costs 2.", "Cake costs 4."], "metadata": {"lang": "en"}}]})
    assert created.status_code == 201, created.text
    agent = created.json()["id"]
    listed = requests.get(f"{base}/agents/{agent}/docs", headers=alice).json()["items"]
    assert sorted((d["title"], json.dumps(d["content"]), json.dumps(d["metadata"])) for d in listed) == [
        ("Hours", '"Open weekdays 9 to 17."', "{}"), ("Prices", '["Tea costs 2.", "Cake costs 4."]', '{"lang": "en"}')]
    found = requests.post(f"{base}/agents/{agent}/docs/search", headers=alice, json={"text": "how much is cake"}).json()["items"]
    assert found[0]["title"] == "Prices"

    user = requests.post(f"{base}/users", headers=alice, json={"name": "Ana", "docs": [{"title": "Ana", "content": "Ana likes mornings."}]})
    assert user.status_code == 201, user.text
    assert [d["title"] for d in requests.get(f"{base}/users/{user.json()['id']}/docs", headers=alice).json()["items"]] == ["Ana"]

    # A bad doc (the second) is a 400 naming it, and nothing is kept: no owner, no doc.
    agents, users, documents = Assistant.objects.count(), EndUser.objects.count(), Document.objects.count()
    good, bad = {"title": "ok", "content": "fine"}, {"title": "bad", "content": ""}
    for path, body in [("agents", {"name": "Broken", "docs": [good, bad]}), ("users", {"name": "Broken", "docs": [good, bad]}),
                       ("agents", {"name": "Broken", "docs": [good, {"content": "no title"}]}),
                       ("users", {"name": "Broken", "docs": [good, {"title": "t", "content": "\x00"}]})]:
        response = requests.post(f"{base}/{path}", headers=alice, json=body)
        assert response.status_code == 400 and response.json()["detail"].startswith("docs"), response.text
        assert "1" in response.json()["detail"], response.text  # the index of the bad doc
    assert (Assistant.objects.count(), EndUser.objects.count(), Document.objects.count()) == (agents, users, documents)


def test_a_doc_the_store_refuses_rolls_back_the_agent(settings):
    """A doc that passes validation but that the documents core refuses (larger than a document may
    be) undoes the agent too. In process: the limit is this process's setting."""
    from rest_framework.test import APIClient

    from assistants.models import Assistant, Document

    settings.MAX_DOCUMENT_BYTES = 10
    client = APIClient()
    client.credentials(**{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers(api_user(tenant="docs")).items()})
    docs = [{"title": "small", "content": "text"}, {"title": "large", "content": "a longer text"}]
    response = client.post("/api/agents", {"name": "Too large", "docs": docs}, format="json")
    assert response.status_code == 413 and "large" in response.json()["detail"], response.content
    assert (Assistant.objects.count(), Document.objects.count()) == (0, 0)
