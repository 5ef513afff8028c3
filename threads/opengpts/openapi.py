"""What the OpenGPTs dialect answers and accepts, as OpenAPI schemas (drf-spectacular takes a dict as
a raw schema): the shapes of assistants.serializers.assistant_out, threads.serializers.thread_summary
and run_dict, threads.opengpts.messages (langchain's message dicts), the state and history of
threads.opengpts.apis and the documents of POST /ingest. Names and nullability follow upstream
OpenGPTs (backend/app/schema.py); fields Querent adds are optional extras a client may ignore."""

from drf_spectacular.utils import OpenApiRequest

from assistants.bots import BOT_TYPES
from threads.models import Run

STR = {"type": "string"}
NSTR = {"type": "string", "nullable": True}
UUID = {"type": "string", "format": "uuid"}
NUUID = {"type": "string", "format": "uuid", "nullable": True}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
OBJ = {"type": "object", "additionalProperties": True}
NOBJ = {"type": "object", "additionalProperties": True, "nullable": True}
TIME = {"type": "string", "format": "date-time"}


def obj(required: dict, optional: dict | None = None) -> dict:
    schema = {"type": "object", "properties": {**required, **(optional or {})}}
    return {**schema, "required": list(required)} if required else schema


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


STATUS_OK = obj({"status": {"type": "string", "enum": ["ok"]}})

# --- assistants ------------------------------------------------------------------------------

# `config` is kept as the client sent it; `configurable` holds the bot type's keys (`type==agent/tools`, ...).
ASSISTANT = obj(
    {"assistant_id": UUID, "user_id": STR, "name": STR,
     "config": obj({}, {"configurable": {**OBJ, "description": "`type`, `type==<bot type>/<key>`, `model`, `data_source_id`, `max_steps`"}}),
     "updated_at": TIME, "public": BOOL, "metadata": OBJ},
    {"data_source_id": NUUID},
)

# --- threads ---------------------------------------------------------------------------------

THREAD = obj({"thread_id": UUID, "user_id": STR, "assistant_id": NUUID, "name": STR, "updated_at": TIME, "metadata": OBJ},
             {"created_at": TIME})

# --- messages (langchain's dicts) ------------------------------------------------------------

TOOL_CALL = obj({"name": STR, "args": OBJ, "id": STR, "type": {"type": "string", "enum": ["tool_call"]}})
MESSAGE = obj(
    {"content": STR, "additional_kwargs": {**OBJ, "description": "a final answer's `agent`: {return_values: {output}, log, type}"},
     "response_metadata": OBJ, "type": {"type": "string", "enum": ["human", "ai", "tool", "system"]}, "name": NSTR, "id": STR,
     "example": BOOL},
    {"tool_calls": {**array(TOOL_CALL), "description": "ai messages"}, "invalid_tool_calls": {**array(OBJ), "description": "ai messages"},
     "usage_metadata": {**NOBJ, "description": "ai messages: the model call's token counts"},
     "tool_call_id": {**STR, "description": "tool messages: the call answered"}},
)
MESSAGES = array(MESSAGE)
STATE_VALUES = {"oneOf": [MESSAGES, obj({"messages": MESSAGES})],
                "description": "the messages; a RAGBot's (`chat_retrieval`) are under `messages`"}
STATE = obj({"values": STATE_VALUES, "next": array(STR)})
HISTORY = array(obj({"values": STATE_VALUES, "next": array(STR), "at": TIME,
                     "config": obj({"configurable": obj({"thread_id": UUID})})}))

# What threads.opengpts.messages.parse_input_messages accepts: a message's content is text or
# langchain's content parts (a string, or an object whose `text` is read; other parts are skipped).
CONTENT_PART = {"oneOf": [STR, {"type": "object", "properties": {"text": STR}, "additionalProperties": True}]}
MESSAGE_IN = {
    "type": "object",
    "properties": {"content": {"oneOf": [STR, array(CONTENT_PART)]},
                   "type": {"type": "string", "enum": ["human", "user", "system"], "default": "human"}},
    "required": ["content"],
    "additionalProperties": True,
}
MESSAGES_IN = {"oneOf": [array(MESSAGE_IN), {"type": "object", "properties": {"messages": array(MESSAGE_IN)}, "additionalProperties": True}],
               "description": "a list of messages, or {messages: [...]}"}
