"""Julep agents, users and sessions (seed 004), shaped for the julep SDK 0.3.9."""

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from assistants.document_services import Scope
from config.errors import Conflict
from config.schema import errors
from threads.serializers import PendingChangeDecisionSerializer

from . import julep_chat, julep_docs, julep_stream, selectors, services
from . import julep_serializers as s
from . import openapi as o
from .http import metadata_filter


def _validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _body(serializer_class, request, mode) -> dict:
    return _validated(serializer_class, request.data, mode=mode)


def _page(request, queryset, render):
    query = _validated(s.ListQuerySerializer, request.query_params)
    queryset = selectors.with_metadata(queryset, metadata_filter(query.get("metadata_filter")))
    ordering = query["sort_by"] if query["order"] == "asc" else f"-{query['sort_by']}"
    items = queryset.order_by(ordering, "id")[query["offset"]: query["offset"] + query["limit"]]
    return Response({"items": [render(item) for item in items]})


def _conflict(exc) -> Response:
    return Response({"detail": str(exc), "code": "conflict"}, status=status.HTTP_409_CONFLICT)


# --- agents ----------------------------------------------------------------------------------


def _chosen_data_source(principal, data: dict, mode: str):
    """(given, data source). Absent, or null in a PATCH: unchanged. An explicit null detaches it."""
    if "data_source_id" not in data:
        return False, None
    source_id = data.pop("data_source_id")
    if source_id is None:
        return mode != s.PATCH, None
    from executor.models import DataSource

    data_source = DataSource.objects.usable_by(principal).filter(pk=source_id).first()
    if data_source is None:
        raise NotFound(f"data_source_id: data source {source_id} not found")
    return True, data_source


def _agent_write(request, mode, agent=None):
    data = _body(s.AgentInSerializer, request, mode)
    data.pop("tools", None)  # validated empty
    docs = data.pop("docs", None) or []
    given, data_source = _chosen_data_source(request.user, data, mode)
    # Julep's own forms are kept as sent (and shown back); the assistant gets what the engine runs.
    julep = {"instructions": data.pop("instructions", None), "model": data.get("model"),
             "default_settings": data.pop("default_settings", None)}
    if julep["instructions"] is not None:
        joined = julep["instructions"]
        data["instructions"] = "\n".join(joined) if isinstance(joined, list) else joined
    if (data.get("model") or "").startswith(s.JULEP_HOSTED_PREFIX):
        data["model"] = ""  # not a model the configured provider serves: use the default one
    with transaction.atomic():  # the agent and its docs, or neither
        agent = services.save_agent(request.user, data, julep, agent=agent, partial=mode == s.PATCH,
                                    data_source=data_source, data_source_given=given)
        julep_docs.add_docs(request.user, Scope(assistant=agent), docs)
    return agent


def _user_write(request, mode, user=None):
    data = _body(s.UserInSerializer, request, mode)
    docs = data.pop("docs", None) or []
    with transaction.atomic():  # the user and their docs, or neither
        user = services.save_end_user(request.user, data, user=user, partial=mode == s.PATCH)
        julep_docs.add_docs(request.user, Scope(end_user_id=user.pk), docs)
    return user


class AgentCollectionApi(APIView):
    @extend_schema(operation_id="julep_agents_list", summary="List agents", parameters=[s.ListQuerySerializer], responses={200: o.ok(o.items(o.AGENT)), **errors(400, 401)})
    def get(self, request):
        return _page(request, selectors.julep_agents(request.user), s.agent_out)

    @extend_schema(summary="Create an agent", request=s.AgentInSerializer, responses={201: o.ok(o.CREATED), **errors(400, 401, 404), **julep_docs.TOO_LARGE})
    def post(self, request):
        return Response(s.created(_agent_write(request, s.CREATE)), status=status.HTTP_201_CREATED)


class AgentDetailApi(APIView):
    @extend_schema(summary="An agent", responses={200: o.ok(o.AGENT), **errors(401, 404)})
    def get(self, request, agent_id):
        return Response(s.agent_out(selectors.get_agent(request.user, agent_id)))

    @extend_schema(summary="Replace an agent's fields", request=s.AgentInSerializer(mode=s.PUT), responses={200: o.ok(o.UPDATED), **errors(400, 401, 404), **julep_docs.TOO_LARGE})
    def put(self, request, agent_id):
        agent = selectors.get_agent(request.user, agent_id)
        return Response(s.updated(_agent_write(request, s.PUT, agent)))

    @extend_schema(summary="Change some of an agent's fields (null = unchanged)", request=s.AgentInSerializer, responses={200: o.ok(o.UPDATED), **errors(400, 401, 404), **julep_docs.TOO_LARGE})
    def patch(self, request, agent_id):
        agent = selectors.get_agent(request.user, agent_id)
        return Response(s.updated(_agent_write(request, s.PATCH, agent)))

    @extend_schema(summary="Delete an agent and its sessions", responses={202: o.ok(o.DELETED), **errors(401, 404, 409)})
    def delete(self, request, agent_id):
        agent = selectors.get_agent(request.user, agent_id)
        try:
            services.delete_agent(agent)
        except services.Conflict as exc:
            return _conflict(exc)
        return Response(s.deleted(agent_id, timezone.now()), status=status.HTTP_202_ACCEPTED)


