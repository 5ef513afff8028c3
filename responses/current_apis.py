"""Dataherald's current API: the engine's resources under /api/v1/ and the hosted API the official
SDK speaks under /api/ (X-API-Key). Thin views over executor.context (the context store) and
responses.current_services (generation)."""

import time

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from config.errors import Conflict
from config.schema import errors
from executor.context import selectors as context, services as context_services
from executor.selectors import data_source_for_use
from executor.services import SqlError, check_may_change

from . import current_serializers as s
from . import openapi as o
from .openapi import many
from . import current_services as services
from .apis import ResponsePending, ServiceUnavailable
from .selectors import connection_get



def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _page(queryset, request):
    params = _valid(s.ListParams, request.query_params)
    order = params["order"] if params["ascend"] else "-" + params["order"]
    queryset = queryset.order_by(order)
    if params.get("page_size") or params.get("page"):
        size = params.get("page_size") or 20
        start = (params.get("page", 1) - 1) * size
        return queryset[start : start + size]
    return queryset[:1000]


def _connection(request, connection_id):
    return connection_get(request.user, connection_id)


def _generated(call):
    try:
        return call()
    except services.GenerationPending as exc:
        raise ResponsePending(f"Still being generated after {exc.timeout:g}s; fetch {exc.response_id} later.") from None
    except services.GenerationUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None


def _engine_names(request) -> bool:
    return request.path.startswith("/api/v1/")


# --- table descriptions and scans ---------------------------------------------------------------


class TableDescriptionListApi(APIView):
    @extend_schema(summary="Table descriptions of a database connection", parameters=[s.ListParams], responses={200: many(o.TABLE_DESCRIPTION), **errors(400, 401, 404)}, operation_id="list_table_descriptions")
    def get(self, request):
        params = _valid(s.ListParams, request.query_params)
        source = _connection(request, params["db_connection_id"]) if params.get("db_connection_id") else None
        items = context.table_descriptions(request.user, source, params.get("table_name"))
        return ApiResponse([s.table_description_out(t, engine_names=_engine_names(request)) for t in _page(items, request)])


class TableDescriptionDetailApi(APIView):
    @extend_schema(summary="A table description", responses={200: o.TABLE_DESCRIPTION, **errors(401, 404)})
    def get(self, request, pk):
        return ApiResponse(s.table_description_out(context.table_description_get(request.user, pk), engine_names=_engine_names(request)))

    @extend_schema(summary="Describe a table and its columns", request=s.TableDescriptionUpdate, responses={200: o.TABLE_DESCRIPTION, **errors(400, 401, 403, 404)})
    def put(self, request, pk):
        item = context.table_description_get(request.user, pk)
        check_may_change(item.data_source, request.user)
        data = _valid(s.TableDescriptionUpdate, request.data)
        columns = data.get("columns")
        if columns is not None:
            columns = [{k: v for k, v in c.items() if k in ("name", "description", "categories", "low_cardinality")} for c in columns]
        item = context_services.table_description_update(
            item, description=data.get("description") if "description" in data else None, columns=columns,
            examples=data.get("examples"), metadata=data.get("metadata"),
        )
        return ApiResponse(s.table_description_out(item, engine_names=_engine_names(request)))


def _scan(request, connection_id, table_names=None):
    from executor import tasks

    source = data_source_for_use(request.user, _connection(request, connection_id))
    context_services.scan_queued(source, table_names)
    try:
        tasks.scan_data_source.apply_async(kwargs={"data_source_id": str(source.pk), "table_names": table_names or None})
    except Exception as exc:  # noqa: BLE001 - the broker is down: say so, do not pretend a scan runs
        raise ServiceUnavailable(f"The scan could not be queued ({type(exc).__name__}).") from None
    return source


class SyncSchemasApi(APIView):
    @extend_schema(summary="Scan tables (all, or the named ones) in the background", request=s.SyncSchemasIn(many=True), responses={201: many(o.TABLE_DESCRIPTION), **errors(400, 401, 403, 404, 503)})
    def post(self, request):
        body = request.data if isinstance(request.data, list) else [request.data]  # the SDK sends a list
        serializer = s.SyncSchemasIn(data=body, many=True)
        serializer.is_valid(raise_exception=True)
        out = []
        for entry in serializer.validated_data:
            source = _scan(request, entry["db_connection_id"], entry.get("table_names"))
            items = context.table_descriptions(request.user, source)
            if entry.get("table_names"):
                items = items.filter(table_name__in=entry["table_names"])
            out += [s.table_description_out(t, engine_names=_engine_names(request)) for t in items]
        return ApiResponse(out, status=status.HTTP_201_CREATED)


