"""The chat page's own JSON endpoints (`/ui/...`): who am I, what can I choose, my thread list.

Everything the page streams goes through the websocket and the PromptQL endpoints; these only fill
the sidebar and the "new chat" form. Every lookup is scoped to the caller (`selectors.get_thread`,
`readable_by`, `usable_by`), so another principal's id is a 404.
"""

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from assistants.models import Assistant
from config.fields import StrictCharField
from config.identity import Principal
from config.schema import errors
from executor.models import DataSource

from . import selectors, services
from .models import Message, Run, Thread

# An assistant the page made to pair another assistant with a different data source.
VARIANT_KEY = "querent_page_variant_of"
THREAD_LIST_LIMIT = 200


class StrictSerializer(serializers.Serializer):
    """Unknown fields are a 400 naming them: a typo should not silently do nothing."""

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


class StrictUUIDField(serializers.UUIDField):
    """Only a UUID string: DRF would turn the number 5 into a UUID."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class ThreadCreateSerializer(StrictSerializer):
    assistant_id = StrictUUIDField(required=False, allow_null=True)
    data_source_id = StrictUUIDField(required=False, allow_null=True)
    name = StrictCharField(required=False, allow_blank=True, max_length=300)


class ThreadRenameSerializer(StrictSerializer):
    name = StrictCharField(max_length=300, allow_blank=False)


# --- reads -----------------------------------------------------------------------------------


def choosable_assistants(principal: Principal):
    return (
        Assistant.objects.readable_by(principal)
        .exclude(metadata__has_key=VARIANT_KEY)
        .select_related("data_source")
        .order_by("name", "created_at")
    )


def assistant_option(assistant: Assistant, principal: Principal) -> dict:
    return {
        "id": str(assistant.id),
        "name": assistant.name,
        "about": assistant.about,
        "public": assistant.public,
        "mine": assistant.is_owned_by(principal),
        "data_source_id": str(assistant.data_source_id) if assistant.data_source_id else None,
    }


def data_source_option(data_source: DataSource) -> dict:
    # Never the connection URL: the page only needs something to choose by.
    return {"id": str(data_source.id), "name": data_source.name, "engine": data_source.engine, "shared": data_source.shared}


def page_thread(thread: Thread, *, active: bool) -> dict:
    assistant = thread.assistant
    data_source = assistant.data_source if assistant else None
    return {
        "thread_id": str(thread.id),
        "name": thread.name,
        "assistant_id": str(assistant.id) if assistant else None,
        "assistant_name": assistant.name if assistant else None,
        "data_source_name": data_source.name if data_source else None,
        "active": active,
        # "bi" or "julep" when a BI or Julep session runs on this thread (the sidebar lists those apart)
        "session_dialect": getattr(thread, "session_dialect", None),
        "last_seq": thread.last_seq,
        "created_at": thread.created_at.isoformat(),
        "updated_at": thread.updated_at.isoformat(),
    }


def questions_by_run(thread: Thread) -> dict[str, list[str]]:
    """The people's messages of each run: the event log says a run started, not what was asked."""
    grouped: dict[str, list[str]] = {}
    rows = Message.objects.filter(thread=thread, role=Message.Role.HUMAN, run__isnull=False).order_by("seq")
    for run_id, content in rows.values_list("run_id", "content"):
        grouped.setdefault(str(run_id), []).append(content)
    return grouped


def has_active_run(thread: Thread) -> bool:
    return Run.objects.filter(thread=thread, status__in=Run.ACTIVE).exists()


# --- writes ----------------------------------------------------------------------------------


def assistant_for(principal: Principal, assistant: Assistant | None, data_source: DataSource | None) -> Assistant | None:
    """The assistant a new thread runs with.

    An assistant is bound to one data source (the engine reads `thread.assistant.data_source`).
    Choosing another data source gives the principal its own copy of that assistant bound to the
    chosen one, reused next time and refreshed from the original so edits carry over.
    """
    if data_source is None:
        return assistant
    base = assistant or services.default_assistant(principal)
    if base.data_source_id == data_source.id:
        return base
    variant = (
        Assistant.objects.visible_to(principal)
        .filter(**{f"metadata__{VARIANT_KEY}": str(base.id)}, data_source=data_source)
        .first()
    )
    if variant is None:
        variant = Assistant(data_source=data_source, metadata={VARIANT_KEY: str(base.id)})
        variant.assign_owner(principal)
    variant.name = f"{base.name} · {data_source.name}"[:200]
    for field in ("instructions", "about", "model", "tools", "config"):
        setattr(variant, field, getattr(base, field))
    variant.save()
    return variant


