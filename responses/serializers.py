"""Dataherald's shapes (seed 001): input validation at the edge, and the JSON each object becomes."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.fields import MAX_INT, StrictBooleanField, StrictCharField, storable_json
from executor.models import DataSource
from executor.services import OPERATOR_ONLY

from .models import Question, Response

MAX_QUESTION = 10_000
MAX_SQL = 100_000


@extend_schema_field(OpenApiTypes.NONE)
class _UnsupportedField(serializers.Field):
    """Dataherald options Querent does not offer: absent or null is fine, a value is refused by name."""

    def __init__(self, reason: str, **kwargs):
        self.reason = reason
        super().__init__(required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data):
        raise serializers.ValidationError(self.reason)

    def to_representation(self, value):
        return None


@extend_schema_field({"type": "boolean", "nullable": True, "enum": [False, None]})  # true is the operator's alone
class _OperatorOnlyField(serializers.Field):
    """`shared` (usable by every tenant): absent, null or false is fine; true is refused by name,
    because only the operator shares a data source with every tenant."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data):
        if data is False:
            return False
        raise serializers.ValidationError(OPERATOR_ONLY["shared"])

    def to_representation(self, value):
        return bool(value)


class QueryParams(serializers.Serializer):
    """Query parameters: DRF drops a blank value (`?limit=`) as if it were absent, so a malformed
    URL would pass unnoticed; here a parameter given blank is refused by name, like any bad value."""

    def to_internal_value(self, data):
        blank = {name: ["This parameter may not be blank."] for name in self.fields if data.get(name) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


class ConnectionInSerializer(serializers.Serializer):
    alias = StrictCharField(max_length=200)
    connection_uri = StrictCharField(max_length=4000)
    use_ssh = StrictBooleanField(required=False, default=False)
    metadata = serializers.DictField(required=False, allow_null=True, validators=[storable_json])
    path_to_credentials_file = _UnsupportedField("Credential files are not supported; put credentials in connection_uri.")
    llm_api_key = _UnsupportedField("A per-connection LLM key is not supported; the server's model configuration is used.")
    ssh_settings = _UnsupportedField("SSH tunnels are not supported.")
    file_storage = _UnsupportedField(
        "Per-connection file storage is not supported; CSV storage is configured on the server (QUERENT_CSV_S3_*)."
    )
    # Querent extensions: every principal of the tenant may use the connection (a tenant admin
    # decides); shared with every tenant is the operator's alone.
    tenant_wide = StrictBooleanField(required=False, default=False)
    shared = _OperatorOnlyField()

    def validate_use_ssh(self, value):
        if value:
            raise serializers.ValidationError("SSH tunnels are not supported; connect directly.")
        return value


class ConnectionUpdateSerializer(ConnectionInSerializer):
    # The URI is never returned, so a client cannot resend it: leaving it out keeps the stored one.
    connection_uri = StrictCharField(max_length=4000, required=False)
    tenant_wide = StrictBooleanField(required=False)  # left out: unchanged


def connection_out(data_source: DataSource) -> dict:
    return {
        "id": str(data_source.id),
        "alias": data_source.name,
        "dialect": data_source.dialect,
        "use_ssh": False,
        "connection_uri": None,  # the URI holds credentials: it never leaves the server
        "path_to_credentials_file": None,
        "llm_api_key": None,
        "ssh_settings": None,
        "file_storage": None,
        "metadata": data_source.metadata or {},
        "tenant_wide": data_source.tenant_wide,  # Querent extensions
        "shared": data_source.shared,
        "created_at": data_source.created_at.isoformat(),
    }


class QuestionInSerializer(serializers.Serializer):
    db_connection_id = StrictCharField(max_length=100)
    question = StrictCharField(max_length=MAX_QUESTION)


def question_out(question: Question) -> dict:
    return {
        "id": str(question.id),
        "question": question.question,
        "db_connection_id": str(question.db_connection_id),
        "created_at": question.created_at.isoformat(),
    }


class ResponseInSerializer(serializers.Serializer):
    question_id = StrictCharField(max_length=100)
    sql_query = StrictCharField(max_length=MAX_SQL, required=False, allow_null=True, allow_blank=True)


class QuestionFlagsSerializer(QueryParams):
    """Query parameters of POST /questions (Dataherald's defaults)."""

    run_evaluator = serializers.BooleanField(required=False, default=False)
    generate_csv = serializers.BooleanField(required=False, default=False)


class ResponseFlagsSerializer(QuestionFlagsSerializer):
    """Query parameters of POST /responses: Dataherald evaluates by default here."""

    run_evaluator = serializers.BooleanField(required=False, default=True)
    sql_response_only = serializers.BooleanField(required=False, default=False)


class ListSerializer(QueryParams):
    offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_INT)
    limit = serializers.IntegerField(required=False, default=500, min_value=1, max_value=1000)


