"""Dataherald's /api/v1 endpoints (seed 001): thin views over selectors and services."""

import time

from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from config.schema import errors
from executor.selectors import data_source_for_use
from executor.services import NeedsConfirmation, SqlError, check_may_change, require_tenant_admin
from threads.serializers import PendingChangeDecisionSerializer

from . import selectors, services
from . import openapi as o
from .openapi import many
from .prompts import WRITES_ELSEWHERE
from .generation import Flags
from .serializers import (
    ConnectionInSerializer, ConnectionUpdateSerializer, QuestionFlagsSerializer, QuestionInSerializer,
    QuestionListSerializer, ResponseFlagsSerializer, ResponseInSerializer, ResponseListSerializer,
    SqlExecutionInSerializer, connection_out, question_out, response_out,
)
from .storage import ExportMissing, StorageError, aiter_export, export_size


class ResponsePending(APIException):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_code = "response_pending"


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"


class StorageFailed(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "storage_error"


class NotFound(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _answer(question, *, sql_query, flags: Flags):
    try:
        response = services.request_response(question, sql_query=sql_query, flags=flags)
    except services.GenerationPending as exc:
        raise ResponsePending(
            f"The response is still being generated after {exc.timeout:g}s; "
            f"GET /api/v1/responses/{exc.response_id} will return it when it is done."
        ) from None
    except services.GenerationUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
    services.await_write(response)  # a write answers at once with the change that waits for approval
    return ApiResponse(response_out(response), status=status.HTTP_201_CREATED)


# --- database connections ------------------------------------------------------------------


class ConnectionListApi(APIView):
    @extend_schema(summary="Database connections: own and shared", responses={200: many(o.CONNECTION), **errors(401)}, operation_id="list_database_connections")
    def get(self, request):
        return ApiResponse([connection_out(ds) for ds in selectors.connection_list(request.user)[: selectors.MAX_PAGE]])

    @extend_schema(summary="Create a database connection (tenant admins)", request=ConnectionInSerializer, responses={201: o.CONNECTION, **errors(400, 401, 403, 429)})
    def post(self, request):
        require_tenant_admin(request.user, "Creating a database connection")
        data = _valid(ConnectionInSerializer, request.data)
        data_source = services.connection_create(
            request.user, alias=data["alias"], connection_uri=data["connection_uri"], metadata=data.get("metadata") or {},
            tenant_wide=data["tenant_wide"],
        )
        return ApiResponse(connection_out(data_source), status=status.HTTP_201_CREATED)


class ConnectionDetailApi(APIView):
    @extend_schema(summary="A database connection", responses={200: o.CONNECTION, **errors(401, 404)})
    def get(self, request, connection_id):
        return ApiResponse(connection_out(selectors.connection_get(request.user, connection_id)))

    @extend_schema(summary="Change a database connection (tenant admins)", request=ConnectionUpdateSerializer, responses={200: o.CONNECTION, **errors(400, 401, 403, 404, 429)})
    def put(self, request, connection_id):
        data_source = selectors.connection_get(request.user, connection_id)
        check_may_change(data_source, request.user)
        data = _valid(ConnectionUpdateSerializer, request.data)
        updated = services.connection_update(
            request.user, data_source, alias=data["alias"], connection_uri=data.get("connection_uri"),
            metadata=data.get("metadata"), tenant_wide=data.get("tenant_wide"),
        )
        return ApiResponse(connection_out(updated))


# --- questions -----------------------------------------------------------------------------


class QuestionListApi(APIView):
    @extend_schema(summary="The caller's questions", parameters=[QuestionListSerializer], responses={200: many(o.QUESTION), **errors(400, 401, 404)}, operation_id="list_questions")
    def get(self, request):
        params = _valid(QuestionListSerializer, request.query_params)
        connection = None
        if params.get("db_connection_id"):
            connection = selectors.connection_get(request.user, params["db_connection_id"])
        questions = selectors.question_list(request.user, db_connection=connection)
        return ApiResponse([question_out(q) for q in selectors.page(questions, offset=params["offset"], limit=params["limit"])])

    @extend_schema(summary="Ask a question: creates it and its first response", parameters=[QuestionFlagsSerializer], request=QuestionInSerializer, responses={201: o.RESPONSE, **errors(400, 401, 404, 503, 504)})
    def post(self, request):
        flags = _valid(QuestionFlagsSerializer, request.query_params)
        data = _valid(QuestionInSerializer, request.data)
        data_source = selectors.connection_get(request.user, data["db_connection_id"])
        question = services.question_create(request.user, data_source=data_source, question=data["question"])
        return _answer(question, sql_query=None, flags=Flags(**flags))


class QuestionDetailApi(APIView):
    @extend_schema(summary="A question", responses={200: o.QUESTION, **errors(401, 404)})
    def get(self, request, question_id):
        return ApiResponse(question_out(selectors.question_get(request.user, question_id)))


# --- responses -----------------------------------------------------------------------------


class ResponseListApi(APIView):
    @extend_schema(summary="The caller's responses, optionally of one question", parameters=[ResponseListSerializer], responses={200: many(o.RESPONSE), **errors(400, 401, 404)}, operation_id="list_responses")
    def get(self, request):
        params = _valid(ResponseListSerializer, request.query_params)
        question = None
        if params.get("question_id"):
            question = selectors.question_get(request.user, params["question_id"])
        responses = selectors.response_list(request.user, question=question)
        return ApiResponse([response_out(r) for r in selectors.page(responses, offset=params["offset"], limit=params["limit"])])

    @extend_schema(summary="A new response to a question: generated, or from the given sql_query", parameters=[ResponseFlagsSerializer], request=ResponseInSerializer, responses={201: o.RESPONSE, **errors(400, 401, 403, 404, 503, 504)})
    def post(self, request):
        flags = _valid(ResponseFlagsSerializer, request.query_params)
        data = _valid(ResponseInSerializer, request.data)
        question = selectors.question_get(request.user, data["question_id"])
        data_source_for_use(request.user, question.db_connection)  # 403 naming it; the worker checks again
        sql_query = (data.get("sql_query") or "").strip() or None
        return _answer(question, sql_query=sql_query, flags=Flags(**flags))


class ResponseDetailApi(APIView):
    @extend_schema(summary="A response", responses={200: o.RESPONSE, **errors(401, 404)})
    def get(self, request, response_id):
        return ApiResponse(response_out(selectors.response_get(request.user, response_id)))


class ResponseConfirmationApi(APIView):
    @extend_schema(summary="Approve or deny the change a response waits on; answers with the response as it continues",
                   request=PendingChangeDecisionSerializer, responses={200: o.RESPONSE, **errors(400, 401, 404, 409)})
    def post(self, request, response_id, confirmation_id):
        response = selectors.response_get(request.user, response_id)
        data = _valid(PendingChangeDecisionSerializer, request.data)
        services.decide_write(request.user, response, confirmation_id, approve=data["approve"])
        return ApiResponse(response_out(response))


class ResponseFileApi(APIView):
    @extend_schema(summary="The response's CSV file, streamed", responses={(200, "text/csv"): bytes, **errors(401, 404, 502)})
    def get(self, request, response_id):
        response = selectors.response_get(request.user, response_id)
        if not response.csv_file_path:
            raise NotFound("This response has no CSV file (ask with generate_csv=true for more than 50 rows).")
        try:
            size = export_size(response.csv_file_path)
        except ExportMissing:
            raise NotFound("The CSV file of this response no longer exists.") from None
        except StorageError as exc:
            raise StorageFailed(str(exc)) from None
        # An async iterator: daphne sends each chunk as it is read, never the whole file at once.
        streamed = StreamingHttpResponse(aiter_export(response.csv_file_path), content_type="text/csv; charset=utf-8")
        streamed["Content-Length"] = str(size)
        streamed["Content-Disposition"] = f'attachment; filename="{response.id}.csv"'
        return streamed


# --- SQL and liveness ----------------------------------------------------------------------


class SqlExecutionApi(APIView):
    @extend_schema(summary="Run a read-only query on a database connection", request=SqlExecutionInSerializer, responses={201: o.SQL_EXECUTION, **errors(400, 401, 404)})
    def post(self, request):
        data = _valid(SqlExecutionInSerializer, request.data)
        data_source = selectors.connection_get(request.user, data["db_connection_id"])
        try:
            result = services.execute_query(data_source, data["sql"])
        except NeedsConfirmation as exc:
            raise ValidationError({"sql_query": [f"Refused, nothing was changed: {exc.reason}. {WRITES_ELSEWHERE}"]}) from None
        except SqlError as exc:
            raise ValidationError({"sql_query": [exc.message]}) from None
        rows = [[row[name] for name in result.columns] for row in result.rows]
        # Dataherald returns (str(rows), {"result": rows}) for this endpoint.
        return ApiResponse([str([tuple(row) for row in rows]), {"result": rows}], status=status.HTTP_201_CREATED)


class HeartbeatApi(APIView):
    authentication_classes = []
    permission_classes = []

    @extend_schema(summary="Liveness: the server's clock in nanoseconds", responses={200: o.HEARTBEAT})
    def get(self, request):
        return ApiResponse({"nanosecond heartbeat": time.time_ns()})