def create_page_thread(principal: Principal, *, assistant_id=None, data_source_id=None, name: str = "") -> Thread:
    assistant = None
    if assistant_id is not None:
        assistant = choosable_assistants(principal).filter(pk=assistant_id).first()
        if assistant is None:
            raise NotFound("assistant not found")
    data_source = None
    if data_source_id is not None:
        data_source = DataSource.objects.usable_by(principal).filter(pk=data_source_id).first()
        if data_source is None:
            raise NotFound("data source not found")
    with transaction.atomic():
        chosen = assistant_for(principal, assistant, data_source)
        return services.create_thread(principal, assistant=chosen, name=name.strip())


# --- views -----------------------------------------------------------------------------------


class MeApi(APIView):
    @extend_schema(summary="Who the chat page is signed in as", responses={200: dict, **errors(401)})
    def get(self, request):
        principal = request.user
        return Response({"tenant": principal.tenant, "user_id": principal.user_id, "source": principal.source})


class OptionsApi(APIView):
    @extend_schema(summary="Assistants and data sources the caller may start a chat with", responses={200: dict, **errors(401)})
    def get(self, request):
        principal = request.user
        return Response({
            "assistants": [assistant_option(a, principal) for a in choosable_assistants(principal)],
            "data_sources": [data_source_option(d) for d in DataSource.objects.usable_by(principal).order_by("-shared", "name")],
        })


class PageThreadListApi(APIView):
    @extend_schema(operation_id="ui_threads_list", summary="The caller's threads for the chat page's sidebar", responses={200: list[dict], **errors(401)})
    def get(self, request):
        active = Run.objects.filter(thread=OuterRef("pk"), status__in=Run.ACTIVE)
        threads = (
            selectors.threads_for(request.user)
            .select_related("assistant__data_source")
            .annotate(active=Exists(active), session_dialect=F("chat_session__dialect"))[:THREAD_LIST_LIMIT]
        )
        return Response([page_thread(t, active=t.active) for t in threads])

    @extend_schema(summary="Start an empty thread with a chosen assistant and data source", request=ThreadCreateSerializer, responses={201: dict, **errors(400, 401, 404)})
    def post(self, request):
        serializer = ThreadCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        thread = create_page_thread(
            request.user, assistant_id=data.get("assistant_id"), data_source_id=data.get("data_source_id"), name=data.get("name", "")
        )
        thread = selectors.get_thread(request.user, thread.id)
        return Response(page_thread(thread, active=False), status=status.HTTP_201_CREATED)


class PageThreadApi(APIView):
    @extend_schema(summary="A thread as the chat page opens it: summary and each run's question", responses={200: dict, **errors(401, 404)})
    def get(self, request, thread_id):
        thread = selectors.get_thread(request.user, thread_id)
        return Response({**page_thread(thread, active=has_active_run(thread)), "questions": questions_by_run(thread)})

    @extend_schema(summary="Rename a thread", request=ThreadRenameSerializer, responses={200: dict, **errors(400, 401, 404)})
    def patch(self, request, thread_id):
        thread = selectors.get_thread(request.user, thread_id)
        serializer = ThreadRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["name"].strip()
        if not name:
            raise serializers.ValidationError({"name": ["This field may not be blank."]})
        Thread.objects.filter(pk=thread.pk).update(name=name)
        thread.refresh_from_db()
        return Response(page_thread(thread, active=has_active_run(thread)))

    @extend_schema(summary="Delete a thread (refused while a run is in progress)", responses={204: None, **errors(401, 404, 409)})
    def delete(self, request, thread_id):
        with transaction.atomic():
            thread = selectors.get_thread(request.user, thread_id)
            # Lock as do_start_run does, so no run can start between the check and the delete.
            Thread.objects.select_for_update().filter(pk=thread.pk).first()
            if has_active_run(thread):
                return Response(
                    {"detail": "a run is in progress on this thread; stop it before deleting the thread", "code": "conflict"},
                    status=status.HTTP_409_CONFLICT,
                )
            thread.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