# --- users -----------------------------------------------------------------------------------


class UserCollectionApi(APIView):
    @extend_schema(operation_id="julep_users_list", summary="List users", parameters=[s.ListQuerySerializer], responses={200: o.ok(o.items(o.USER)), **errors(400, 401)})
    def get(self, request):
        return _page(request, selectors.end_users(request.user), s.user_out)

    @extend_schema(summary="Create a user", request=s.UserInSerializer, responses={201: o.ok(o.CREATED), **errors(400, 401), **julep_docs.TOO_LARGE})
    def post(self, request):
        return Response(s.created(_user_write(request, s.CREATE)), status=status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    @extend_schema(summary="A user", responses={200: o.ok(o.USER), **errors(401, 404)})
    def get(self, request, user_id):
        return Response(s.user_out(selectors.get_end_user(request.user, user_id)))

    def _write(self, request, user_id, mode):
        user = selectors.get_end_user(request.user, user_id)
        return Response(s.updated(_user_write(request, mode, user)))

    @extend_schema(summary="Replace a user's fields", request=s.UserInSerializer(mode=s.PUT), responses={200: o.ok(o.UPDATED), **errors(400, 401, 404), **julep_docs.TOO_LARGE})
    def put(self, request, user_id):
        return self._write(request, user_id, s.PUT)

    @extend_schema(summary="Change some of a user's fields (null = unchanged)", request=s.UserInSerializer, responses={200: o.ok(o.UPDATED), **errors(400, 401, 404), **julep_docs.TOO_LARGE})
    def patch(self, request, user_id):
        return self._write(request, user_id, s.PATCH)

    @extend_schema(summary="Delete a user and their sessions", responses={202: o.ok(o.DELETED), **errors(401, 404, 409)})
    def delete(self, request, user_id):
        user = selectors.get_end_user(request.user, user_id)
        try:
            services.delete_end_user(user)
        except services.Conflict as exc:
            return _conflict(exc)
        return Response(s.deleted(user_id, timezone.now()), status=status.HTTP_202_ACCEPTED)


# --- sessions --------------------------------------------------------------------------------


def _session_fields(data: dict, session=None) -> dict:
    """The writable fields; a situation that will be rendered must parse as a template now, not at chat."""
    fields = {k: v for k, v in data.items() if k not in ("agent_id", "user_id")}
    situation = fields.get("situation") if fields.get("situation") is not None else getattr(session, "situation", None)
    enabled = fields.get("render_templates") if fields.get("render_templates") is not None else getattr(session, "render_templates", False)
    julep_chat.check_template(situation, enabled)
    return fields


class SessionCollectionApi(APIView):
    @extend_schema(operation_id="julep_sessions_list", summary="List sessions", parameters=[s.ListQuerySerializer], responses={200: o.ok(o.items(o.SESSION)), **errors(400, 401)})
    def get(self, request):
        return _page(request, selectors.julep_sessions(request.user), s.session_out)

    @extend_schema(summary="Create a session between an agent and (optionally) a user", request=s.SessionInSerializer, responses={201: o.ok(o.CREATED), **errors(400, 401, 404)})
    def post(self, request):
        data = _body(s.SessionInSerializer, request, s.CREATE)
        agent = selectors.julep_agents(request.user).filter(pk=data["agent_id"]).first()
        if agent is None:
            raise NotFound(f"agent_id: agent {data['agent_id']} not found")
        user = None
        if data.get("user_id") is not None:
            user = selectors.end_users(request.user).filter(pk=data["user_id"]).first()
            if user is None:
                raise NotFound(f"user_id: user {data['user_id']} not found")
        session = services.create_julep_session(request.user, agent=agent, user=user, fields=_session_fields(data))
        return Response(s.created(session), status=status.HTTP_201_CREATED)


class SessionDetailApi(APIView):
    @extend_schema(summary="A session", responses={200: o.ok(o.SESSION), **errors(401, 404)})
    def get(self, request, session_id):
        return Response(s.session_out(selectors.get_julep_session(request.user, session_id)))

    def _write(self, request, session_id, mode):
        session = selectors.get_julep_session(request.user, session_id)
        data = _body(s.SessionInSerializer, request, mode)
        # The agent and the user are who the conversation is between: fixed at creation.
        for field, current in (("agent_id", session.agent_id), ("user_id", session.end_user_id)):
            if data.get(field) is not None and data[field] != current:
                raise Conflict(f"{field}: {field} of a session cannot be changed after it is created")
        fields = _session_fields(data, session)
        return Response(s.updated(services.update_julep_session(session, fields, partial=mode == s.PATCH)))

    @extend_schema(summary="Replace a session's fields (agent and user cannot change)", request=s.SessionInSerializer(mode=s.PUT), responses={200: o.ok(o.UPDATED), **errors(400, 401, 404, 409)})
    def put(self, request, session_id):
        return self._write(request, session_id, s.PUT)

    @extend_schema(summary="Change some of a session's fields (null = unchanged)", request=s.SessionInSerializer, responses={200: o.ok(o.UPDATED), **errors(400, 401, 404, 409)})
    def patch(self, request, session_id):
        return self._write(request, session_id, s.PATCH)

    @extend_schema(summary="Delete a session and its messages", responses={202: o.ok(o.DELETED), **errors(401, 404, 409)})
    def delete(self, request, session_id):
        session = selectors.get_julep_session(request.user, session_id)
        try:
            services.delete_session(session)
        except services.Conflict as exc:
            return _conflict(exc)
        return Response(s.deleted(session_id, timezone.now()), status=status.HTTP_202_ACCEPTED)


class SessionChatApi(APIView):
    @extend_schema(summary="Send messages and get the agent's reply (with stream true: server-sent events, data-only chunks, then [DONE])",
                   request=s.ChatInSerializer, responses={**o.CHAT_RESPONSE, **errors(400, 401, 403, 404, 409, 504)})
    def post(self, request, session_id):
        session = selectors.get_julep_session(request.user, session_id)
        serializer = s.ChatInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        respond = julep_stream.stream_chat if serializer.validated_data.get("stream") else julep_chat.chat
        try:
            return respond(session, serializer.validated_data["messages"], serializer.validated_data, serializer.sampling(), acting=request.user)
        except services.Conflict as exc:
            return _conflict(exc)
        except services.RunTimedOut as exc:
            return Response({"detail": str(exc), "code": "timeout"}, status=status.HTTP_504_GATEWAY_TIMEOUT)


class SessionHistoryApi(APIView):
    @extend_schema(summary="The session's messages, oldest first", parameters=[s.PageQuerySerializer], responses={200: o.ok(o.items(o.MESSAGE)), **errors(400, 401, 404)})
    def get(self, request, session_id):
        session = selectors.get_julep_session(request.user, session_id)
        query = _validated(s.PageQuerySerializer, request.query_params)
        messages = selectors.chat_history(session)[query["offset"]: query["offset"] + query["limit"]]
        return Response({"items": [s.chat_message_out(m) for m in messages]})

    @extend_schema(summary="Forget the session's messages", responses={202: o.ok(o.DELETED), **errors(401, 404, 409)})
    def delete(self, request, session_id):
        session = selectors.get_julep_session(request.user, session_id)
        try:
            services.clear_history(session)
        except services.Conflict as exc:
            return _conflict(exc)
        return Response(s.deleted(session_id, timezone.now()), status=status.HTTP_202_ACCEPTED)


class SessionSuggestionsApi(APIView):
    @extend_schema(summary="Follow-up questions the user could ask next", parameters=[s.PageQuerySerializer], responses={200: o.ok(o.items(o.SUGGESTION)), **errors(400, 401, 403, 404)})
    def get(self, request, session_id):
        session = selectors.get_julep_session(request.user, session_id)
        query = _validated(s.PageQuerySerializer, request.query_params)
        items = julep_chat.suggestions(session, acting=request.user)
        return Response({"items": items[query["offset"]: query["offset"] + query["limit"]]})


class SessionConfirmationApi(APIView):
    @extend_schema(summary="Approve or deny the change the session waits on; answers as the chat that asked",
                   request=PendingChangeDecisionSerializer, responses={200: o.ok(o.CHAT), **errors(400, 401, 403, 404, 409, 504)})
    def post(self, request, session_id, confirmation_id):
        session = selectors.get_julep_session(request.user, session_id)
        approve = _validated(PendingChangeDecisionSerializer, request.data)["approve"]
        try:
            return julep_chat.decide(session, confirmation_id, approve=approve, acting=request.user)
        except services.Conflict as exc:
            return _conflict(exc)
        except services.RunTimedOut as exc:
            return Response({"detail": str(exc), "code": "timeout"}, status=status.HTTP_504_GATEWAY_TIMEOUT)
