"""Dataherald's current API shapes (the engine's /api/v1 and the hosted API the official SDK
speaks under /api): input validation at the edge, and the JSON each context-store object becomes.
Outputs carry the union of both shapes' fields, as a path both dialects share does elsewhere."""

from rest_framework import serializers

from config.fields import StrictBooleanField, StrictCharField, storable_json
from executor.context.models import ContextState, GoldenSql, Instruction, NlGeneration, Prompt, SqlGeneration, TableDescription

from .serializers import QueryParams

MAX_TEXT = 10_000
MAX_SQL = 100_000
MAX_BATCH = 1000
GENERATION_STATUSES = ["INITIALIZED", "IN_PROGRESS", "NOT_VERIFIED", "VERIFIED", "ERROR", "REJECTED"]


def _metadata():
    return serializers.DictField(required=False, allow_null=True, validators=[storable_json])


def _when(value):
    return value.isoformat() if value else None


class ListParams(QueryParams):
    """Paging as the SDK sends it (page from 1, page_size, order, ascend) and the engine's filters."""

    page = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    order = serializers.ChoiceField(required=False, choices=["created_at", "id"], default="created_at")
    ascend = serializers.BooleanField(required=False, default=True)
    db_connection_id = serializers.CharField(required=False, max_length=100)
    table_name = serializers.CharField(required=False, max_length=300)


class QueryHistoryParams(ListParams):
    """The history is of one database connection: which one is required."""

    db_connection_id = serializers.CharField(max_length=100)


class PromptIn(serializers.Serializer):
    text = StrictCharField(max_length=MAX_TEXT)
    db_connection_id = StrictCharField(max_length=100)
    schemas = serializers.ListField(child=StrictCharField(max_length=200), required=False, allow_null=True, max_length=100)
    metadata = _metadata()


class PromptUpdate(serializers.Serializer):
    metadata = _metadata()


class SqlGenerationIn(serializers.Serializer):
    """Options of a SQL generation. `finetuning_id` and `low_latency_mode` are accepted and kept;
    no fine-tuned model exists here, so the configured model writes the SQL either way."""

    sql = StrictCharField(max_length=MAX_SQL, required=False, allow_null=True, allow_blank=True)
    evaluate = StrictBooleanField(required=False, default=False)
    low_latency_mode = StrictBooleanField(required=False, default=False)
    finetuning_id = StrictCharField(max_length=200, required=False, allow_null=True)
    llm_config = serializers.DictField(required=False, allow_null=True)  # accepted; the server's model is used
    metadata = _metadata()


class PromptSqlGenerationIn(SqlGenerationIn):
    prompt = PromptIn()


class NlGenerationIn(serializers.Serializer):
    max_rows = serializers.IntegerField(required=False, default=100, min_value=1, max_value=10_000)
    llm_config = serializers.DictField(required=False, allow_null=True)
    metadata = _metadata()


class SqlNlGenerationIn(NlGenerationIn):
    sql_generation = SqlGenerationIn()


class PromptSqlNlGenerationIn(NlGenerationIn):
    sql_generation = PromptSqlGenerationIn()


class MetadataUpdate(serializers.Serializer):
    metadata = _metadata()


class ExecuteParams(QueryParams):
    max_rows = serializers.IntegerField(required=False, default=100, min_value=1, max_value=100_000)


class InstructionIn(serializers.Serializer):
    instruction = StrictCharField(max_length=MAX_TEXT)
    db_connection_id = StrictCharField(max_length=100)
    metadata = _metadata()


class InstructionUpdate(serializers.Serializer):
    instruction = StrictCharField(max_length=MAX_TEXT, required=False)
    db_connection_id = StrictCharField(max_length=100, required=False)
    metadata = _metadata()


class GoldenSqlIn(serializers.Serializer):
    db_connection_id = StrictCharField(max_length=100)
    prompt_text = StrictCharField(max_length=MAX_TEXT)
    sql = StrictCharField(max_length=MAX_SQL)
    metadata = _metadata()


class GoldenSqlUpdate(serializers.Serializer):
    prompt_text = StrictCharField(max_length=MAX_TEXT, required=False)
    sql = StrictCharField(max_length=MAX_SQL, required=False)
    metadata = _metadata()


class ColumnIn(serializers.Serializer):
    name = StrictCharField(max_length=300)
    description = StrictCharField(max_length=MAX_TEXT, required=False, allow_blank=True, allow_null=True)
    # A column's distinct values may include NULL.
    categories = serializers.ListField(child=serializers.JSONField(allow_null=True), required=False, allow_null=True, max_length=1000)
    low_cardinality = StrictBooleanField(required=False)
    # What a scan finds (type, keys) is the database's to say: accepted, not changed by a client.
    data_type = serializers.CharField(required=False, allow_null=True)
    is_primary_key = serializers.BooleanField(required=False, allow_null=True)
    foreign_key = serializers.JSONField(required=False, allow_null=True)


class TableDescriptionUpdate(serializers.Serializer):
    description = StrictCharField(max_length=MAX_TEXT, required=False, allow_blank=True, allow_null=True)
    columns = ColumnIn(many=True, required=False)
    examples = serializers.ListField(child=serializers.JSONField(allow_null=True), required=False, max_length=100)  # any JSON, as the schema says
    metadata = _metadata()


