"""The documented request constraints match what the server enforces (schemathesis' positive and
negative data checks): every request the schema allows is accepted (2xx, or a 404/409 for an object's
state), and every request it forbids is refused with a 4xx. Same in-process setup, seeded objects
and fixed seed as test_api_schema_fuzz; bounded by MAX_EXAMPLES per operation.

Covered: the dialects whose schemas describe their requests completely (BI sessions, Julep, the
engine's thread routes, the service routes); the SSE routes are documented as text/event-stream
with their event names (checked below).
"""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.support.principals import headers

from .test_api_schema_fuzz import CHECKS, alice, eager_worker, flatmap_path_parameters  # noqa: F401 - fixtures

CONTRACT_TAGS = ["BI sessions", "Julep", "PromptQL threads", "Service"]
MAX_EXAMPLES = 10  # per operation, positive and negative; the coverage phase is off to keep the run short

# A schema object of its own: schemathesis' configuration is shared by the schemas filtered from one.
contract = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
contract.config.seed = 20241207
contract.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none", with_security_parameters=False)
contract.config.phases.coverage.enabled = False
# Left out: the Julep docs routes (their own module describes them), and POST /threads, whose
# OpenGPTs variant answers an unknown assistant_id with a 400 rather than a 404.
contract = contract.include(tag=CONTRACT_TAGS).exclude(path_regex=r"/docs").exclude(method="POST", path="/threads")
# About half of the path ids are the seeded objects' (test_api_schema_fuzz), so cases reach past the
# 404s. Body ids are left as generated: swapping one in would make a negative case valid.
contract.hook(flatmap_path_parameters)


def _storable(value) -> bool:
    """What OpenAPI 3.0 cannot say of free-form JSON (metadata, filters): no NUL character and no
    unpaired surrogate in any key or string, which the server refuses (config.fields.storable_json)."""
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


@contract.hook
def filter_body(ctx, body):
    """Also: a Julep chat needs one message with role user (an array's `contains`, not in OpenAPI 3.0)."""
    if ctx.operation.path.endswith("/chat") and isinstance(body, dict) and isinstance(body.get("messages"), list):
        if not any(isinstance(m, dict) and m.get("role") == "user" for m in body["messages"]):
            return False
    return _storable(body)


@contract.hook
def filter_query(ctx, query):
    return _storable(query)


@contract.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db(transaction=True)
def test_documented_constraints_are_the_enforced_ones(case, alice):  # noqa: F811
    case.call_and_validate(headers=headers(alice), checks=CHECKS + [positive_data_acceptance, negative_data_rejection])


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
