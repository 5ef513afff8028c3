"""What BI and Julep sessions answer, as OpenAPI schemas (drf-spectacular takes a dict as a raw
schema): a client generator or a fuzzer reads the shapes of sessions.bi_serializers,
sessions.bi.pipeline, sessions.julep_serializers and sessions.julep_chat from here."""

from drf_spectacular.utils import OpenApiResponse

STR = {"type": "string"}
NSTR = {"type": "string", "nullable": True}
UUID = {"type": "string", "format": "uuid"}
NUUID = {"type": "string", "format": "uuid", "nullable": True}
INT = {"type": "integer"}
OBJ = {"type": "object", "additionalProperties": True}
NOBJ = {"type": "object", "additionalProperties": True, "nullable": True}
STRS = {"type": "array", "items": STR}


def obj(required: dict, optional: dict | None = None) -> dict:
    return {"type": "object", "properties": {**required, **(optional or {})}, "required": list(required)}


def nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


PENDING_CHANGE = obj({
    "confirmation_id": UUID, "status": STR, "sql": STR, "thread_id": UUID, "run_id": UUID, "expires_at": STR,
    "approve": obj({"method": STR, "path": STR, "body": OBJ}), "deny": obj({"method": STR, "path": STR, "body": OBJ}),
    "chat_page": STR, "admin": STR,
})

# --- BI --------------------------------------------------------------------------------------

BI_DATA = obj({"columns": STRS, "rows": {"type": "array", "items": OBJ}, "row_count": INT, "truncated": {"type": "boolean"}})
BI_CREATED = obj({"session_id": UUID, "tenant_id": STR, "created_at": STR})
BI_SUMMARY = obj({"session_id": UUID, "tenant_id": STR, "user_id": STR, "agent_id": UUID, "thread_id": UUID, "metadata": OBJ,
                  "last_sql": NSTR, "visualization": NOBJ, "created_at": STR, "updated_at": STR})
BI_LIST = obj({"sessions": {"type": "array", "items": BI_SUMMARY}, "total": INT, "limit": INT, "offset": INT})
BI_DETAIL = {**BI_SUMMARY, "properties": {
    **BI_SUMMARY["properties"], "data": nullable(BI_DATA), "pending_confirmation": nullable(PENDING_CHANGE),
    "last_turn": nullable(obj({"run_id": UUID, "status": STR, "response": NSTR, "confirmations": {"type": "array", "items": OBJ}})),
}}
BI_ANSWER = obj(
    {"success": {"type": "boolean"}, "session_id": UUID, "response": STR, "intent": STR, "sql": NSTR, "visualization": NOBJ,
     "data": nullable(BI_DATA), "insights": STRS, "agents_visited": STRS, "execution_time_ms": INT},
    {"run_id": UUID, "pending_confirmation": nullable(PENDING_CHANGE), "error": STR},
)
BI_RERENDER = obj({"success": {"type": "boolean"}, "session_id": UUID, "sql": NSTR, "visualization": OBJ, "data": BI_DATA,
                   "insights": STRS, "agents_visited": STRS})
BI_SUGGESTIONS = obj({"session_id": UUID, "suggestions": STRS})
BI_HISTORY = obj({"session_id": UUID, "messages": {"type": "array", "items": obj(
    {"id": UUID, "role": {"type": "string", "enum": ["user", "assistant"]}, "content": STR, "created_at": STR},
    {"intent": NSTR, "sql": NSTR, "run_id": NUUID})}})
BI_DELETED = obj({"success": {"type": "boolean"}, "session_id": STR})

# --- Julep -----------------------------------------------------------------------------------

CREATED = obj({"id": UUID, "created_at": STR})
UPDATED = obj({"id": UUID, "updated_at": STR})
DELETED = obj({"id": STR, "deleted_at": STR})
INSTRUCTIONS = {"oneOf": [STR, STRS]}
AGENT = obj({"id": UUID, "name": STR, "about": STR, "created_at": STR, "updated_at": STR, "model": STR, "default_settings": OBJ,
             "metadata": OBJ, "instructions": INSTRUCTIONS}, {"data_source_id": NUUID})
