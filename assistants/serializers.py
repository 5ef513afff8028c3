"""OpenGPTs' assistant shape (seed 002): {assistant_id, user_id, name, config, updated_at, public, metadata}."""

from rest_framework import serializers

from config.fields import StrictBooleanField, StrictCharField, storable_json

from . import limits
from .models import Assistant

# OpenGPTs' agent types name products, not model ids: they select Querent's default model.
OPENGPTS_AGENT_TYPES = {
    "GPT 3.5 Turbo", "GPT 4", "GPT 4o", "GPT 4o Mini", "GPT 4 (Azure OpenAI)", "Claude 2", "Claude 3 Haiku",
    "Claude 3 Sonnet", "GEMINI", "Mixtral", "Ollama", "Bedrock",
}


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
        tools = value.get("type==agent/tools", [])
        if not isinstance(tools, list):
            raise serializers.ValidationError("type==agent/tools must be a list")
        message = value.get("type==agent/system_message", "")
        if not isinstance(message, str):
            raise serializers.ValidationError("type==agent/system_message must be a string")
        for key in ("type==agent/agent_type", "model", "data_source_id", "type"):
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
        agent_type = configurable.get("type==agent/agent_type") or ""
        model = configurable.get("model") or ("" if agent_type in OPENGPTS_AGENT_TYPES else "")
        return {
            "instructions": configurable.get("type==agent/system_message", "") or "",
            "tools": list(configurable.get("type==agent/tools", []) or []),
            "model": model,
            "about": configurable.get("type==agent/retrieval_description", "") or "",
        }
