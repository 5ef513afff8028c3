"""The engine's async routes in the OpenAPI schema: `/threads`, `/threads/{id}`, `/threads/{id}/events`
and `/runs/stream` are plain async views (config.async_api), which drf-spectacular does not see, so
they are written here, by hand, with what their serializers accept and the events they stream.
"""

from . import promptql_openapi
from .opengpts import openapi as opengpts_openapi

UUID = {"type": "string", "format": "uuid"}
# What a StrictCharField refuses: blank, and the NUL character (PostgreSQL text cannot hold it).
TEXT = {"type": "string", "minLength": 1, "pattern": r"^[^\u0000]*\S[^\u0000]*$"}
JSON_OBJECT = {"type": "object", "additionalProperties": True}
ERROR = {"$ref": "#/components/schemas/Error"}

PROMPTQL_EVENTS = {
    "start": "{thread_id}: the run started",
    "assistant_response_message": "{text, tool_calls: [{name, call_id, input: {python_code}}]}",
    "tool_response_message": "{call_id, output: {output, error, sql_statements, modified_artifacts}}",
    "user_confirmation": "{confirmation_id, message (the SQL), thread_id}: a write waits for approval",
    "finish": "{}: the run ended",
    "error": "{message, code?}: the run failed",
}
OPENGPTS_EVENTS = {
    "metadata": "{run_id}",
    "data": "[messages so far], repeated as tokens arrive",
    "error": "{status_code, message}",
    "end": "no data line: the run ended",
}


def _events(events: dict) -> str:
    return "Server-sent events (`id: <seq>` on each frame):\n" + "\n".join(f"- `{name}`: {what}" for name, what in events.items())


def _sse(events: dict) -> dict:
    # No type: each event's data is JSON of its own shape, listed in the description.
    return {"text/event-stream": {"schema": {"description": _events(events)}, "x-events": sorted(events)}}


def _json_body(schema: dict, required=True) -> dict:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    words = {400: "Invalid input", 401: "Missing or invalid credentials", 403: "Not allowed for this principal",
             404: "Not found (or not the caller's)", 409: "A run is already in progress on this thread",
             415: "Not application/json"}
    return {str(code): {"description": words[code], "content": {"application/json": {"schema": ERROR}}} for code in codes}


ASK = {
    "type": "object",
    "properties": {"message": {**TEXT, "maxLength": 100_000}, "stream": {"type": "boolean", "default": True}, "assistant_id": UUID},
    "required": ["message"],
    "additionalProperties": True,
}
OPENGPTS_THREAD_IN = {
    "type": "object",
    "properties": {"assistant_id": UUID, "name": {"type": "string", "maxLength": 300}, "metadata": JSON_OBJECT},
    "required": ["assistant_id"],
    "not": {"required": ["message"]},
    "additionalProperties": True,
}
EVENT = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "event": {"type": "string", "enum": sorted(PROMPTQL_EVENTS)}, "data": JSON_OBJECT},
    "required": ["id", "event", "data"],
}
COLLECTED = {
    "type": "object",
    "properties": {"thread_id": UUID, "run_id": UUID, "events": {"type": "array", "items": EVENT}},
    "required": ["thread_id", "run_id", "events"],
}
OPENGPTS_THREAD = opengpts_openapi.THREAD
THREAD_ID = [{"name": "thread_id", "in": "path", "required": True, "schema": UUID}]
SECURITY = [{"bearerAuth": []}, {"apiKeyAuth": []}]


def _op(tag: str, summary: str, **fields) -> dict:
    return {"operationId": fields.pop("operationId"), "tags": [tag], "summary": summary, "security": SECURITY, **fields}


