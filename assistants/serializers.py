"""OpenGPTs' assistant shape (seed 002): {assistant_id, user_id, name, config, updated_at, public, metadata}."""

from rest_framework import serializers

from config.fields import StrictBooleanField, StrictCharField, storable_json

from . import limits
from .bots import BOT_TYPES
from .models import Assistant


def assistant_out(assistant: Assistant) -> dict:
    return {
        "assistant_id": str(assistant.id),
        "user_id": assistant.owner,
        "name": assistant.name,
        "config": assistant.config or {"configurable": {}},
        "updated_at": assistant.updated_at.isoformat(),
        "public": assistant.public,
        "metadata": assistant.metadata,
        "data_source_id": str(assistant.data_source_id) if assistant.data_source_id else None,
    }


class ConfigSerializer(serializers.Serializer):
    configurable = serializers.DictField(required=False, default=dict)

    def validate_configurable(self, value):
        kind = value.get("type")
        if kind is not None and kind not in BOT_TYPES:
            raise serializers.ValidationError(f"type must be one of {', '.join(BOT_TYPES)}, not {kind!r}")
        tools = value.get("type==agent/tools", [])
        if not isinstance(tools, list) or not all(isinstance(t, (str, dict)) for t in tools):
            raise serializers.ValidationError("type==agent/tools must be a list of tool names or tool objects")
        for key in (*(f"type=={k}/system_message" for k in BOT_TYPES), "type==agent/retrieval_description"):
            if value.get(key) is not None and not isinstance(value[key], str):
                raise serializers.ValidationError(f"{key} must be a string")
        for key in ("type==agent/agent_type", "type==chatbot/llm_type", "type==chat_retrieval/llm_type", "model", "data_source_id"):
            if key in value and value[key] is not None and not isinstance(value[key], str):
                raise serializers.ValidationError(f"{key} must be a string")
        try:  # the operator's limits are ceilings (assistants/limits.py)
            limits.check_model(value.get("model"))
            limits.check_max_steps(value.get("max_steps"))
        except limits.LimitError as exc:
            raise serializers.ValidationError(exc.message) from None
        return value


class AssistantInSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    config = serializers.DictField(validators=[storable_json])
    public = StrictBooleanField(default=False)
    metadata = serializers.DictField(required=False, default=dict, validators=[storable_json])

    def validate_config(self, value):
        nested = ConfigSerializer(data=value)
        nested.is_valid(raise_exception=True)
        return value

    @staticmethod
    def fields_from_config(config: dict) -> dict:
        """Map OpenGPTs' configurable keys onto the assistant; the config itself is kept verbatim."""
        configurable = config.get("configurable") or {}
        kind = configurable.get("type") or "agent"  # each bot type has its own keys (assistants.bots)
        model = configurable.get("model") or ""  # OpenGPTs' agent/llm types name products: QUERENT_MODEL
        return {
            "instructions": configurable.get(f"type=={kind}/system_message", "") or "",
            "tools": list(configurable.get("type==agent/tools", []) or []),
            "model": model,
            "about": configurable.get("type==agent/retrieval_description", "") or "",
        }


def document_out(document) -> dict:
    return {
        "document_id": str(document.id),
        "title": document.title,
        "file_name": document.file_name,
        "kind": document.kind,
        "size_bytes": document.size_bytes,
        "chunks": document.chunk_count,
        "scope": document.scope,
        "assistant_id": str(document.assistant_id) if document.assistant_id else None,
        "thread_id": str(document.thread_id) if document.thread_id else None,
        "created_at": document.created_at.isoformat(),
    }
