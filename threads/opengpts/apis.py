"""OpenGPTs endpoints over the engine (seed 002): threads, state, history, runs."""

import copy

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from assistants import bots, limits
from config.schema import errors

from .. import artifact_text, selectors
from ..models import Message, Run, Thread
from ..serializers import run_dict, thread_summary
from . import openapi, services
from .messages import from_message
from .serializers import FeedbackInSerializer, RunInSerializer, StateInSerializer, ThreadInSerializer


def state_of(thread: Thread, *, until=None) -> dict:
    """OpenGPTs' state: a list of messages, or {"messages": [...]} for a RAGBot (seed 002)."""
    messages = Message.objects.filter(thread=thread).order_by("seq")
    if until is not None:
        messages = messages.filter(created_at__lte=until)
    artifacts = artifact_text.artifacts_of(thread.pk)
    return {"values": values_shape(thread, [from_message(m, artifacts) for m in messages]), "next": []}


def values_shape(thread: Thread, messages: list[dict]):
    return {"messages": messages} if bots.bot_type(thread.assistant) == "chat_retrieval" else messages


class ThreadCreateApi(APIView):
    @extend_schema(summary="Create a thread (OpenGPTs)", request=ThreadInSerializer, responses={200: openapi.THREAD, **errors(400, 401, 404)})
    def post(self, request):
        serializer = ThreadInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(thread_summary(services.create_thread(request.user, serializer.validated_data)))


class ThreadWriteApi(APIView):
    @extend_schema(summary="Create or replace a thread with this id (OpenGPTs)", request=ThreadInSerializer, responses={200: openapi.THREAD, **errors(400, 401, 404)})
    def put(self, request, thread_id):
        serializer = ThreadInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(thread_summary(services.put_thread(request.user, thread_id, serializer.validated_data)))

    @extend_schema(summary="Delete a thread", responses={200: openapi.STATUS_OK, **errors(401, 404)})
    def delete(self, request, thread_id):
        selectors.get_thread(request.user, thread_id).delete()
        return Response({"status": "ok"})


class ThreadStateApi(APIView):
    @extend_schema(summary="The thread's messages as OpenGPTs state", responses={200: openapi.STATE, **errors(401, 404)})
    def get(self, request, thread_id):
        return Response(state_of(selectors.get_thread(request.user, thread_id)))

    @extend_schema(summary="Add messages to the thread", request={"application/json": openapi.STATE_IN}, responses={200: openapi.STATE, **errors(400, 401, 404)})
    def post(self, request, thread_id):
        thread = selectors.get_thread(request.user, thread_id)
        serializer = StateInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.add_state_messages(thread, serializer.validated_data["values"])
        return Response(state_of(thread))


class ThreadHistoryApi(APIView):
    @extend_schema(summary="Past states of the thread, newest first", responses={200: openapi.HISTORY, **errors(401, 404)})
    def get(self, request, thread_id):
        thread = selectors.get_thread(request.user, thread_id)
        checkpoints = [run.finished_at for run in Run.objects.filter(thread=thread, finished_at__isnull=False).order_by("-finished_at")]
        history = [{**state_of(thread, until=at), "at": at.isoformat(), "config": {"configurable": {"thread_id": str(thread.id)}}} for at in checkpoints]
        return Response(history)


class RunCreateApi(APIView):
    @extend_schema(summary="Start a run on a thread; returns at once", request={"application/json": openapi.RUN_IN_REF}, responses={200: openapi.RUN_STARTED, **errors(400, 401, 404, 409)})
    def post(self, request):
        serializer = RunInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _, run = services.start_opengpts_run(request.user, serializer.validated_data)
        return Response({"run_id": str(run.id), "thread_id": str(run.thread_id), "status": run.status})