STATE_IN = {"type": "object", "properties": {"values": MESSAGES_IN, "config": OBJ}, "required": ["values"], "additionalProperties": True}

# --- runs ------------------------------------------------------------------------------------

# A run's request names what the operator's limits allow now: a component the schema hook writes
# (threads.openapi.add_async_routes), read by POST /runs and POST /runs/stream.
RUN_IN_REF = {"$ref": "#/components/schemas/OpenGptsRunIn"}


def run_in() -> dict:
    """threads.opengpts.serializers.RunInSerializer with what services.start_opengpts_run checks."""
    from assistants import limits

    configurable = {"type": "object", "additionalProperties": True, "nullable": True, "properties": {
        "model": {"type": "string", "enum": ["", *limits.allowed_models()], "nullable": True},
        "max_steps": {"type": "integer", "minimum": 1, "maximum": limits.step_cap(), "nullable": True},
    }}
    return {"type": "object", "properties": {
        "thread_id": UUID, "assistant_id": {**UUID, "description": "switches the thread to this assistant first"},
        "input": MESSAGES_IN, "config": {"type": "object", "properties": {"configurable": configurable}, "additionalProperties": True},
    }, "required": ["thread_id"], "additionalProperties": True}


RUN_STATUS = {"type": "string", "enum": list(Run.Status.values)}
RUN_STARTED = obj({"run_id": UUID, "thread_id": UUID, "status": RUN_STATUS})
RUN = obj({"run_id": UUID, "thread_id": UUID, "status": RUN_STATUS, "error": NSTR,
           "usage": {**OBJ, "description": "prompt_tokens, completion_tokens, total_tokens, cost_usd"},
           "timings": OBJ, "steps": INT, "attempts": INT, "created_at": TIME, "finished_at": {**TIME, "nullable": True}})
# A JSON schema: `configurable` has one property schema per key the assistants' config takes.
CONFIGURABLE_KEYS = {**OBJ, "description": f"`type` (one of {', '.join(BOT_TYPES)}), `type==<bot type>/<key>`, `model` "
                     "(enum: the allowed models), `data_source_id`, `max_steps` (maximum: the operator's step cap)"}
CONFIG_SCHEMA = obj({
    "title": STR, "type": {"type": "string", "enum": ["object"]},
    "properties": obj({"configurable": obj({"title": STR, "type": STR, "properties": CONFIGURABLE_KEYS})}),
})

# --- documents (POST /ingest) ----------------------------------------------------------------

DOCUMENT = obj({"document_id": UUID, "title": STR, "file_name": STR, "kind": STR, "size_bytes": INT, "chunks": INT,
                "scope": {"type": "string", "enum": ["assistant", "thread"]}, "assistant_id": NUUID, "thread_id": NUUID,
                "created_at": TIME})
INGEST_CONFIG = {
    "oneOf": [
        obj({"configurable": {**obj({"assistant_id": UUID}), "not": {"required": ["thread_id"]}}}),
        obj({"configurable": {**obj({"thread_id": UUID}), "not": {"required": ["assistant_id"]}}}),
    ],
    "description": "the target: exactly one of configurable.assistant_id or configurable.thread_id, which the caller must own",
}
INGEST = OpenApiRequest(
    {"type": "object", "properties": {
        "files": {**array({"type": "string", "format": "binary"}), "minItems": 1, "description": "PDF, DOCX, HTML, Markdown or text files"},
        "config": INGEST_CONFIG,
        "upload_id": {"type": "string", "description": "read the upload's progress at /ui/uploads/{upload_id} (its first 100 characters)"},
    }, "required": ["files", "config"]},
    encoding={"config": {"contentType": "application/json"}},
)


# drf-spectacular leaves a raw request schema's body optional; these views refuse a missing one.
RAW_REQUEST_BODIES = (("/ingest", "post"), ("/runs", "post"), ("/threads/{thread_id}/state", "post"))


def require_raw_bodies(paths: dict) -> None:
    for path, method in RAW_REQUEST_BODIES:
        body = paths.get(path, {}).get(method, {}).get("requestBody")
        if body is not None:
            body["required"] = True