class RefreshApi(APIView):
    @extend_schema(summary="Scan a database connection again (every table)", request=s.RefreshIn, responses={201: many(o.TABLE_DESCRIPTION), **errors(400, 401, 403, 404, 503)})
    def post(self, request):
        data = _valid(s.RefreshIn, request.data)
        source = _scan(request, data["db_connection_id"])
        items = context.table_descriptions(request.user, source)
        return ApiResponse([s.table_description_out(t, engine_names=_engine_names(request)) for t in items], status=status.HTTP_201_CREATED)


class ScanStateApi(APIView):
    @extend_schema(summary="The latest scan of a database connection: status and progress", responses={200: o.SCAN, **errors(401, 404)})
    def get(self, request, connection_id):
        return ApiResponse(s.scan_out(context.scan_state(_connection(request, connection_id))))


# --- golden SQLs and instructions ---------------------------------------------------------------


class GoldenSqlListApi(APIView):
    @extend_schema(summary="The caller's golden SQLs", parameters=[s.ListParams], responses={200: many(o.GOLDEN_SQL), **errors(400, 401, 404)}, operation_id="list_golden_sqls")
    def get(self, request):
        params = _valid(s.ListParams, request.query_params)
        source = _connection(request, params["db_connection_id"]) if params.get("db_connection_id") else None
        return ApiResponse([s.golden_sql_out(g) for g in _page(context.golden_sqls(request.user, source), request)])

    @extend_schema(summary="Add golden SQLs (question → verified SQL); each must be a read-only query", request=s.GoldenSqlIn(many=True), responses={201: many(o.GOLDEN_SQL), **errors(400, 401, 403, 404)})
    def post(self, request):
        body = request.data if isinstance(request.data, list) else [request.data]
        if len(body) > s.MAX_BATCH:
            raise ValidationError({"detail": f"At most {s.MAX_BATCH} golden SQLs per request."})
        serializer = s.GoldenSqlIn(data=body, many=True)
        serializer.is_valid(raise_exception=True)
        entries = [
            {"data_source": data_source_for_use(request.user, _connection(request, e["db_connection_id"])), "prompt_text": e["prompt_text"],
             "sql": e["sql"], "metadata": e.get("metadata")}
            for e in serializer.validated_data
        ]
        items = context_services.golden_sqls_add(request.user, entries)
        return ApiResponse([s.golden_sql_out(g) for g in items], status=status.HTTP_201_CREATED)


class GoldenSqlDetailApi(APIView):
    @extend_schema(summary="A golden SQL", responses={200: o.GOLDEN_SQL, **errors(401, 404)})
    def get(self, request, pk):
        return ApiResponse(s.golden_sql_out(context.golden_sql_get(request.user, pk)))

    @extend_schema(summary="Change a golden SQL", request=s.GoldenSqlUpdate, responses={200: o.GOLDEN_SQL, **errors(400, 401, 404)})
    def put(self, request, pk):
        item = context.golden_sql_get(request.user, pk)
        data = _valid(s.GoldenSqlUpdate, request.data)
        item = context_services.golden_sql_update(item, prompt_text=data.get("prompt_text"), sql=data.get("sql"), metadata=data.get("metadata"))
        return ApiResponse(s.golden_sql_out(item))

    @extend_schema(summary="Delete a golden SQL", responses={200: o.DELETED, **errors(401, 404)})
    def delete(self, request, pk):
        context_services.golden_sql_delete(context.golden_sql_get(request.user, pk))
        return ApiResponse({"status": True})


class InstructionListApi(APIView):
    @extend_schema(summary="The caller's instructions", parameters=[s.ListParams], responses={200: many(o.INSTRUCTION), **errors(400, 401, 404)}, operation_id="list_instructions")
    def get(self, request):
        params = _valid(s.ListParams, request.query_params)
        source = _connection(request, params["db_connection_id"]) if params.get("db_connection_id") else None
        return ApiResponse([s.instruction_out(i) for i in _page(context.instructions(request.user, source), request)])

    @extend_schema(summary="Add an instruction (a rule for SQL on this database)", request=s.InstructionIn, responses={201: o.INSTRUCTION, **errors(400, 401, 403, 404)})
    def post(self, request):
        data = _valid(s.InstructionIn, request.data)
        source = data_source_for_use(request.user, _connection(request, data["db_connection_id"]))
        item = context_services.instruction_create(request.user, source, instruction=data["instruction"], metadata=data.get("metadata"))
        return ApiResponse(s.instruction_out(item), status=status.HTTP_201_CREATED)


