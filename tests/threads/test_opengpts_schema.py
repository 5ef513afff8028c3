"""What the OpenGPTs routes really answer is what /api/schema/ documents (threads/opengpts/openapi.py):
each answer of a real session (an agent's finished run with its tool calls, a RAGBot's state,
history, runs, feedback, ingest, deletes) validates against its operation's 200 schema.
In-process, runs eager on the offline demo model."""

import json

import jsonschema
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.support.api_seeds import SEEDS, Api, alice, eager_worker  # noqa: F401 - fixtures
from tests.support.principals import headers


def _json_schema(node):
    """OpenAPI 3.0's `nullable` as JSON Schema."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted


class Documented:
    def __init__(self, client, auth):
        self.client, self.auth = client, auth
        document = client.get("/api/schema/?format=json").json()
        self.paths, self.components = document["paths"], _json_schema(document["components"])

    def check(self, method: str, template: str, response):
        assert response.status_code == 200, (method, template, response.status_code, response.content[:300])
        schema = self.paths[template][method.lower()]["responses"]["200"]["content"]["application/json"]["schema"]
        jsonschema.validate(response.json(), {"allOf": [_json_schema(schema)], "components": self.components})
        return response.json()

    def call(self, method: str, template: str, body=None, **ids):
        path = template.format(**ids)
        data = b"" if body is None else json.dumps(body)
        return self.check(method, template, self.client.generic(method, path, data=data, content_type="application/json", **self.auth))


@pytest.mark.django_db(transaction=True)
def test_every_opengpts_answer_is_as_documented(alice):  # noqa: F811
    api, auth = Api(alice), {"HTTP_" + key.upper().replace("-", "_"): value for key, value in headers(alice).items()}
    documented = Documented(Client(), auth)
    source = api.post("/api/v1/database-connections", {"alias": "chinook", "connection_uri": SEEDS["_demo_url"]})["id"]

    agent = documented.call("POST", "/assistants", {"name": "analyst", "config": {"configurable": {"data_source_id": source}}})
    ragbot = documented.call("PUT", "/assistants/{assistant_id}", {"name": "rag", "config": {"configurable": {"type": "chat_retrieval"}},
                                                                     "public": True}, assistant_id="6f1c3f4e-2f7c-4a55-9c1e-1d2a3b4c5d6e")
    documented.call("GET", "/assistants")
    assert documented.call("GET", "/assistants/public")[0]["assistant_id"] == ragbot["assistant_id"]
    documented.call("GET", "/assistants/{assistant_id}", assistant_id=agent["assistant_id"])
    documented.call("GET", "/runs/config_schema")

    # An agent's run: human, ai with tool calls, tool and final ai messages.
    thread = documented.call("POST", "/threads", {"name": "t", "assistant_id": agent["assistant_id"]})
    run = documented.call("POST", "/runs", {"thread_id": thread["thread_id"],
                                            "input": [{"type": "human", "content": "How many customers are there?"}]},)
    assert documented.call("GET", "/runs/{run_id}", run_id=run["run_id"])["status"] == "completed"
    state = documented.call("GET", "/threads/{thread_id}/state", thread_id=thread["thread_id"])
    assert isinstance(state["values"], list) and {"human", "ai", "tool"} <= {m["type"] for m in state["values"]}
    assert documented.call("GET", "/threads/{thread_id}/history", thread_id=thread["thread_id"])
    documented.call("POST", "/runs/feedback", {"run_id": run["run_id"], "key": "user_score", "score": True})
    documented.call("PUT", "/threads/{thread_id}", {"name": "renamed", "assistant_id": agent["assistant_id"]}, thread_id=thread["thread_id"])

    # A RAGBot's state is {"messages": [...]}; content parts are joined.
    rag_thread = documented.call("POST", "/threads", {"name": "r", "assistant_id": ragbot["assistant_id"]})
    added = documented.call("POST", "/threads/{thread_id}/state", {"values": [{"type": "human", "content": [{"type": "text", "text": "hi"}, " there"]}]},
                            thread_id=rag_thread["thread_id"])
    assert [m["content"] for m in added["values"]["messages"]] == ["hi there"]
    upload = SimpleUploadedFile("notes.md", b"# Notes\n\nCustomers live in many countries.", content_type="text/markdown")
    config = json.dumps({"configurable": {"assistant_id": ragbot["assistant_id"]}})
    documents = documented.check("POST", "/ingest", documented.client.post("/ingest", {"files": [upload], "config": config}, **auth))
    assert [d["file_name"] for d in documents] == ["notes.md"]

    documented.call("DELETE", "/threads/{thread_id}", thread_id=rag_thread["thread_id"])
    documented.call("DELETE", "/assistants/{assistant_id}", assistant_id=ragbot["assistant_id"])
