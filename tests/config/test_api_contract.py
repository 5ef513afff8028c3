"""The documented request constraints match what the server enforces, and every answer is as
documented (tests/support/contract.py): one test per group of operations (BI sessions, Julep, the
engine's thread routes and the service routes; OpenGPTs; Dataherald; the Julep docs routes). The SSE
routes are documented as text/event-stream with their event names (checked below).
"""

import pytest
from hypothesis import HealthCheck, settings

from tests.support.api_seeds import alice, eager_worker  # noqa: F401 - fixtures
from tests.support.contract import CONTRACT_CHECKS, contract_schema
from tests.support.principals import headers



def _contract_test(group: str):
    @contract_schema(group).parametrize()
    @settings(deadline=None, suppress_health_check=list(HealthCheck))
    @pytest.mark.django_db(transaction=True)
    def test(case, alice):  # noqa: F811
        case.call_and_validate(headers=headers(alice), checks=CONTRACT_CHECKS)

    return test


test_core_contract = _contract_test("core")
test_opengpts_contract = _contract_test("opengpts")
test_dataherald_contract = _contract_test("dataherald")
test_julep_docs_contract = _contract_test("julep_docs")


def test_every_route_is_documented_and_tagged_by_dialect(client):
    document = client.get("/api/schema/?format=json").json()
    operations = {(method.upper(), path): op for path, item in document["paths"].items() for method, op in item.items()}
    for route in [("POST", "/threads"), ("GET", "/threads"), ("POST", "/threads/{thread_id}"), ("GET", "/threads/{thread_id}"),
                  ("GET", "/threads/{thread_id}/events"), ("POST", "/runs/stream"), ("POST", "/api/sessions/{session_id}/chat")]:
        assert route in operations, route
    sse = operations[("POST", "/threads")]["responses"]["200"]["content"]["text/event-stream"]
    assert set(sse["x-events"]) == {"start", "assistant_response_message", "tool_response_message", "user_confirmation", "finish", "error"}
    assert set(operations[("POST", "/runs/stream")]["responses"]["200"]["content"]["text/event-stream"]["x-events"]) == {
        "metadata", "data", "error", "end"}
    assert "text/event-stream" in operations[("POST", "/api/sessions/{session_id}/chat")]["responses"]["200"]["content"]
    assert not [path for path in document["paths"] if path.startswith(("/ui/", "/accounts/"))]  # the chat page's own routes
    tags = {op["tags"][0] for op in operations.values()}
    assert {"BI sessions", "Julep", "Dataherald", "OpenGPTs", "PromptQL threads"} <= tags and "api" not in tags
    assert operations[("GET", "/api/v1/bi/sessions")]["tags"] == ["BI sessions"]
    assert operations[("POST", "/api/sessions/{session_id}/chat")]["tags"] == ["Julep"]
    assert operations[("GET", "/api/v1/questions")]["tags"] == ["Dataherald"]
    chat = operations[("POST", "/api/sessions/{session_id}/chat")]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"id", "finish_reason", "response", "usage", "doc_ids"} <= set(chat["properties"])
    # OpenGPTs' answers are described, not bare objects (threads/opengpts/openapi.py).
    opengpts = {route: op["responses"]["200"]["content"]["application/json"]["schema"] for route, op in operations.items()
                if op["tags"] == ["OpenGPTs"] and "application/json" in op["responses"].get("200", {}).get("content", {})}
    assert len(opengpts) >= 15 and not [route for route, schema in opengpts.items() if not (schema.get("items") or schema).get("properties")]
    message = opengpts[("GET", "/threads/{thread_id}/state")]["properties"]["values"]["oneOf"][0]["items"]["properties"]
    assert {"type", "content", "id", "additional_kwargs", "example"} <= set(message)
    assert {"assistant_id", "name", "config", "public", "updated_at", "user_id"} <= set(opengpts[("GET", "/assistants")]["items"]["properties"])
    dh_response = operations[("GET", "/api/v1/responses/{response_id}")]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"id", "question_id", "sql_query", "sql_generation_status", "pending_confirmation"} <= set(dh_response["properties"])
    dh_sql = operations[("GET", "/api/sql-generations/{id}")]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"id", "prompt_id", "status", "sql", "error", "confidence_score"} <= set(dh_sql["properties"])
    assert dh_sql["properties"]["sql"]["nullable"] and dh_sql["properties"]["status"]["enum"] == ["INITIALIZED", "VALID", "INVALID"]