def add_async_routes(result, generator, request, public):
    """drf-spectacular postprocessing hook: document the async views."""
    paths = result.setdefault("paths", {})
    # POST /runs and POST /runs/stream: the models and step cap the operator allows now.
    result.setdefault("components", {}).setdefault("schemas", {})["OpenGptsRunIn"] = opengpts_openapi.run_in()
    opengpts_openapi.require_raw_bodies(paths)
    def asked(json_schema: dict, description: str) -> dict:
        return {"200": {"description": description, "content": {**_sse(PROMPTQL_EVENTS), "application/json": {"schema": json_schema}}},
                **_errors(400, 401, 404, 409, 415)}

    ask_responses = asked({"anyOf": [COLLECTED, OPENGPTS_THREAD]},
                          "The run's events: SSE, or one JSON with `stream: false`; an OpenGPTs create answers the thread")
    paths["/threads"] = {
        **paths.get("/threads", {}),
        "get": _op("PromptQL threads", "List the caller's threads", operationId="threads_list",
                   responses={"200": {"description": "Threads, newest first",
                                      "content": {"application/json": {"schema": promptql_openapi.THREADS}}},
                              **_errors(401)}),
        "post": _op("PromptQL threads", "Ask on a new thread (PromptQL, `message`) or create a thread (OpenGPTs, no `message`)",
                    operationId="threads_create", requestBody=_json_body({"oneOf": [ASK, OPENGPTS_THREAD_IN]}), responses=ask_responses),
    }
    paths["/threads/{thread_id}"] = {
        **paths.get("/threads/{thread_id}", {}),
        "get": _op("PromptQL threads", "A thread with its history, artifacts, confirmations and runs", operationId="threads_retrieve",
                   parameters=THREAD_ID, responses={"200": {"description": "The thread", "content": {"application/json": {"schema": promptql_openapi.THREAD_DETAIL}}},
                                                    **_errors(401, 404)}),
        "post": _op("PromptQL threads", "Continue the thread with a question", operationId="threads_ask", parameters=THREAD_ID,
                    requestBody=_json_body(ASK), responses=asked(COLLECTED, "The run's events: SSE, or one JSON with `stream: false`")),
        "put": _op("OpenGPTs", "Rename or re-point a thread", operationId="threads_update", parameters=THREAD_ID,
                   requestBody=_json_body(OPENGPTS_THREAD_IN), responses={"200": {"description": "The thread", "content": {
                       "application/json": {"schema": OPENGPTS_THREAD}}}, **_errors(400, 401, 404, 415)}),
        "delete": _op("OpenGPTs", "Delete a thread (not while a run is in progress)", operationId="threads_destroy", parameters=THREAD_ID,
                      responses={"200": {"description": "Deleted", "content": {"application/json": {"schema": opengpts_openapi.STATUS_OK}}}, "204": {"description": "Deleted"}, **_errors(401, 404, 409)}),
    }
    paths["/threads/{thread_id}/events"] = {"get": _op(
        "PromptQL threads", "Re-join a thread's stream: replay after `after` (or Last-Event-ID), then follow the active run",
        operationId="threads_events", parameters=THREAD_ID + [
            {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {"name": "format", "in": "query", "schema": {"type": "string"}, "description": "`sse` streams (as an Accept of text/event-stream does)"},
            {"name": "wait", "in": "query", "schema": {"type": "string"}, "description": "`1`: JSON that waits for the active run to end"},
            {"name": "events", "in": "query", "schema": {"type": "string"}, "description": "`all` adds token deltas and decisions"},
        ],
        responses={"200": {"description": "The events", "content": {**_sse(PROMPTQL_EVENTS), "application/json": {"schema": {
            "type": "object", "properties": {"thread_id": UUID, "events": {"type": "array", "items": EVENT}, "last_seq": {"type": "integer"}},
            "required": ["thread_id", "events", "last_seq"]}}}}, **_errors(400, 401, 404)},
    )}
    paths["/runs/stream"] = {"post": _op(
        "OpenGPTs", "Start a run and stream its messages (OpenGPTs framing, CRLF line ends)", operationId="runs_stream",
        requestBody=_json_body(opengpts_openapi.RUN_IN_REF),
        responses={"200": {"description": "The run's messages", "content": _sse(OPENGPTS_EVENTS)}, **_errors(400, 401, 404, 409, 415)},
    )}
    return result