class QuestionListSerializer(ListSerializer):
    db_connection_id = serializers.CharField(required=False, max_length=100)


class ResponseListSerializer(ListSerializer):
    question_id = serializers.CharField(required=False, max_length=100)


class SqlExecutionInSerializer(serializers.Serializer):
    db_connection_id = StrictCharField(max_length=100)
    sql_query = StrictCharField(max_length=MAX_SQL, required=False)
    sql_statement = StrictCharField(max_length=MAX_SQL, required=False)  # the name in later Dataherald versions

    def validate(self, attrs):
        sql = attrs.get("sql_query") or attrs.get("sql_statement")
        if not sql or not sql.strip():
            raise serializers.ValidationError({"sql_query": ["This field is required."]})
        attrs["sql"] = sql
        return attrs


def decide_path(response: Response, confirmation) -> str:
    return f"/api/v1/responses/{response.id}/confirmations/{confirmation.id}"


def holds_write(response: Response) -> bool:
    """A response whose query changes data is stored with its SQL and status NONE (no other
    response has SQL and NONE): its outcome lives on the engine's run that executes it."""
    return response.sql_generation_status == Response.Status.NONE and bool(response.sql_query)


def _write_fields(response: Response, write: dict) -> dict:
    """The held write's state over the stored fields. Waiting: status NONE, `pending_confirmation`
    (the SQL, its id, how to decide) and the same in words as `error_message`. Approved and run:
    VALID with the statement's rows. Denied, expired, cancelled or failed: INVALID, saying why."""
    from threads.models import Run
    from threads.serializers import pending_change, pending_change_text

    run, confirmation, outcome = write["run"], write["confirmation"], write["outcome"]
    fields = {"pending_confirmation": None}
    if confirmation is not None:
        fields["confirmation"] = {"confirmation_id": str(confirmation.id), "sql": confirmation.message, "status": confirmation.status,
                                  "thread_id": str(confirmation.thread_id)}
    if confirmation is not None and confirmation.status == confirmation.Status.PENDING and not run.is_terminal:
        change = pending_change(confirmation, decide_path=decide_path(response, confirmation))
        fields.update(pending_confirmation=change, error_message=pending_change_text(change))
    elif run.status == Run.Status.COMPLETED and outcome and "rows" in outcome:
        rows = len(outcome["rows"])
        fields.update(sql_generation_status=Response.Status.VALID, sql_query_result=outcome, error_message=None,
                      response=f"The change was approved and made; the statement returned {rows} row{'s' if rows != 1 else ''}.")
    elif run.status == Run.Status.COMPLETED and outcome:
        fields.update(sql_generation_status=Response.Status.INVALID, error_message=f"{outcome['error']} Nothing was changed.")
    elif run.is_terminal:
        why = run.error or f"the run that would execute it was {run.status}"
        fields.update(sql_generation_status=Response.Status.INVALID, error_message=f"The change was not made: {why}.")
    else:
        fields["error_message"] = "The change is being prepared or run; GET this response again for its outcome."
    return fields


def response_out(response: Response) -> dict:
    body = _stored_out(response)
    body["pending_confirmation"] = None  # a Querent extension: a change waiting for approval
    if holds_write(response):
        from .selectors import write_state

        write = write_state(response)
        if write is not None:
            body.update(_write_fields(response, write))
    return body


def _stored_out(response: Response) -> dict:
    return {
        "id": str(response.id),
        "question_id": str(response.question_id),
        "response": response.response,
        "intermediate_steps": response.intermediate_steps or [],
        "sql_query": response.sql_query,
        "sql_query_result": response.sql_query_result,
        "csv_file_path": response.csv_file_path,
        "sql_generation_status": response.sql_generation_status,
        "error_message": response.error_message,
        "exec_time": response.exec_time,
        "total_tokens": response.total_tokens,
        "total_cost": response.total_cost,
        "confidence_score": response.confidence_score,
        "created_at": response.created_at.isoformat(),
    }
