"""Julep's shapes (seed 004, julep SDK 0.3.9): agents, users, sessions, chat.

One input serializer per resource serves create, PUT and PATCH: `mode` decides what is required.
Optional fields accept null, which means "not given" (the SDK sends null for every unset field).
"""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assistants import limits
from assistants.models import Assistant
from config.fields import MAX_INT, StrictBooleanField, StrictCharField, storable_json
from config.patches.spectacular_patterns import CHAR, NOT_BLANK
from threads.artifact_text import render_for_thread

from .bi_serializers import StrictDictField
from .http import QuerySerializer
from .models import EndUser, Session

CREATE, PUT, PATCH = "create", "put", "patch"
PRESETS = ("problem_solving", "conversational", "fun", "prose", "creative", "business", "deterministic", "code", "multilingual")
CONTEXT_OVERFLOW = ("truncate", "adaptive")
RESERVED_METADATA_KEY = "julep"  # Julep-only agent fields live there, beside the caller's metadata
# Julep-hosted model names select Querent's configured model; the name is kept and shown back.
JULEP_HOSTED_PREFIX = "julep-ai/"


def reject_unknown(serializer, data, message: str) -> None:
    """A misspelt field would otherwise be dropped without a word."""
    if isinstance(data, dict):
        unknown = set(data) - set(serializer.fields)
        if unknown:
            raise serializers.ValidationError({name: [message] for name in sorted(unknown)})


class ModeSerializer(serializers.Serializer):
    """`required_for` maps a field to the modes that must send it; in PATCH nothing is required."""

    required_for: dict[str, tuple[str, ...]] = {}

    def __init__(self, *args, mode: str = CREATE, **kwargs):
        super().__init__(*args, **kwargs)
        self.mode = mode
        for name, field in self.fields.items():
            field.required = mode in self.required_for.get(name, ())
            field.allow_null = not field.required

    def to_internal_value(self, data):
        reject_unknown(self, data, "Unknown field.")
        return super().to_internal_value(data)


STRING_OR_LIST = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


@extend_schema_field(STRING_OR_LIST)
class InstructionsField(serializers.Field):
    """A string, or a list of strings (one instruction each)."""

    default_error_messages = {"invalid": "Must be a string or a list of strings."}
    default_validators = [storable_json]

    def to_internal_value(self, data):
        if isinstance(data, str):
            return data
        if isinstance(data, list) and all(isinstance(item, str) for item in data) and len(data) <= 200:
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "array", "maxItems": 0, "items": {}})
class EmptyListField(serializers.ListField):
    """Accepted only empty: the feature behind it is not offered, and silently dropping it would mislead."""

    def __init__(self, *, feature: str, **kwargs):
        self.feature = feature
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value:
            raise serializers.ValidationError(f"{self.feature} are not supported by this server; send an empty list.")
        return value


class DefaultSettingsSerializer(serializers.Serializer):
    frequency_penalty = serializers.FloatField(min_value=-2, max_value=2, required=False, allow_null=True)
    length_penalty = serializers.FloatField(min_value=0, max_value=2, required=False, allow_null=True)
    presence_penalty = serializers.FloatField(min_value=-2, max_value=2, required=False, allow_null=True)
    repetition_penalty = serializers.FloatField(min_value=0, max_value=2, required=False, allow_null=True)
    temperature = serializers.FloatField(min_value=0, max_value=2, required=False, allow_null=True)
    top_p = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    min_p = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    preset = serializers.ChoiceField(choices=PRESETS, required=False, allow_null=True)

    def to_internal_value(self, data):
        reject_unknown(self, data, "Unknown setting.")
        return {k: v for k, v in super().to_internal_value(data).items() if v is not None}


# What the server keeps: no NUL or unpaired surrogate anywhere, and some text that is not blank.
@extend_schema_field({"oneOf": [
    {"type": "string", "minLength": 1, "pattern": NOT_BLANK},
    {"type": "array", "items": {"type": "string", "pattern": rf"^{CHAR}*$"}, "minItems": 1,
     "not": {"items": {"type": "string", "pattern": r"^\s*$"}}},
]})
class DocContentField(serializers.Field):
    """A string, or a list of strings (paragraphs), as Julep's CreateDoc takes it."""

    def to_internal_value(self, data):
        parts = [data] if isinstance(data, str) else data if isinstance(data, list) and data else None
        if parts is None or not all(isinstance(p, str) for p in parts) or not any(p.strip() for p in parts):
            raise serializers.ValidationError("must be a non-empty string or a list of strings")
        if any("\x00" in p for p in parts):
            raise serializers.ValidationError("must not contain NUL characters")
        storable_json(data)
        return data

    def to_representation(self, value):
        return value


