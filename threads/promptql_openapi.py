"""What the PromptQL thread routes answer, as OpenAPI schemas (drf-spectacular takes a dict as a raw
schema), read from threads.serializers: thread_summary, thread_detail, confirmation_dict, run_dict."""

STR = {"type": "string"}
NSTR = {"type": "string", "nullable": True}
UUID = {"type": "string", "format": "uuid"}
NUUID = {"type": "string", "format": "uuid", "nullable": True}
ANY = {}  # stored JSON the engine writes (usage, timings, steps, tool calls, artifact data)
NOBJ = {"type": "object", "additionalProperties": True, "nullable": True}


def obj(fields: dict) -> dict:
    return {"type": "object", "properties": fields, "required": list(fields)}


THREAD = obj({"thread_id": UUID, "user_id": STR, "assistant_id": NUUID, "name": STR, "metadata": NOBJ,
              "created_at": STR, "updated_at": STR})
RUN = obj({"run_id": UUID, "thread_id": UUID, "status": STR, "error": NSTR, "usage": ANY, "timings": ANY, "steps": ANY,
           "attempts": {"type": "integer"}, "created_at": STR, "finished_at": NSTR})
MESSAGE = obj({"id": UUID, "role": STR, "content": NSTR, "tool_calls": ANY, "tool_call_id": NSTR, "created_at": STR})
ARTIFACT = obj({"identifier": STR, "title": STR, "artifact_type": STR, "data": ANY, "version": {"type": "integer"}})
CONFIRMATION = obj({"confirmation_id": UUID, "message": STR, "status": STR, "run_id": UUID, "created_at": STR,
                    "expires_at": STR, "decided_at": NSTR})
THREADS = {"type": "array", "items": THREAD}
THREAD_DETAIL = {**THREAD, "properties": {
    **THREAD["properties"], "last_seq": {"type": "integer"}, "history": {"type": "array", "items": MESSAGE},
    "artifacts": {"type": "array", "items": ARTIFACT}, "confirmations": {"type": "array", "items": CONFIRMATION},
    "runs": {"type": "array", "items": RUN}},
    "required": [*THREAD["required"], "last_seq", "history", "artifacts", "confirmations", "runs"]}
DECIDED = {"type": "object", "properties": {}, "additionalProperties": False, "description": "empty: the decision is recorded"}
CANCELLED = obj({"cancelled": {"type": "array", "items": {**RUN, "properties": {**RUN["properties"], "cancel_requested": {"type": "boolean"}},
                                                          "required": [*RUN["required"], "cancel_requested"]}}})
