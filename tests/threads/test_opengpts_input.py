"""OpenGPTs input the schema refuses is a 400 naming the problem, never a 500 nor silently taken:
content parts whose text is not a string, a run's `configurable` that is not an object (false, 0
and "" included), and an ingest config naming both targets (one as null). In-process."""

import json
import uuid

import pytest
from django.test import Client

from threads.models import Message

pytestmark = pytest.mark.django_db(transaction=True)  # async views read on their own connections


def _post(path, body, auth):
    return Client().post(path, json.dumps(body), content_type="application/json", **auth)


@pytest.mark.parametrize("parts", [[{"type": "text", "text": 5}], [7], [{"text": None}]])
def test_content_parts_must_be_text(caller, parts):
    auth, _, thread = caller
    response = _post(f"/threads/{thread.pk}/state", {"values": [{"type": "human", "content": parts}]}, auth)
    assert response.status_code == 400, response.content
    assert "values" in response.json()["detail"] and "content[0]" in response.json()["detail"]
    assert not Message.objects.filter(thread=thread).exists()


def test_string_and_text_parts_are_joined(caller):
    auth, _, thread = caller
    parts = [{"type": "text", "text": "How many "}, "customers?", {"type": "image_url", "image_url": "x"}]
    response = _post(f"/threads/{thread.pk}/state", {"values": [{"type": "human", "content": parts}]}, auth)
    assert response.status_code == 200, response.content
    assert [m["content"] for m in response.json()["values"]] == ["How many customers?"]


@pytest.mark.parametrize("configurable", [False, 0, "", [], "gpt"])
def test_a_runs_configurable_must_be_an_object(caller, configurable):
    auth, _, thread = caller
    body = {"thread_id": str(thread.pk), "input": [{"type": "human", "content": "hi"}], "config": {"configurable": configurable}}
    response = _post("/runs", body, auth)
    assert response.status_code == 400 and "configurable" in response.json()["detail"], response.content


@pytest.mark.parametrize("configurable", [{"assistant_id": None, "thread_id": "T"}, {"assistant_id": "A", "thread_id": None}, {}])
def test_ingest_names_exactly_one_target(caller, configurable):
    auth, assistant, thread = caller
    named = {key: {"A": str(assistant.pk), "T": str(thread.pk)}.get(value, value) for key, value in configurable.items()}
    response = Client().post("/ingest", {"config": json.dumps({"configurable": named})}, **auth)
    assert response.status_code == 400 and "exactly one" in response.json()["detail"], response.content


def test_ingest_to_an_unknown_assistant_is_404(caller):
    auth, _, _ = caller
    config = json.dumps({"configurable": {"assistant_id": str(uuid.uuid4())}})
    assert Client().post("/ingest", {"config": config}, **auth).status_code == 404
