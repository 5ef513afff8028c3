"""The chat page's view of the context store (`/ui/...`): a data source's scan (show it, run it)
and "save as golden SQL" for a query that ran in one of the caller's threads. Scoped like every
page endpoint: a thread the caller cannot read, or a data source it cannot use, is a 404/403."""

import json

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import StrictCharField
from config.schema import errors
from executor.context import selectors as context, services as context_services
from executor.context.models import GoldenSql
from executor.selectors import data_source_for_use, data_source_get

from . import selectors
from .models import Message

TABLES_SHOWN = 500


def scan_view(data_source) -> dict:
    state = context.scan_state(data_source)
    rows = list(data_source.table_descriptions.order_by("schema_name", "table_name")
                .values("table_name", "status", "row_count", "error_message", "description")[:TABLES_SHOWN])
    return {
        "data_source_id": str(data_source.pk), "name": data_source.name, "status": state.scan_status,
        "tables_total": state.scan_tables_total, "tables_done": state.scan_tables_done, "tables_failed": state.scan_tables_failed,
        "error": state.scan_error or None, "finished_at": state.scan_finished_at.isoformat() if state.scan_finished_at else None,
        "tables": rows,
    }


class ScanApi(APIView):
    @extend_schema(summary="A data source's latest scan and its tables", responses={200: dict, **errors(401, 403, 404)})
    def get(self, request, data_source_id):
        source = data_source_for_use(request.user, data_source_get(request.user, data_source_id))
        return Response(scan_view(source))

    @extend_schema(summary="Scan a data source (in the background)", request=None, responses={202: dict, **errors(401, 403, 404, 503)})
    def post(self, request, data_source_id):
        from executor import tasks

        source = data_source_for_use(request.user, data_source_get(request.user, data_source_id))
        context_services.scan_queued(source, None)
        tasks.scan_data_source.delay(str(source.pk), None)
        return Response(scan_view(source), status=status.HTTP_202_ACCEPTED)


class GoldenFromThreadIn(serializers.Serializer):
    sql = StrictCharField(max_length=100_000)
    question = StrictCharField(max_length=4_000)


def _ran_in(thread, sql: str) -> bool:
    """Whether `sql` is a statement a tool call of this thread ran (what the page shows)."""
    wanted = sql.strip()
    for content in Message.objects.filter(thread_id=thread.pk, role=Message.Role.TOOL).values_list("content", flat=True):
        try:
            statements = json.loads(content or "{}").get("sql_statements") or []
        except (ValueError, AttributeError):
            continue
        if any(str(s.get("sql", "")).strip() == wanted for s in statements if isinstance(s, dict)):
            return True
    return False


class GoldenFromThreadApi(APIView):
    @extend_schema(summary="Save a query that ran in this thread as a golden SQL of its data source", request=GoldenFromThreadIn, responses={201: dict, **errors(400, 401, 403, 404)})
    def post(self, request, thread_id):
        thread = selectors.get_thread(request.user, thread_id)
        serializer = GoldenFromThreadIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = thread.assistant.data_source if thread.assistant else None
        if source is None:
            raise serializers.ValidationError({"sql": ["This conversation has no data source."]})
        data_source_for_use(request.user, source)
        if not _ran_in(thread, data["sql"]):
            raise serializers.ValidationError({"sql": ["Only a query that ran in this conversation can be saved."]})
        [item] = context_services.golden_sqls_add(request.user, [{
            "data_source": source, "prompt_text": data["question"], "sql": data["sql"], "source": GoldenSql.Source.VERIFIED_QUERY,
            "metadata": {"thread_id": str(thread.pk)},
        }])
        return Response({"id": str(item.pk), "data_source_id": str(source.pk), "prompt_text": item.prompt_text, "sql": item.sql},
                        status=status.HTTP_201_CREATED)