class DocInSerializer(serializers.Serializer):
    title = StrictCharField(max_length=500)
    content = DocContentField()
    metadata = serializers.DictField(required=False, allow_null=True, default=dict, validators=[storable_json])


class DocListField(serializers.ListField):
    """Julep's inline `docs`: stored with the agent or user, in the same transaction."""

    def __init__(self, **kwargs):
        super().__init__(child=DocInSerializer(), max_length=settings.MAX_DOCUMENTS_PER_SCOPE, **kwargs)


class AgentInSerializer(ModeSerializer):
    required_for = {"name": (CREATE, PUT), "about": (PUT,)}

    name = StrictCharField(max_length=200)
    about = StrictCharField(allow_blank=True, max_length=10_000)
    instructions = InstructionsField()
    model = StrictCharField(allow_blank=True, max_length=200)
    default_settings = DefaultSettingsSerializer()
    metadata = StrictDictField()
    tools = EmptyListField(feature="Agent tools (client-side functions)")
    docs = DocListField()
    data_source_id = serializers.UUIDField()

    def validate_model(self, value):
        """Julep's hosted names mean the default model; any other name must be one the operator allows."""
        if not value or value.startswith(JULEP_HOSTED_PREFIX):
            return value
        try:
            return limits.check_model(value)
        except limits.LimitError as exc:
            raise serializers.ValidationError(exc.message) from None

    def validate_metadata(self, value):
        if value is not None and RESERVED_METADATA_KEY in value:
            raise serializers.ValidationError(f"the key {RESERVED_METADATA_KEY!r} is reserved")
        return value


class UserInSerializer(ModeSerializer):
    required_for = {"name": (PUT,), "about": (PUT,)}

    name = StrictCharField(allow_blank=True, max_length=200)
    about = StrictCharField(allow_blank=True, max_length=10_000)
    metadata = StrictDictField()
    docs = DocListField()


class SessionInSerializer(ModeSerializer):
    required_for = {"agent_id": (CREATE,), "situation": (PUT,)}

    agent_id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    situation = StrictCharField(allow_blank=True, max_length=100_000, trim_whitespace=False)
    metadata = StrictDictField()
    render_templates = StrictBooleanField()
    token_budget = serializers.IntegerField(min_value=1, max_value=MAX_INT)
    context_overflow = serializers.ChoiceField(choices=CONTEXT_OVERFLOW)


class ListQuerySerializer(QuerySerializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=100)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_INT, required=False, default=0)
    metadata_filter = serializers.CharField(required=False, allow_blank=True)
    sort_by = serializers.ChoiceField(choices=("created_at", "updated_at"), required=False, default="created_at")
    order = serializers.ChoiceField(choices=("asc", "desc"), required=False, default="desc")


class PageQuerySerializer(QuerySerializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=100)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_INT, required=False, default=0)


# --- chat ------------------------------------------------------------------------------------

ROLES = {"user": "human", "assistant": "ai", "system": "system"}


NO_NUL = r"^[^\x00]*$"


@extend_schema_field({"oneOf": [
    {"type": "string", "pattern": NO_NUL},
    {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
        "type": {"type": "string", "enum": ["text"]}, "text": {"type": "string", "pattern": NO_NUL}}, "required": ["type", "text"]}},
]})
class ContentField(serializers.Field):
    """A string, or content parts of which only text parts are understood."""

    default_error_messages = {"invalid": "Must be a string or a list of text parts ({{\"type\": \"text\", \"text\": ...}})."}
    default_validators = [storable_json]

    def to_internal_value(self, data):
        if isinstance(data, str):
            return data
        if isinstance(data, list) and data:
            texts = []
            for part in data:
                if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    self.fail("invalid")
                texts.append(part["text"])
            return "\n".join(texts)
        self.fail("invalid")


@extend_schema_field({"type": "string", "enum": list(ROLES)})
class RoleField(serializers.CharField):
    """Read as any string so that an unknown role is named in the error (validate_role)."""