USER = obj({"id": UUID, "name": STR, "about": STR, "created_at": STR, "updated_at": STR, "metadata": OBJ})
SESSION = obj({"id": UUID, "user_id": NUUID, "agent_id": UUID, "situation": STR, "summary": NSTR, "created_at": STR, "updated_at": STR,
               "metadata": OBJ, "render_templates": {"type": "boolean"}},
              {"token_budget": {"type": "integer", "nullable": True}, "context_overflow": NSTR})
MESSAGE = obj({"role": STR, "content": STR, "created_at": STR, "id": STR}, {"name": NSTR})
CHAT = obj(
    {"id": UUID, "finish_reason": {"type": "string", "enum": ["stop", "length", "tool_calls", "content_filter", "function_call"]},
     "response": {"type": "array", "items": {"type": "array", "items": MESSAGE}},
     "usage": obj({"total_tokens": INT, "prompt_tokens": INT, "completion_tokens": INT}),
     "doc_ids": obj({"agent_doc_ids": STRS, "user_doc_ids": STRS})},
    {"pending_confirmation": PENDING_CHANGE},
)
DOC = obj({"id": UUID, "title": STR, "content": INSTRUCTIONS, "created_at": STR, "metadata": OBJ})
DOC_HIT = obj({"id": UUID, "title": STR, "snippet": obj({"index": INT, "content": STR}), "score": {"type": "number"}})
SUGGESTION = obj({"created_at": STR, "target": STR, "content": STR, "message_id": STR, "session_id": STR})
CHAT_EVENTS = ("Data-only server-sent events: each `data:` line is a chunk `{id, created_at, choices: [{index, delta: {role, content}, "
               "finish_reason}], usage, docs, jobs}`; the last chunk has `finish_reason` (and `pending_confirmation` when a write waits "
               "for approval), `event: error` reports a failed run, and `data: [DONE]` ends the stream.")


def items(schema: dict) -> dict:
    return obj({"items": {"type": "array", "items": schema}})


def ok(schema: dict, description: str = "OK") -> OpenApiResponse:
    return OpenApiResponse(schema, description=description)


# A chat answers JSON, or server-sent events with `"stream": true`.
CHAT_RESPONSE = {(200, "application/json"): CHAT, (200, "text/event-stream"): {"description": CHAT_EVENTS}}


# --- postprocessing: what depends on the server's settings, and JSON in a query string ------------

# Compared with stored JSON: what cannot be stored (NUL characters, unpaired surrogates) is refused.
METADATA_FILTER = {"type": "object", "additionalProperties": {}}


def describe_settings_and_filters(result, generator, request, public):
    """drf-spectacular postprocessing hook. An agent's `model` is one of this server's allowed models,
    empty (the default) or a Julep-hosted name; `metadata_filter` is a JSON object in the query string."""
    from assistants import limits

    from .julep_serializers import JULEP_HOSTED_PREFIX

    # Any julep-ai/ name selects the default model; the SDK's own defaults are listed.
    names = ["", *limits.allowed_models(), *(JULEP_HOSTED_PREFIX + name for name in ("samantha-1-turbo", "samantha-1"))]
    for name, component in result.get("components", {}).get("schemas", {}).items():
        properties = component.get("properties") or {}
        if "AgentIn" in name and "model" in properties:
            properties["model"] = {"type": "string", "enum": names, **({"nullable": True} if properties["model"].get("nullable") else {}),
                                   "description": "an allowed model, empty for the default, or a Julep-hosted name (julep-ai/...)"}
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("name") == "metadata_filter" and parameter.get("in") == "query":
                    parameter.pop("schema", None)
                    parameter["content"] = {"application/json": {"schema": METADATA_FILTER}}
                    parameter["description"] = 'Rows whose metadata holds every given key with the given value, e.g. {"team": "care"}'
    return result