class InstructionFirstApi(APIView):
    @extend_schema(summary="The caller's first instruction", responses={200: o.INSTRUCTION, **errors(401, 404)})
    def get(self, request):
        item = context.instructions(request.user).order_by("created_at").first()
        if item is None:
            from django.http import Http404

            raise Http404("no instruction yet")
        return ApiResponse(s.instruction_out(item))


class InstructionDetailApi(APIView):
    @extend_schema(summary="An instruction", responses={200: o.INSTRUCTION, **errors(401, 404)})
    def get(self, request, pk):
        return ApiResponse(s.instruction_out(context.instruction_get(request.user, pk)))

    @extend_schema(summary="Change an instruction", request=s.InstructionUpdate, responses={200: o.INSTRUCTION, **errors(400, 401, 404)})
    def put(self, request, pk):
        item = context.instruction_get(request.user, pk)
        data = _valid(s.InstructionUpdate, request.data)
        source = None
        if data.get("db_connection_id"):
            source = data_source_for_use(request.user, _connection(request, data["db_connection_id"]))
        item = context_services.instruction_update(item, instruction=data.get("instruction"), metadata=data.get("metadata"), data_source=source)
        return ApiResponse(s.instruction_out(item))

    @extend_schema(summary="Delete an instruction", responses={200: o.DELETED, **errors(401, 404)})
    def delete(self, request, pk):
        context_services.instruction_delete(context.instruction_get(request.user, pk))
        return ApiResponse({"status": True})


# --- prompts, SQL and NL generations ------------------------------------------------------------


def _new_prompt(request, data):
    return services.prompt_create(request.user, _connection(request, data["db_connection_id"]), text=data["text"], metadata=data.get("metadata"))


class PromptListApi(APIView):
    @extend_schema(summary="The caller's prompts", parameters=[s.ListParams], responses={200: many(o.PROMPT), **errors(400, 401, 404)}, operation_id="list_prompts")
    def get(self, request):
        params = _valid(s.ListParams, request.query_params)
        items = context.prompts(request.user)
        if params.get("db_connection_id"):
            items = items.filter(data_source=_connection(request, params["db_connection_id"]))
        return ApiResponse([s.prompt_out(p) for p in _page(items, request)])

    @extend_schema(summary="Ask a question of a database connection", request=s.PromptIn, responses={201: o.PROMPT, **errors(400, 401, 403, 404)})
    def post(self, request):
        return ApiResponse(s.prompt_out(_new_prompt(request, _valid(s.PromptIn, request.data))), status=status.HTTP_201_CREATED)


class PromptDetailApi(APIView):
    @extend_schema(summary="A prompt", responses={200: o.PROMPT, **errors(401, 404)})
    def get(self, request, pk):
        return ApiResponse(s.prompt_out(context.prompt_get(request.user, pk)))

    @extend_schema(summary="Change a prompt's metadata", request=s.PromptUpdate, responses={200: o.PROMPT, **errors(400, 401, 404)})
    def put(self, request, pk):
        item = context.prompt_get(request.user, pk)
        data = _valid(s.PromptUpdate, request.data)
        return ApiResponse(s.prompt_out(services.prompt_update(item, metadata=data.get("metadata"))))


class PromptSqlGenerationsApi(APIView):
    @extend_schema(summary="SQL generations of a prompt", parameters=[s.ListParams], responses={200: many(o.SQL_GENERATION), **errors(400, 401, 404)}, operation_id="list_prompt_sql_generations")
    def get(self, request, pk):
        prompt = context.prompt_get(request.user, pk)
        return ApiResponse([s.sql_generation_out(g) for g in _page(prompt.sql_generations.all(), request)])

    @extend_schema(summary="Write SQL for a stored prompt (or check the SQL given)", request=s.SqlGenerationIn, responses={201: o.SQL_GENERATION, **errors(400, 401, 403, 404, 503, 504)})
    def post(self, request, pk):
        prompt = context.prompt_get(request.user, pk)
        data = _valid(s.SqlGenerationIn, request.data)
        item = _generated(lambda: services.sql_generation_create(request.user, prompt, data))
        return ApiResponse(s.sql_generation_out(item), status=status.HTTP_201_CREATED)


