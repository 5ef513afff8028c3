"""An OpenGPTs thread write naming an assistant the caller cannot read (unknown, or another user's
private one) is a 404 naming the id, as upstream answers it and as every other unknown id in Querent.
In-process, through the async `/threads` routes."""

import json
import uuid

import pytest
from django.test import Client

from assistants.models import ApiKey, Assistant
from threads.models import Thread

pytestmark = pytest.mark.django_db(transaction=True)  # async views read on their own connections


@pytest.fixture
def auth():
    _, token = ApiKey.issue(name="unknown-ids", tenant="acme", user_id="alice")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _send(method, path, body, auth):
    return Client().generic(method, path, data=json.dumps(body), content_type="application/json", **auth)


def _unreadable_assistants():
    private = Assistant.objects.create(tenant="acme", owner="bob", name="bob's", public=False)
    return [str(uuid.uuid4()), str(private.pk)]


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_thread_on_an_assistant_the_caller_cannot_read_is_404_naming_it(auth, method):
    for assistant_id in _unreadable_assistants():
        path = "/threads" if method == "POST" else f"/threads/{uuid.uuid4()}"
        response = _send(method, path, {"name": "x", "assistant_id": assistant_id}, auth)
        assert response.status_code == 404, (assistant_id, response.content)
        assert response.json()["code"] == "not_found"
        assert assistant_id in response.json()["detail"] and "assistant_id" in response.json()["detail"]
    assert not Thread.objects.exists()


def test_a_public_assistant_of_another_user_still_takes_a_thread(auth):
    public = Assistant.objects.create(tenant="acme", owner="bob", name="shared", public=True)
    response = _send("POST", "/threads", {"name": "x", "assistant_id": str(public.pk)}, auth)
    assert response.status_code == 200 and response.json()["assistant_id"] == str(public.pk)
