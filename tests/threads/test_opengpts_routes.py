"""Every OpenGPTs route answers the same with and without a trailing slash, for every method it serves.

OpenGPTs' own clients call both spellings (`/assistants/`, `/threads/{id}/state`); a redirect would
lose a POST body and a 404 would break them. In-process, through the real middleware and views.
"""

import json

import pytest
from django.test import Client

from assistants.models import Assistant
from threads.models import Thread

pytestmark = pytest.mark.django_db(transaction=True)  # async views read on their own connections

# Bodies that every route refuses or accepts without starting a run: a run is not what is tested here.
INVALID_RUN = {"input": []}


def routes(assistant, thread):
    a, t = assistant.pk, thread.pk
    return [
        ("GET", "/assistants", None),
        ("POST", "/assistants", {"config": {}}),  # no name: 400 on both spellings
        ("GET", "/assistants/public", None),
        ("GET", f"/assistants/{a}", None),
        ("PUT", f"/assistants/{a}", {"name": "renamed", "config": {}}),
        ("GET", "/threads", None),
        ("POST", "/threads", {"name": "x"}),  # no assistant_id: 400
        ("GET", f"/threads/{t}", None),
        ("PUT", f"/threads/{t}", {"name": "renamed", "assistant_id": str(a)}),
        ("GET", f"/threads/{t}/state", None),
        ("POST", f"/threads/{t}/state", {"values": "not a list"}),
        ("GET", f"/threads/{t}/history", None),
        ("POST", "/runs", INVALID_RUN),
        ("POST", "/runs/stream", INVALID_RUN),
        ("GET", "/runs/config_schema", None),
        ("GET", "/health?worker=0", None),  # no worker runs in-process: skip the ping's 5 s wait
        ("GET", "/ok", None),
    ]


def call(client, auth, method, path, body):
    return client.generic(method, path, data=b"" if body is None else json.dumps(body),
                          content_type="application/json", **auth)


def test_both_spellings_answer_alike(caller):
    auth, assistant, thread = caller
    client = Client()
    for method, path, body in routes(assistant, thread):
        route, _, query = path.partition("?")
        slashed_path = route + "/" + (f"?{query}" if query else "")
        bare, slashed = call(client, auth, method, path, body), call(client, auth, method, slashed_path, body)
        assert bare.status_code == slashed.status_code, (method, path, bare.status_code, slashed.status_code)
        assert bare.status_code not in (301, 302, 308, 404, 405), (method, path, bare.status_code)
        assert slashed["Content-Type"].startswith("application/json"), (method, slashed_path, slashed["Content-Type"])


def test_delete_with_and_without_the_slash(caller):
    auth, assistant, thread = caller
    client = Client()
    other = Thread.objects.create(tenant="acme", owner="alice", assistant=assistant, name="u")
    assert call(client, auth, "DELETE", f"/threads/{thread.pk}", None).status_code in (200, 204)
    assert call(client, auth, "DELETE", f"/threads/{other.pk}/", None).status_code in (200, 204)
    assert not Thread.objects.filter(pk__in=[thread.pk, other.pk]).exists()
    spare = Assistant.objects.create(tenant="acme", owner="alice", name="b")
    assert call(client, auth, "DELETE", f"/assistants/{assistant.pk}/", None).status_code in (200, 204)
    assert call(client, auth, "DELETE", f"/assistants/{spare.pk}", None).status_code in (200, 204)
    assert not Assistant.objects.filter(pk__in=[assistant.pk, spare.pk]).exists()
