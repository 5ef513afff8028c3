"""What the Dataherald dialect answers, as OpenAPI schemas (drf-spectacular takes a dict as a raw
schema): the shapes of responses.serializers (seed 001) and responses.current_serializers (the
current API), so a client generator or a fuzzer learns every field, its type and when it is null."""

from drf_spectacular.extensions import OpenApiSerializerExtension

from config.patches.spectacular_patterns import default_serializer_schema
from executor.context.models import ContextState, SqlGeneration, TableDescription

from .current_serializers import GENERATION_STATUSES, _ENGINE_STATUS
from .models import Response

STR = {"type": "string"}
NSTR = {"type": "string", "nullable": True}
UUID = {"type": "string", "format": "uuid"}
INT = {"type": "integer"}
NNUM = {"type": "number", "nullable": True}
BOOL = {"type": "boolean"}
OBJ = {"type": "object", "additionalProperties": True}
NOBJ = {"type": "object", "additionalProperties": True, "nullable": True}
ANY = {"nullable": True}  # any JSON value (stored as the client or the database gave it)
WHEN = NSTR  # an ISO 8601 timestamp, null when not yet set


def obj(required: dict, optional: dict | None = None) -> dict:
    return {"type": "object", "properties": {**required, **(optional or {})}, "required": list(required)}


def many(schema: dict) -> dict:
    return {"type": "array", "items": schema}


def enum(values, *, nullable: bool = False) -> dict:
    return {"type": "string", "enum": list(values), **({"nullable": True} if nullable else {})}


# --- seed 001 -----------------------------------------------------------------------------------

CONNECTION = obj({
    "id": UUID, "alias": STR, "dialect": STR, "use_ssh": BOOL,
    # Never returned (credentials stay on the server) or not offered: always null.
    "connection_uri": NSTR, "path_to_credentials_file": NSTR, "llm_api_key": NSTR, "ssh_settings": NOBJ, "file_storage": NOBJ,
    "metadata": OBJ, "tenant_wide": BOOL, "shared": BOOL, "created_at": STR,
})

QUESTION = obj({"id": UUID, "question": STR, "db_connection_id": UUID, "created_at": STR})

PENDING_CHANGE = obj({
    "confirmation_id": UUID, "status": STR, "sql": STR, "thread_id": UUID, "run_id": UUID, "expires_at": STR,
    "approve": obj({"method": STR, "path": STR, "body": OBJ}), "deny": obj({"method": STR, "path": STR, "body": OBJ}),
    "chat_page": STR, "admin": STR,
})

RESPONSE = obj(
    {
        "id": UUID, "question_id": UUID, "response": NSTR, "intermediate_steps": many(ANY), "sql_query": NSTR,
        "sql_query_result": NOBJ, "csv_file_path": NSTR, "sql_generation_status": enum(Response.Status.values),
        "error_message": NSTR, "exec_time": NNUM, "total_tokens": INT, "total_cost": {"type": "number"},
        "confidence_score": NNUM, "created_at": STR,
        "pending_confirmation": {**PENDING_CHANGE, "nullable": True},
    },
    # A response that holds a write: the confirmation it waits on (or waited on).
    {"confirmation": obj({"confirmation_id": UUID, "sql": STR, "status": STR, "thread_id": UUID})},
)

class SqlExecutionInScheme(OpenApiSerializerExtension):
    """The statement as sql_query (seed 001) or sql_statement (later versions): one of them is required."""

    target_class = "responses.serializers.SqlExecutionInSerializer"

    def map_serializer(self, auto_schema, direction):
        schema = default_serializer_schema(auto_schema, self.target, direction)
        return {**schema, "anyOf": [{"required": ["sql_query"]}, {"required": ["sql_statement"]}]}


# Dataherald's (str(rows), {"result": rows}): OpenAPI 3.0 has no tuples, so an array of either.
SQL_EXECUTION = {
    "type": "array", "minItems": 2, "maxItems": 2,
    "items": {"oneOf": [STR, obj({"result": many(many(ANY))})]},
}

HEARTBEAT = obj({"nanosecond heartbeat": INT})

# --- the current API ----------------------------------------------------------------------------

PROMPT = obj({"id": UUID, "text": STR, "db_connection_id": UUID, "schemas": {**many(STR), "nullable": True},
              "metadata": OBJ, "created_at": WHEN})

SQL_GENERATION = obj({
    "id": UUID, "prompt_id": UUID, "finetuning_id": NSTR, "status": enum(SqlGeneration.Status.values),
    "completed_at": WHEN, "llm_config": NOBJ, "intermediate_steps": many(obj({"thoughts": ANY})), "sql": NSTR,
    "tokens_used": INT, "confidence_score": NNUM, "error": NSTR, "evaluate": BOOL, "low_latency_mode": BOOL,
    "metadata": OBJ, "created_at": WHEN,
})

NL_GENERATION = obj({"id": UUID, "sql_generation_id": UUID, "text": NSTR, "llm_config": NOBJ, "metadata": OBJ, "created_at": WHEN})

INSTRUCTION = obj({"id": UUID, "instruction": STR, "db_connection_id": UUID, "metadata": OBJ, "created_at": WHEN})

GOLDEN_SQL = obj({"id": UUID, "db_connection_id": UUID, "prompt_text": STR, "sql": STR,
                  # metadata.dh_internal.source says where it came from (an upload, a verified generation)
                  "metadata": OBJ, "created_at": WHEN})

# A column as the last scan saw it, with what people wrote; every key present, null when unknown.
COLUMN = obj({"name": ANY, "data_type": ANY, "description": ANY, "is_primary_key": ANY, "low_cardinality": ANY,
              "categories": ANY, "foreign_key": ANY})

TABLE_DESCRIPTION = obj({
    "id": UUID, "db_connection_id": UUID, "schema_name": NSTR, "table_name": STR, "description": NSTR, "table_schema": NSTR,
    "columns": many(COLUMN), "examples": many(ANY), "row_count": {"type": "integer", "nullable": True},
    "last_schema_sync": WHEN,
    # The hosted API's names; the engine (/api/v1/) says SCANNED and NOT_SCANNED for two of them.
    "status": enum(dict.fromkeys([*TableDescription.Status.values, *_ENGINE_STATUS.values()])),
    "error_message": NSTR, "metadata": OBJ, "created_at": WHEN,
})

SCAN = obj({
    "db_connection_id": UUID, "status": enum(ContextState.ScanStatus.values), "tables_total": INT, "tables_done": INT,
    "tables_failed": INT, "error": NSTR, "started_at": WHEN, "finished_at": WHEN,
})

GENERATION = obj({
    "id": UUID, "db_connection_id": UUID, "prompt_text": STR, "confidence_score": NNUM, "created_at": WHEN,
    "created_by": STR, "display_id": NSTR, "message": NSTR, "nl_generation_text": NSTR, "organization_id": STR,
    "slack_info": NOBJ, "sql": NSTR, "sql_generation_error": NSTR, "status": enum(GENERATION_STATUSES),
    "updated_at": WHEN, "updated_by": NSTR,
})

QUERY_HISTORY = obj({"id": UUID, "db_connection_id": UUID, "table_name": NSTR, "query": STR, "user": STR, "occurrences": INT})

ROWS = many({**OBJ, "description": "A row: {column name: value}; the columns are the query's own."})

DRIVER = obj({"driver": STR, "name": STR})

DELETED = obj({"status": BOOL})

FINETUNING_REFUSED = obj({"detail": STR, "code": enum(["finetuning_not_supported"])})
