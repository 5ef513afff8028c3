"""BI chat sessions (seed 003): thin views over the pipeline, services and selectors."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from assistants.models import Assistant
from config.identity import Principal
from config.schema import errors
from threads.serializers import PendingChangeDecisionSerializer, pending_change

from . import bi_serializers as s
from . import openapi as o
from . import selectors, services
from .bi import pipeline, suggestions, visualization


def tenant_principal(request) -> Principal:
    """The caller acting for the tenant of this request: X-Tenant-ID (already applied by
    authentication) or `?tenant_id=`, which must agree and which the caller must be allowed to act for."""
    principal = request.user
    tenant = request.query_params.get("tenant_id")
    if not tenant:
        return principal
    header = (request.headers.get("X-Tenant-ID") or "").strip()
    if header and header != tenant:
        raise ValidationError({"tenant_id": [f"{tenant!r} does not match the X-Tenant-ID header {header!r}"]})
    try:
        return principal.acting_for(tenant)
    except PermissionError as exc:
        raise PermissionDenied(str(exc)) from None


def session_for(request, session_id):
    """(session, the principal acting for its tenant). The tenant comes from X-Tenant-ID or
    `?tenant_id=`; under development auth a request naming neither (seed 003's later curls) acts
    for the session's own tenant, since that auth trusts the caller for any tenant anyway. Real
    credentials (API keys, JWT) never get this: their tenant is theirs or the one they name."""
    principal = tenant_principal(request)
    named = request.query_params.get("tenant_id") or (request.headers.get("X-Tenant-ID") or "").strip()
    if principal.source == "dev" and principal.can_act_for_any_tenant and not named:
        tenant = selectors.bi_session_tenant(session_id)
        if tenant is not None and tenant != principal.tenant:
            principal = principal.acting_for(tenant)
    return selectors.get_bi_session(principal, session_id), principal


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _conflict(detail: str, code: str = "conflict") -> Response:
    return Response({"detail": detail, "code": code}, status=status.HTTP_409_CONFLICT)


def _answer(session, message: str, acting: Principal, intent: str | None = None, decision: tuple | None = None) -> Response:
    try:
        if decision is not None:
            confirmation_id, approve = decision
            return Response(pipeline.decide(session, confirmation_id, approve=approve, acting=acting))
        return Response(pipeline.answer(session, message, acting=acting, intent=intent))
    except services.Conflict as exc:
        return _conflict(str(exc))
    except services.RunTimedOut as exc:
        return Response({"detail": str(exc), "code": "timeout"}, status=status.HTTP_504_GATEWAY_TIMEOUT)


class SessionCollectionApi(APIView):
    @extend_schema(operation_id="bi_sessions_list", summary="List the tenant's BI sessions", parameters=[s.ListQuerySerializer], responses={200: o.ok(o.BI_LIST), **errors(400, 401, 403)})
    def get(self, request):
        principal = tenant_principal(request)
        query = _validated(s.ListQuerySerializer, request.query_params)
        sessions = selectors.bi_sessions(principal, user_id=query.get("user_id"))
        page = sessions[query["offset"]: query["offset"] + query["limit"]]
        return Response({"sessions": [s.session_summary(x) for x in page], "total": sessions.count(),
                         "limit": query["limit"], "offset": query["offset"]})

    @extend_schema(summary="Start a BI session", request=s.SessionCreateSerializer, responses={201: o.ok(o.BI_CREATED), **errors(400, 401, 403, 404)})
    def post(self, request):
        principal = tenant_principal(request)
        data = _validated(s.SessionCreateSerializer, request.data)
        agent = None
        if data.get("agent_id"):
            agent = Assistant.objects.readable_by(principal).filter(pk=data["agent_id"]).first()
            if agent is None:
                raise NotFound(f"agent_id: agent {data['agent_id']} not found")
        session = services.create_bi_session(principal, user_id=data["user_id"], agent=agent, metadata=data["metadata"])
        return Response(s.session_created(session), status=status.HTTP_201_CREATED)


class SessionDetailApi(APIView):
    @extend_schema(summary="A BI session with its last result", responses={200: o.ok(o.BI_DETAIL), **errors(401, 403, 404)})
    def get(self, request, session_id):
        session, _ = session_for(request, session_id)
        body = s.session_summary(session)
        body["data"] = pipeline.data_of(session) if session.has_result else None
        pending = services.pending_in(session)
        body["pending_confirmation"] = pending_change(pending, decide_path=pipeline.decide_path(session, pending)) if pending else None
        body["last_turn"] = selectors.last_turn(session)
        return Response(body)

    @extend_schema(summary="Delete a BI session and its messages", responses={200: o.ok(o.BI_DELETED), **errors(401, 403, 404, 409)})
    def delete(self, request, session_id):
        session, _ = session_for(request, session_id)
        try:
            services.delete_session(session)
        except services.Conflict as exc:
            return _conflict(str(exc))
        return Response({"success": True, "session_id": str(session_id)})


class SessionMessageApi(APIView):
    @extend_schema(summary="Ask a question in the session", request=s.MessageSerializer, responses={200: o.ok(o.BI_ANSWER), **errors(400, 401, 403, 404, 409, 504)})
    def post(self, request, session_id):
        session, principal = session_for(request, session_id)
        data = _validated(s.MessageSerializer, request.data)
        return _answer(session, data["message"], principal)


class SessionRefineApi(APIView):
    @extend_schema(summary="Change the session's last query", request=s.RefineSerializer, responses={200: o.ok(o.BI_ANSWER), **errors(400, 401, 403, 404, 409, 504)})
    def post(self, request, session_id):
        session, principal = session_for(request, session_id)
        data = _validated(s.RefineSerializer, request.data)
        if not session.has_result:
            return _conflict("this session has no query to refine yet; ask a question first", "no_result")
        return _answer(session, data["refinement"], principal, intent="refine")


class SessionVisualizationApi(APIView):
    @extend_schema(summary="Draw the last result as another chart type", request=s.VisualizationSerializer, responses={200: o.ok(o.BI_RERENDER), **errors(400, 401, 403, 404, 409)})
    def post(self, request, session_id):
        session, _ = session_for(request, session_id)
        chart_type = _validated(s.VisualizationSerializer, request.data)["chart_type"]
        if chart_type not in visualization.CHART_TYPES:
            detail = f"chart_type: unknown chart type {chart_type!r}; valid types: {', '.join(visualization.CHART_TYPES)}"
            return Response(
                {"detail": detail, "code": "invalid", "errors": {"chart_type": [detail]}, "valid_types": list(visualization.CHART_TYPES)},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if not session.has_result:
            return _conflict("this session has no result to visualize yet; ask a question first", "no_result")
        try:
            return Response(pipeline.rerender(session, chart_type))
        except visualization.ChartError as exc:
            raise ValidationError({"chart_type": [str(exc)]}) from None


class SessionSuggestionsApi(APIView):
    @extend_schema(summary="Follow-up questions from the schema and the last result", responses={200: o.ok(o.BI_SUGGESTIONS), **errors(401, 403, 404)})
    def get(self, request, session_id):
        session, principal = session_for(request, session_id)
        data_source = services.usable_data_source(session, principal)  # its schema is a use too
        schema, engine = None, None
        if data_source is not None:
            from executor.schema import get_schema
            from executor.services import SqlError

            engine = data_source.engine
            try:
                schema = get_schema(data_source)
            except SqlError:
                schema = None  # suggestions from the last result alone are still useful
        return Response({"session_id": str(session.id), "suggestions": suggestions.suggest(session, schema, engine)})


class SessionHistoryApi(APIView):
    @extend_schema(summary="The session's messages, oldest first", parameters=[s.HistoryQuerySerializer], responses={200: o.ok(o.BI_HISTORY), **errors(400, 401, 403, 404)})
    def get(self, request, session_id):
        session, _ = session_for(request, session_id)
        limit = _validated(s.HistoryQuerySerializer, request.query_params)["limit"]
        return Response({"session_id": str(session.id), "messages": selectors.bi_turns(session, limit)})



class SessionConfirmationApi(APIView):
    @extend_schema(summary="Approve or deny the change the session waits on; answers as the continued turn",
                   request=PendingChangeDecisionSerializer, responses={200: o.ok(o.BI_ANSWER), **errors(400, 401, 403, 404, 409, 504)})
    def post(self, request, session_id, confirmation_id):
        session, principal = session_for(request, session_id)
        approve = _validated(PendingChangeDecisionSerializer, request.data)["approve"]
        return _answer(session, "", principal, decision=(confirmation_id, approve))
