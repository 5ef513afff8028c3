"""The chat page's JSON endpoints (`/ui/...`): scoping, validation and the data-source choice."""

import json
import uuid

import pytest
from django.test import Client

from assistants.models import Assistant
from executor.models import DataSource
from tests.support.principals import api_user, headers
from threads.models import Run, Thread

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return api_user(tenant="acme", user_id="alice")


@pytest.fixture
def sources(db):
    shared = DataSource(name="Shared demo", engine="sqlite", connection_url="sqlite:////tmp/querent-demo-unused.sqlite3", shared=True)
    shared.tenant, shared.owner = "system", "system"
    shared.save()
    own = DataSource(name="Alice's warehouse", engine="postgresql", connection_url="postgresql://alice:hunter2@db.invalid/w")
    own.tenant, own.owner = "acme", "alice"
    own.save()
    foreign = DataSource(name="Bob's", engine="postgresql", connection_url="postgresql://bob:pw@db.invalid/b")
    foreign.tenant, foreign.owner = "acme", "bob"
    foreign.save()
    return {"shared": shared, "own": own, "foreign": foreign}


def call(client, method, path, user, body=None, **extra):
    kwargs = {"content_type": "application/json", "data": json.dumps(body)} if body is not None else {}
    return getattr(client, method)(path, **kwargs, headers=headers(user), **extra)


def make_thread(tenant="acme", owner="alice", name="first"):
    thread = Thread(name=name)
    thread.tenant, thread.owner = tenant, owner
    thread.save()
    return thread


def test_me_and_options_list_only_what_the_caller_may_use(client, alice, sources):
    mine = Assistant(name="Mine", data_source=sources["own"])
    mine.tenant, mine.owner = "acme", "alice"
    mine.save()
    public = Assistant(name="Team analyst", public=True, data_source=sources["shared"])
    public.tenant, public.owner = "acme", "carol"
    public.save()
    private_other = Assistant(name="Carol private")
    private_other.tenant, private_other.owner = "acme", "carol"
    private_other.save()
    other_tenant = Assistant(name="Elsewhere", public=True)
    other_tenant.tenant, other_tenant.owner = "globex", "zed"
    other_tenant.save()

    me = call(client, "get", "/ui/me", alice).json()
    assert me == {"tenant": "acme", "user_id": "alice", "source": "api_key"}
    options = call(client, "get", "/ui/options", alice).json()
    assert sorted(a["name"] for a in options["assistants"]) == ["Mine", "Team analyst"]
    assert {d["name"] for d in options["data_sources"]} == {"Shared demo", "Alice's warehouse"}
    assert "hunter2" not in json.dumps(options) and "connection_url" not in json.dumps(options)


def test_anonymous_is_401_json(client, db):
    response = client.get("/ui/threads")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_create_thread_with_a_chosen_data_source_makes_one_reusable_variant(client, alice, sources):
    base = Assistant(name="Analyst", instructions="Be brief.", data_source=sources["shared"])
    base.tenant, base.owner = "acme", "alice"
    base.save()
    body = {"assistant_id": str(base.id), "data_source_id": str(sources["own"].id), "name": "Q3 numbers"}
    first = call(client, "post", "/ui/threads", alice, body)
    assert first.status_code == 201, first.content
    created = first.json()
    assert created["name"] == "Q3 numbers" and created["data_source_name"] == "Alice's warehouse"
    assert created["assistant_name"] == "Analyst · Alice's warehouse" and created["active"] is False
    second = call(client, "post", "/ui/threads", alice, body).json()
    assert second["assistant_id"] == created["assistant_id"]  # the variant is reused, not multiplied
    variant = Assistant.objects.get(pk=created["assistant_id"])
    assert variant.instructions == "Be brief." and variant.owner == "alice"
    # Variants stay out of the picker; the original stays as it was.
    names = [a["name"] for a in call(client, "get", "/ui/options", alice).json()["assistants"]]
    assert names == ["Analyst"]
    base.refresh_from_db()
    assert base.data_source_id == sources["shared"].id
    # Same data source as the assistant's own: the assistant itself.
    same = call(client, "post", "/ui/threads", alice, {"assistant_id": str(base.id), "data_source_id": str(sources["shared"].id)}).json()
    assert same["assistant_id"] == str(base.id)


