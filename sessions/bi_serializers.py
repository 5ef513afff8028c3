"""BI chat sessions' shapes (seed 003): validation at the edge, and the session as JSON."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.fields import MAX_INT, StrictBooleanField, StrictCharField, storable_json

from .bi.visualization import CHART_TYPES
from .http import QuerySerializer
from .models import Session

MAX_MESSAGE_CHARS = 20_000


class StrictDictField(serializers.DictField):
    default_error_messages = {"not_a_dict": "Must be a JSON object."}
    default_validators = [storable_json]


class SessionCreateSerializer(serializers.Serializer):
    user_id = StrictCharField(max_length=200)
    agent_id = serializers.UUIDField(required=False)
    metadata = StrictDictField(required=False, default=dict)


class MessageSerializer(serializers.Serializer):
    message = StrictCharField(max_length=MAX_MESSAGE_CHARS)


class RefineSerializer(serializers.Serializer):
    refinement = StrictCharField(max_length=MAX_MESSAGE_CHARS)


@extend_schema_field({"type": "string", "enum": list(CHART_TYPES)})
class ChartTypeField(StrictCharField):
    """Any string is read (an unknown type is answered with the list of valid ones, by the view);
    the schema names the valid ones."""


class VisualizationSerializer(serializers.Serializer):
    chart_type = ChartTypeField(max_length=40)


class ListQuerySerializer(QuerySerializer):
    tenant_id = serializers.CharField(required=False, max_length=100)
    user_id = serializers.CharField(required=False, max_length=200)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_INT, default=0)


class HistoryQuerySerializer(QuerySerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)


def session_created(session: Session) -> dict:
    return {"session_id": str(session.id), "tenant_id": session.tenant, "created_at": session.created_at.isoformat()}


def session_summary(session: Session) -> dict:
    return {
        "session_id": str(session.id),
        "tenant_id": session.tenant,
        "user_id": session.external_user_id,
        "agent_id": str(session.agent_id),
        "thread_id": str(session.thread_id),
        "metadata": session.metadata,
        "last_sql": session.last_sql or None,
        "visualization": session.visualization,
        "created_at": session.created_at.isoformat(),
        "updated_at": session.updated_at.isoformat(),
    }