class RunDetailApi(APIView):
    @extend_schema(summary="A run's status, usage and timings", responses={200: openapi.RUN, **errors(401, 404)})
    def get(self, request, run_id):
        run = Run.objects.filter(pk=run_id, thread__in=selectors.threads_for(request.user)).first()
        if run is None:
            return Response({"detail": "run not found", "code": "not_found"}, status=404)
        return Response(run_dict(run))


def _tool_schema(tool: dict) -> dict:
    """One tool as upstream's pydantic models render it: the frontend's picker reads
    name.const, type.default, description.const, config and multi_use.const."""
    return {
        "title": tool["name"],
        "type": "object",
        "properties": {
            "type": {"title": "Type", "default": tool["type"], "enum": [tool["type"]], "type": "string"},
            "name": {"title": "Name", "default": tool["name"], "const": tool["name"], "type": "string"},
            "description": {"title": "Description", "default": tool["description"], "const": tool["description"], "type": "string"},
            "config": {"title": "Config", "type": "object", "properties": {}},
            "multi_use": {"title": "Multi Use", "default": tool["multi_use"], "const": tool["multi_use"], "type": "boolean"},
        },
    }


SYSTEM_MESSAGE = {"title": "Instructions", "type": "string", "default": "You are a helpful assistant."}
CONFIG_SCHEMA = {
    "title": "Configurable",
    "type": "object",
    "properties": {
        "configurable": {
            "title": "Configurable",
            "type": "object",
            "properties": {
                "type": {"title": "Bot Type", "type": "string", "enum": list(bots.BOT_TYPES), "default": "agent"},
                "type==agent/agent_type": {"title": "Agent Type", "type": "string", "description": "kept for OpenGPTs clients; the model comes from `model` or QUERENT_MODEL"},
                "type==agent/system_message": {**SYSTEM_MESSAGE},
                "type==agent/tools": {"title": "Tools", "type": "array", "default": [],
                                      "items": {"anyOf": [_tool_schema(tool) for tool in bots.CATALOGUE]}},
                "type==agent/retrieval_description": {"title": "Retrieval Description", "type": "string"},
                "type==chatbot/llm_type": {"title": "LLM Type", "type": "string", "description": "kept for OpenGPTs clients"},
                "type==chatbot/system_message": {**SYSTEM_MESSAGE},
                "type==chat_retrieval/llm_type": {"title": "LLM Type", "type": "string", "description": "kept for OpenGPTs clients"},
                "type==chat_retrieval/system_message": {**SYSTEM_MESSAGE},
                "model": {"title": "Model", "type": "string", "description": "one of the models the operator allows (QUERENT_ALLOWED_MODELS); empty = QUERENT_MODEL"},
                "data_source_id": {"title": "Data Source", "type": "string", "format": "uuid", "description": "the database the agent queries"},
                "max_steps": {"title": "Max Steps", "type": "integer", "minimum": 1, "description": "lowers the operator's step cap (QUERENT_MAX_STEPS) for a run"},
            },
        }
    },
}


class ConfigSchemaApi(APIView):
    @extend_schema(summary="JSON schema of an assistant's config", responses={200: openapi.CONFIG_SCHEMA, **errors(401)})
    def get(self, request):
        # The operator's limits, as they are now: the models that may be named and the step cap.
        configurable = copy.deepcopy(CONFIG_SCHEMA["properties"]["configurable"])
        configurable["properties"]["model"]["enum"] = ["", *limits.allowed_models()]
        configurable["properties"]["max_steps"]["maximum"] = limits.step_cap()
        return Response({**CONFIG_SCHEMA, "properties": {"configurable": configurable}})


class FeedbackApi(APIView):
    @extend_schema(summary="Rate a run (OpenGPTs' thumbs up/down)", request=FeedbackInSerializer,
                   responses={200: openapi.STATUS_OK, **errors(400, 401, 404)})
    def post(self, request):
        serializer = FeedbackInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.record_feedback(request.user, serializer.validated_data)
        return Response({"status": "ok"})