def test_create_thread_defaults_and_rejects_what_is_not_the_callers(client, alice, sources):
    default = call(client, "post", "/ui/threads", alice, {})
    assert default.status_code == 201 and default.json()["assistant_name"] == "Data analyst"
    foreign_source = call(client, "post", "/ui/threads", alice, {"data_source_id": str(sources["foreign"].id)})
    assert foreign_source.status_code == 404 and foreign_source.json()["detail"] == "data source not found"
    unknown = call(client, "post", "/ui/threads", alice, {"assistant_id": str(uuid.uuid4())})
    assert unknown.status_code == 404 and unknown.json()["detail"] == "assistant not found"
    bad_type = call(client, "post", "/ui/threads", alice, {"assistant_id": 5})
    assert bad_type.status_code == 400 and "assistant_id" in bad_type.json()["detail"]
    typo = call(client, "post", "/ui/threads", alice, {"asistant_id": str(uuid.uuid4())})
    assert typo.status_code == 400 and typo.json()["errors"]["asistant_id"] == ["Unknown field."]
    malformed = client.post("/ui/threads", data="{not json", content_type="application/json", headers=headers(alice))
    assert malformed.status_code == 400 and malformed.json()["code"] == "parse_error"
    assert Thread.objects.count() == 1


def test_list_rename_and_delete_are_scoped(client, alice, sources):
    mine = make_thread()
    theirs = make_thread(owner="bob", name="bob's")
    listed = call(client, "get", "/ui/threads", alice).json()
    assert [t["thread_id"] for t in listed] == [str(mine.id)]

    renamed = call(client, "patch", f"/ui/threads/{mine.id}", alice, {"name": "  Renamed  "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    for body, needle in [({"name": "   "}, "name"), ({"name": 7}, "name"), ({}, "name"), ({"name": "x" * 301}, "name")]:
        response = call(client, "patch", f"/ui/threads/{mine.id}", alice, body)
        assert response.status_code == 400 and needle in response.json()["detail"], body
    assert call(client, "patch", f"/ui/threads/{theirs.id}", alice, {"name": "mine now"}).status_code == 404
    assert call(client, "delete", f"/ui/threads/{theirs.id}", alice).status_code == 404
    assert call(client, "get", "/ui/threads/not-a-uuid", alice).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "bob's"

    Run.objects.create(thread=mine, status=Run.Status.REQUIRES_ACTION)
    busy = call(client, "delete", f"/ui/threads/{mine.id}", alice)
    assert busy.status_code == 409 and "in progress" in busy.json()["detail"]
    assert call(client, "get", "/ui/threads", alice).json()[0]["active"] is True
    Run.objects.filter(thread=mine).update(status=Run.Status.COMPLETED)
    assert call(client, "delete", f"/ui/threads/{mine.id}", alice).status_code == 204
    assert not Thread.objects.filter(pk=mine.pk).exists() and Thread.objects.filter(pk=theirs.pk).exists()


def test_thread_detail_gives_each_runs_question(client, alice):
    thread = make_thread()
    run = Run.objects.create(thread=thread, status=Run.Status.COMPLETED)
    thread.messages.create(seq=1, role="human", content="How many albums?", run=run)
    thread.messages.create(seq=2, role="ai", content="347.", run=run)
    detail = call(client, "get", f"/ui/threads/{thread.id}", alice).json()
    assert detail["questions"] == {str(run.id): ["How many albums?"]}


def test_session_requests_need_the_csrf_token(django_user_model, db):
    django_user_model.objects.create_user("erin", password="pw-erin-123")
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/accounts/login/", {"username": "erin", "password": "pw-erin-123"}).status_code == 403
    page = browser.get("/")
    token = page.cookies["csrftoken"].value
    login = browser.post("/accounts/login/", {"username": "erin", "password": "pw-erin-123", "csrfmiddlewaretoken": token})
    assert login.status_code == 302 and login["Location"] == "/"
    assert browser.get("/ui/me").json() == {"tenant": "default", "user_id": "erin", "source": "session"}
    refused = browser.post("/ui/threads", data="{}", content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    allowed = browser.post("/ui/threads", data="{}", content_type="application/json", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    assert allowed.status_code == 201
    assert browser.post("/accounts/logout/", {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value}).status_code == 302
    assert browser.get("/ui/me").status_code == 401


def test_the_page_and_its_assets_are_served_locally(client, db):
    page = client.get("/").content.decode()
    assert 'src="/static/querent/app.js"' in page and "http://" not in page and "https://" not in page
    for asset in ["app.js", "api.js", "socket.js", "conversation.js", "markdown.js", "artifacts.js", "chart.js", "util.js", "app.css"]:
        response = client.get(f"/static/querent/{asset}")
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"https://" not in body and b"http://" not in body.replace(b"http://www.w3.org/2000/svg", b""), asset
