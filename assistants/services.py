"""Writes on assistants."""

from django.db import transaction
from django.http import Http404
from rest_framework.exceptions import ValidationError

from config.identity import Principal

from .models import Assistant
from .serializers import AssistantInSerializer


def _data_source_for(principal: Principal, config: dict):
    from executor.models import DataSource

    data_source_id = (config.get("configurable") or {}).get("data_source_id")
    if not data_source_id:
        return None, False
    data_source = DataSource.objects.usable_by(principal).filter(pk=data_source_id).first() if _is_uuid(data_source_id) else None
    if data_source is None:
        raise ValidationError({"config": [f"data source {data_source_id!r} not found"]})
    return data_source, True


def _is_uuid(value) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def _apply(assistant: Assistant, principal: Principal, data: dict) -> Assistant:
    assistant.name = data["name"]
    assistant.public = data["public"]
    assistant.metadata = data.get("metadata") or {}
    assistant.config = data["config"]
    for field, value in AssistantInSerializer.fields_from_config(data["config"]).items():
        setattr(assistant, field, value)
    data_source, given = _data_source_for(principal, data["config"])
    if given:
        assistant.data_source = data_source
    elif assistant.data_source_id is None:
        from executor.models import DataSource

        # Like the PromptQL default assistant: start on the first data source the owner may use.
        assistant.data_source = DataSource.objects.default_for(principal)
    return assistant


@transaction.atomic
def create_assistant(principal: Principal, data: dict, *, assistant_id=None) -> Assistant:
    assistant = Assistant(pk=assistant_id) if assistant_id else Assistant()
    assistant.assign_owner(principal)
    _apply(assistant, principal, data)
    assistant.save(force_insert=True)
    return assistant


@transaction.atomic
def put_assistant(principal: Principal, assistant_id, data: dict) -> tuple[Assistant, bool]:
    """OpenGPTs' PUT upserts; unlike OpenGPTs, an id owned by someone else is a 404, never a takeover."""
    existing = Assistant.objects.select_for_update().filter(pk=assistant_id).first()
    if existing is None:
        return create_assistant(principal, data, assistant_id=assistant_id), True
    if not existing.is_owned_by(principal):
        raise Http404("assistant not found")
    _apply(existing, principal, data)
    existing.save()
    return existing, False


def delete_assistant(principal: Principal, assistant_id) -> None:
    Assistant.objects.get_visible_or_404(principal, pk=assistant_id).delete()
