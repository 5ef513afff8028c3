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


@extend_schema_field(OpenApiTypes.BOOL)
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


class QuestionFlagsSerializer(serializers.Serializer):
    """Query parameters of POST /questions (Dataherald's defaults)."""

    run_evaluator = serializers.BooleanField(required=False, default=False)
    generate_csv = serializers.BooleanField(required=False, default=False)


class ResponseFlagsSerializer(QuestionFlagsSerializer):
    """Query parameters of POST /responses: Dataherald evaluates by default here."""

    run_evaluator = serializers.BooleanField(required=False, default=True)
    sql_response_only = serializers.BooleanField(required=False, default=False)


class ListSerializer(serializers.Serializer):
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


def response_out(response: Response) -> dict:
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