class PromptAndSqlGenerationApi(APIView):
    @extend_schema(summary="Ask a question and write its SQL in one call", request=s.PromptSqlGenerationIn, responses={201: o.SQL_GENERATION, **errors(400, 401, 403, 404, 503, 504)}, operation_id="create_prompt_and_sql_generation")
    def post(self, request):
        data = _valid(s.PromptSqlGenerationIn, request.data)
        prompt = _new_prompt(request, data["prompt"])
        item = _generated(lambda: services.sql_generation_create(request.user, prompt, data))
        return ApiResponse(s.sql_generation_out(item), status=status.HTTP_201_CREATED)


class SqlGenerationListApi(APIView):
    @extend_schema(summary="The caller's SQL generations", parameters=[s.ListParams], responses={200: many(o.SQL_GENERATION), **errors(400, 401)}, operation_id="list_sql_generations")
    def get(self, request):
        return ApiResponse([s.sql_generation_out(g) for g in _page(context.sql_generations(request.user), request)])


class SqlGenerationDetailApi(APIView):
    @extend_schema(summary="A SQL generation", responses={200: o.SQL_GENERATION, **errors(401, 404)})
    def get(self, request, pk):
        return ApiResponse(s.sql_generation_out(context.sql_generation_get(request.user, pk)))

    @extend_schema(summary="Change a SQL generation's metadata", request=s.MetadataUpdate, responses={200: o.SQL_GENERATION, **errors(400, 401, 404)})
    def put(self, request, pk):
        item = context.sql_generation_get(request.user, pk)
        item.metadata = _valid(s.MetadataUpdate, request.data).get("metadata") or {}
        item.save(update_fields=["metadata"])
        return ApiResponse(s.sql_generation_out(item))


def _refused(call):
    try:
        return call()
    except services.WriteRefused as exc:
        raise ValidationError({"sql": [str(exc)]}) from None
    except SqlError as exc:
        raise ValidationError({"sql": [exc.message]}) from None


class SqlGenerationExecuteApi(APIView):
    @extend_schema(summary="Run a SQL generation's query (read-only) and return its rows", parameters=[s.ExecuteParams], responses={200: o.ROWS, **errors(400, 401, 403, 404)})
    def get(self, request, pk):
        item = context.sql_generation_get(request.user, pk)
        params = _valid(s.ExecuteParams, request.query_params)
        return ApiResponse(_refused(lambda: services.execute(request.user, item, max_rows=params["max_rows"])))