class ChatMessageSerializer(serializers.Serializer):
    role = RoleField()
    content = ContentField()
    name = StrictCharField(required=False, allow_null=True, max_length=200)
    # Julep's `continue` (extend the last assistant message) has no engine counterpart.
    continue_ = StrictBooleanField(required=False, allow_null=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["continue"] = self.fields.pop("continue_")

    def validate_role(self, value):
        if value not in ROLES:
            raise serializers.ValidationError(f"role {value!r} is not supported; use one of: {', '.join(ROLES)}")
        return value

    def validate(self, attrs):
        if attrs.get("continue"):
            raise serializers.ValidationError({"continue": ["continuing a message is not supported; send a new message"]})
        return attrs


def _optional(field_class, **kwargs):
    return field_class(required=False, allow_null=True, **kwargs)


class ChatInSerializer(serializers.Serializer):
    messages = serializers.ListField(child=ChatMessageSerializer(), min_length=1, max_length=200)
    stream = _optional(StrictBooleanField)
    tools = _optional(EmptyListField, feature="Chat tools (client-side functions)")
    tool_choice = serializers.JSONField(required=False, allow_null=True, validators=[storable_json])
    frequency_penalty = _optional(serializers.FloatField, min_value=-2, max_value=2)
    length_penalty = _optional(serializers.FloatField, min_value=0, max_value=2)
    presence_penalty = _optional(serializers.FloatField, min_value=-2, max_value=2)
    repetition_penalty = _optional(serializers.FloatField, min_value=0, max_value=2)
    temperature = _optional(serializers.FloatField, min_value=0, max_value=2)
    top_p = _optional(serializers.FloatField, min_value=0, max_value=1)
    min_p = _optional(serializers.FloatField, min_value=0, max_value=1)
    max_tokens = _optional(serializers.IntegerField, min_value=1)
    seed = _optional(serializers.IntegerField)
    stop = serializers.JSONField(required=False, allow_null=True, validators=[storable_json])
    logit_bias = _optional(serializers.DictField, validators=[storable_json])
    response_format = _optional(serializers.DictField, validators=[storable_json])
    preset = _optional(serializers.ChoiceField, choices=PRESETS)
    recall = _optional(StrictBooleanField)
    remember = _optional(StrictBooleanField)
    record = _optional(StrictBooleanField)

    SAMPLING = ("frequency_penalty", "length_penalty", "presence_penalty", "repetition_penalty", "temperature",
                "top_p", "min_p", "max_tokens", "seed", "stop", "logit_bias", "response_format", "preset")

    def validate_messages(self, value):
        if not any(m["role"] == "user" for m in value):
            raise serializers.ValidationError("at least one message must have role 'user'")
        return value

    def sampling(self) -> dict:
        return {k: self.validated_data[k] for k in self.SAMPLING if self.validated_data.get(k) is not None}


# --- output ----------------------------------------------------------------------------------


def stamp(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def created(obj) -> dict:
    return {"id": str(obj.id), "created_at": stamp(obj.created_at)}


def updated(obj) -> dict:
    return {"id": str(obj.id), "updated_at": stamp(obj.updated_at)}


def deleted(obj_id, when) -> dict:
    return {"id": str(obj_id), "deleted_at": stamp(when)}


def agent_out(agent: Assistant) -> dict:
    extras = (agent.metadata or {}).get(RESERVED_METADATA_KEY) or {}
    return {
        "id": str(agent.id),
        "name": agent.name,
        "about": agent.about,
        "created_at": stamp(agent.created_at),
        "updated_at": stamp(agent.updated_at),
        "model": extras.get("model") or agent.model or settings.QUERENT_MODEL,
        "default_settings": extras.get("default_settings") or {},
        "metadata": {k: v for k, v in (agent.metadata or {}).items() if k != RESERVED_METADATA_KEY},
        "instructions": extras["instructions"] if "instructions" in extras else agent.instructions,
        "data_source_id": str(agent.data_source_id) if agent.data_source_id else None,
    }


def user_out(user: EndUser) -> dict:
    return {
        "id": str(user.id),
        "name": user.name,
        "about": user.about,
        "created_at": stamp(user.created_at),
        "updated_at": stamp(user.updated_at),
        "metadata": user.metadata,
    }


def session_out(session: Session) -> dict:
    return {
        "id": str(session.id),
        "user_id": str(session.end_user_id) if session.end_user_id else None,
        "agent_id": str(session.agent_id),
        "situation": session.situation,
        "summary": session.summary,
        "created_at": stamp(session.created_at),
        "updated_at": stamp(session.updated_at),
        "metadata": session.metadata,
        "render_templates": session.render_templates,
        "token_budget": session.token_budget,
        "context_overflow": session.context_overflow,
    }


def chat_message_out(message, role: str | None = None) -> dict:
    return {
        "role": role or {"human": "user", "ai": "assistant", "system": "system"}.get(message.role, message.role),
        # Julep clients cannot render artifact tags: the answer carries the tables themselves.
        "content": render_for_thread(message.content, message.thread_id) if message.role == "ai" else message.content,
        "name": message.name or None,
        "created_at": stamp(message.created_at),
        "id": str(message.id),
    }