class SyncSchemasIn(serializers.Serializer):
    db_connection_id = StrictCharField(max_length=100)
    table_names = serializers.ListField(child=StrictCharField(max_length=300), required=False, allow_null=True, max_length=10_000)


class RefreshIn(serializers.Serializer):
    db_connection_id = StrictCharField(max_length=100)


class GenerationUpdate(serializers.Serializer):
    generation_status = serializers.ChoiceField(choices=GENERATION_STATUSES)
    message = StrictCharField(max_length=MAX_TEXT, required=False, allow_null=True, allow_blank=True)


class GenerationSqlIn(serializers.Serializer):
    sql = StrictCharField(max_length=MAX_SQL)


# --- outputs ------------------------------------------------------------------------------


def prompt_out(item: Prompt) -> dict:
    return {
        "id": str(item.id), "text": item.text, "db_connection_id": str(item.data_source_id), "schemas": None,
        "metadata": item.metadata or {}, "created_at": _when(item.created_at),
    }


def sql_generation_out(item: SqlGeneration) -> dict:
    return {
        "id": str(item.id), "prompt_id": str(item.prompt_id), "finetuning_id": item.finetuning_id,
        "status": item.status, "completed_at": _when(item.completed_at), "llm_config": None,
        "intermediate_steps": [{"thoughts": step} for step in item.intermediate_steps or []],
        "sql": item.sql, "tokens_used": item.tokens_used, "confidence_score": item.confidence_score, "error": item.error,
        "evaluate": item.evaluate, "low_latency_mode": item.low_latency_mode,
        "metadata": item.metadata or {}, "created_at": _when(item.created_at),
    }


def nl_generation_out(item: NlGeneration) -> dict:
    return {
        "id": str(item.id), "sql_generation_id": str(item.sql_generation_id), "text": item.text, "llm_config": None,
        "metadata": item.metadata or {}, "created_at": _when(item.created_at),
    }


def instruction_out(item: Instruction) -> dict:
    return {
        "id": str(item.id), "instruction": item.instruction, "db_connection_id": str(item.data_source_id),
        "metadata": item.metadata or {}, "created_at": _when(item.created_at),
    }


def golden_sql_out(item: GoldenSql) -> dict:
    metadata = dict(item.metadata or {})
    metadata["dh_internal"] = {**(metadata.get("dh_internal") or {}), "source": item.source}
    return {
        "id": str(item.id), "db_connection_id": str(item.data_source_id), "prompt_text": item.prompt_text, "sql": item.sql,
        "metadata": metadata, "created_at": _when(item.created_at),
    }


# The engine names two statuses differently from the hosted API the SDK speaks.
_ENGINE_STATUS = {"SYNCHRONIZED": "SCANNED", "NOT_SYNCHRONIZED": "NOT_SCANNED"}


def table_description_out(item: TableDescription, *, engine_names: bool = False) -> dict:
    status = _ENGINE_STATUS.get(item.status, item.status) if engine_names else item.status
    return {
        "id": str(item.id), "db_connection_id": str(item.data_source_id), "schema_name": item.schema_name or None,
        "table_name": item.table_name, "description": item.description or None, "table_schema": None,
        "columns": [
            {k: c.get(k) for k in ("name", "data_type", "description", "is_primary_key", "low_cardinality", "categories", "foreign_key")}
            for c in item.columns or []
        ],
        "examples": item.examples or [], "row_count": item.row_count, "last_schema_sync": _when(item.last_schema_sync),
        "status": status, "error_message": item.error_message or None, "metadata": item.metadata or {},
        "created_at": _when(item.created_at),
    }


def scan_out(state: ContextState) -> dict:
    return {
        "db_connection_id": str(state.data_source_id), "status": state.scan_status, "tables_total": state.scan_tables_total,
        "tables_done": state.scan_tables_done, "tables_failed": state.scan_tables_failed, "error": state.scan_error or None,
        "started_at": _when(state.scan_started_at), "finished_at": _when(state.scan_finished_at),
    }


def generation_status(prompt: Prompt, latest: SqlGeneration | None) -> str:
    chosen = ((prompt.metadata or {}).get("dh_internal") or {}).get("generation_status")
    if chosen:
        return chosen
    if latest is None:
        return "INITIALIZED"
    if latest.status == SqlGeneration.Status.INITIALIZED:
        return "IN_PROGRESS"
    return "NOT_VERIFIED" if latest.status == SqlGeneration.Status.VALID else "ERROR"


def generation_out(prompt: Prompt, latest: SqlGeneration | None, nl: NlGeneration | None) -> dict:
    internal = (prompt.metadata or {}).get("dh_internal") or {}
    return {
        "id": str(prompt.id), "db_connection_id": str(prompt.data_source_id), "prompt_text": prompt.text,
        "confidence_score": latest.confidence_score if latest else None, "created_at": _when(prompt.created_at),
        "created_by": prompt.owner, "display_id": None, "message": internal.get("message"),
        "nl_generation_text": nl.text if nl else None, "organization_id": prompt.tenant, "slack_info": None,
        "sql": latest.sql if latest else None, "sql_generation_error": latest.error if latest else None,
        "status": generation_status(prompt, latest), "updated_at": internal.get("updated_at") or _when(prompt.created_at),
        "updated_by": internal.get("updated_by"),
    }