class SqlGenerationCsvApi(APIView):
    @extend_schema(summary="A SQL generation's result as CSV", responses={(200, "text/csv"): bytes, **errors(400, 401, 403, 404)})
    def get(self, request, pk):
        item = context.sql_generation_get(request.user, pk)
        body = _refused(lambda: services.csv_text(request.user, item))
        response = HttpResponse(body.encode(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{item.pk}.csv"'
        return response


class SqlGenerationNlGenerationsApi(APIView):
    @extend_schema(summary="NL generations of a SQL generation", parameters=[s.ListParams], responses={200: many(o.NL_GENERATION), **errors(400, 401, 404)}, operation_id="list_sql_generation_nl_generations")
    def get(self, request, pk):
        item = context.sql_generation_get(request.user, pk)
        return ApiResponse([s.nl_generation_out(n) for n in _page(item.nl_generations.all(), request)])

    @extend_schema(summary="Answer a SQL generation's result in words", request=s.NlGenerationIn, responses={201: o.NL_GENERATION, **errors(400, 401, 403, 404, 503, 504)})
    def post(self, request, pk):
        item = context.sql_generation_get(request.user, pk)
        data = _valid(s.NlGenerationIn, request.data)
        answer = _generated(lambda: services.nl_generation_create(request.user, item, max_rows=data["max_rows"], metadata=data.get("metadata")))
        return ApiResponse(s.nl_generation_out(answer), status=status.HTTP_201_CREATED)


class PromptSqlNlGenerationApi(APIView):
    @extend_schema(summary="Write SQL for a stored prompt and answer it in words", request=s.SqlNlGenerationIn, responses={201: o.NL_GENERATION, **errors(400, 401, 403, 404, 503, 504)})
    def post(self, request, pk):
        prompt = context.prompt_get(request.user, pk)
        data = _valid(s.SqlNlGenerationIn, request.data)
        return _sql_then_nl(request, prompt, data)


class PromptAndSqlNlGenerationApi(APIView):
    @extend_schema(summary="Ask, write SQL and answer in words, in one call", request=s.PromptSqlNlGenerationIn, responses={201: o.NL_GENERATION, **errors(400, 401, 403, 404, 503, 504)}, operation_id="create_prompt_sql_and_nl_generation")
    def post(self, request):
        data = _valid(s.PromptSqlNlGenerationIn, request.data)
        prompt = _new_prompt(request, data["sql_generation"]["prompt"])
        return _sql_then_nl(request, prompt, data)


def _sql_then_nl(request, prompt, data):
    generation = _generated(lambda: services.sql_generation_create(request.user, prompt, data["sql_generation"]))
    answer = _generated(lambda: services.nl_generation_create(request.user, generation, max_rows=data["max_rows"], metadata=data.get("metadata")))
    return ApiResponse(s.nl_generation_out(answer), status=status.HTTP_201_CREATED)


class NlGenerationListApi(APIView):
    @extend_schema(summary="The caller's NL generations", parameters=[s.ListParams], responses={200: many(o.NL_GENERATION), **errors(400, 401)}, operation_id="list_nl_generations")
    def get(self, request):
        return ApiResponse([s.nl_generation_out(n) for n in _page(context.nl_generations(request.user), request)])


class NlGenerationDetailApi(APIView):
    @extend_schema(summary="An NL generation", responses={200: o.NL_GENERATION, **errors(401, 404)})
    def get(self, request, pk):
        return ApiResponse(s.nl_generation_out(context.nl_generation_get(request.user, pk)))

    @extend_schema(summary="Change an NL generation's metadata", request=s.MetadataUpdate, responses={200: o.NL_GENERATION, **errors(400, 401, 404)})
    def put(self, request, pk):
        item = context.nl_generation_get(request.user, pk)
        item.metadata = _valid(s.MetadataUpdate, request.data).get("metadata") or {}
        item.save(update_fields=["metadata"])
        return ApiResponse(s.nl_generation_out(item))


# --- the hosted API's generations, query history, finetunings, heartbeats ------------------------


def _generation(prompt):
    latest, nl = services.latest(prompt)
    return s.generation_out(prompt, latest, nl)


class GenerationListApi(APIView):
    @extend_schema(summary="The caller's generations (a prompt with its latest SQL and answer)", parameters=[s.ListParams], responses={200: many(o.GENERATION), **errors(400, 401)}, operation_id="list_generations")
    def get(self, request):
        return ApiResponse([_generation(p) for p in _page(context.prompts(request.user), request)])


class GenerationDetailApi(APIView):
    @extend_schema(summary="A generation", responses={200: o.GENERATION, **errors(401, 404)})
    def get(self, request, pk):
        return ApiResponse(_generation(context.prompt_get(request.user, pk)))

    @extend_schema(summary="Write SQL and an answer for a stored prompt", request=None, responses={201: o.GENERATION, **errors(401, 403, 404, 503, 504)})
    def post(self, request, pk):
        prompt = context.prompt_get(request.user, pk)
        _generated(lambda: services.generation_run(request.user, prompt))
        return ApiResponse(_generation(prompt), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Verify or reject a generation; VERIFIED makes its SQL a golden SQL", request=s.GenerationUpdate, responses={200: o.GENERATION, **errors(400, 401, 404, 409)})
    def put(self, request, pk):
        prompt = context.prompt_get(request.user, pk)
        data = _valid(s.GenerationUpdate, request.data)
        services.generation_update(request.user, prompt, status=data["generation_status"], message=data.get("message"))
        return ApiResponse(_generation(prompt))


class GenerationSqlApi(APIView):
    @extend_schema(summary="Replace a generation's SQL with the given one (checked and run read-only)", request=s.GenerationSqlIn, responses={201: o.GENERATION, **errors(400, 401, 403, 404, 503, 504)})
    def post(self, request, pk):
        prompt = context.prompt_get(request.user, pk)
        data = _valid(s.GenerationSqlIn, request.data)
        _generated(lambda: services.sql_generation_create(request.user, prompt, {"sql": data["sql"]}))
        return ApiResponse(_generation(prompt), status=status.HTTP_201_CREATED)


class GenerationNlApi(APIView):
    @extend_schema(summary="Answer a generation's latest SQL in words", request=None, responses={201: o.NL_GENERATION, **errors(400, 401, 403, 404, 409, 503, 504)})
    def post(self, request, pk):
        prompt = context.prompt_get(request.user, pk)
        latest, _ = services.latest(prompt)
        if latest is None:
            raise Conflict("This generation has no SQL yet; POST /api/generations/{id} first.")
        answer = _generated(lambda: services.nl_generation_create(request.user, latest, max_rows=100, metadata={}))
        return ApiResponse(s.nl_generation_out(answer), status=status.HTTP_201_CREATED)


class PromoteApi(APIView):
    @extend_schema(summary="Promote an approved SQL generation to a golden SQL", request=None, responses={201: o.GOLDEN_SQL, **errors(401, 404, 409)})
    def post(self, request, pk):
        item = context.sql_generation_get(request.user, pk)
        if item.status != item.Status.VALID or not item.sql:
            raise Conflict("Only a SQL generation whose query ran can become a golden SQL.")
        return ApiResponse(s.golden_sql_out(context_services.promote(request.user, item)), status=status.HTTP_201_CREATED)


class QueryHistoryApi(APIView):
    @extend_schema(summary="Queries that ran on a database connection (the caller's), most frequent first", parameters=[s.QueryHistoryParams], responses={200: many(o.QUERY_HISTORY), **errors(400, 401, 404)})
    def get(self, request):
        params = _valid(s.QueryHistoryParams, request.query_params)
        source = _connection(request, params["db_connection_id"])
        counts: dict[str, list] = {}
        for pk, sql in context.sql_generations(request.user).filter(prompt__data_source=source, status="VALID").order_by("created_at").values_list("id", "sql"):
            counts.setdefault(sql, [str(pk), 0])[1] += 1
        history = [
            {"id": first, "db_connection_id": str(source.pk), "table_name": None, "query": sql, "user": request.user.user_id, "occurrences": n}
            for sql, (first, n) in sorted(counts.items(), key=lambda item: -item[1][1])
        ]
        return ApiResponse(history[:1000])


class FinetuningApi(APIView):
    """Every finetuning call: Querent trains no models, and says what to do instead."""

    @extend_schema(summary="Not offered: Querent does not fine-tune models", responses={400: o.FINETUNING_REFUSED})
    def get(self, request, pk=None):
        return self._refuse()

    @extend_schema(summary="Not offered: Querent does not fine-tune models", request=None, responses={400: o.FINETUNING_REFUSED})
    def post(self, request, pk=None):
        return self._refuse()

    @extend_schema(summary="Not offered: Querent does not fine-tune models", request=None, responses={400: o.FINETUNING_REFUSED})
    def put(self, request, pk=None):
        return self._refuse()

    @extend_schema(summary="Not offered: Querent does not fine-tune models", responses={400: o.FINETUNING_REFUSED})
    def delete(self, request, pk=None):
        return self._refuse()

    def _refuse(self):
        return ApiResponse({"detail": services.FINETUNING_REFUSAL, "code": "finetuning_not_supported"}, status=status.HTTP_400_BAD_REQUEST)


def _finetuning_route(part: str):
    """FinetuningApi for one route, with operation ids of its own in the OpenAPI schema."""
    methods = {m: extend_schema(operation_id=f"finetunings_{part}_{m}") for m in ("get", "post", "put", "delete")}
    return extend_schema_view(**methods)(type(f"Finetuning{part.title()}Api", (FinetuningApi,), {}))


FinetuningListApi, FinetuningDetailApi, FinetuningCancelApi = (_finetuning_route(p) for p in ("list", "detail", "cancel"))


class DriversApi(APIView):
    @extend_schema(summary="Database drivers this server connects with", responses={200: many(o.DRIVER)})
    def get(self, request):
        from executor.models import DataSource, SUPPORTED_ENGINES

        names = dict(DataSource.Engine.choices)
        return ApiResponse([{"driver": engine, "name": names.get(engine, engine)} for engine in SUPPORTED_ENGINES])


class HeartbeatApi(APIView):
    authentication_classes = []
    permission_classes = []

    @extend_schema(summary="Liveness: the server's clock in nanoseconds", responses={200: o.HEARTBEAT})
    def get(self, request):
        return ApiResponse({"nanosecond heartbeat": time.time_ns()})
