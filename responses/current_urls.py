"""Routes of Dataherald's current API. `engine` is mounted under /api/v1/ (beside seed 001's
routes in responses.urls) and, with `sdk`, under /api/ for the official SDK, whose base URL is the
server's root; `sdk` adds the database connections there; `root` holds the SDK's heartbeats. Fixed
segments come before `<pk>` routes, and nothing here clashes with Julep's agents/users/sessions
under /api/. The SDK mount's views are subclasses with their own OpenAPI operation ids."""

import re

from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view

from . import apis as seed_apis
from . import current_apis as apis


def both(route, view, name=None):
    return [path(route, view, name=name), path(route + "/", view)]


def _sdk(view_class):
    """The same view under the SDK's mount, with operation ids of its own in the OpenAPI schema."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", view_class.__name__.removesuffix("Api")).lower()
    methods = {m: extend_schema(operation_id=f"sdk_{name}_{m}") for m in ("get", "post", "put", "delete") if hasattr(view_class, m)}
    return extend_schema_view(**methods)(type(f"Sdk{view_class.__name__}", (view_class,), {"__doc__": view_class.__doc__}))


def _engine(wrap=lambda view_class: view_class):
    def route(text, view_class, name=None):
        return both(text, wrap(view_class).as_view(), name)

    return [
        *route("database-connections/drivers", apis.DriversApi, "dh-drivers"),
        *route("database-connections/<str:connection_id>/scan", apis.ScanStateApi, "dh-scan-state"),
        *route("table-descriptions", apis.TableDescriptionListApi, "dh-table-descriptions"),
        *route("table-descriptions/sync-schemas", apis.SyncSchemasApi, "dh-sync-schemas"),
        *route("table-descriptions/refresh", apis.RefreshApi, "dh-refresh"),
        *route("table-descriptions/<str:pk>", apis.TableDescriptionDetailApi, "dh-table-description"),
        *route("golden-sqls", apis.GoldenSqlListApi, "dh-golden-sqls"),
        *route("golden-sqls/<str:pk>", apis.GoldenSqlDetailApi, "dh-golden-sql"),
        *route("instructions", apis.InstructionListApi, "dh-instructions"),
        *route("instructions/first", apis.InstructionFirstApi, "dh-instruction-first"),
        *route("instructions/<str:pk>", apis.InstructionDetailApi, "dh-instruction"),
        *route("prompts", apis.PromptListApi, "dh-prompts"),
        *route("prompts/sql-generations", apis.PromptAndSqlGenerationApi, "dh-prompt-and-sql"),
        *route("prompts/sql-generations/nl-generations", apis.PromptAndSqlNlGenerationApi, "dh-prompt-sql-nl"),
        *route("prompts/<str:pk>", apis.PromptDetailApi, "dh-prompt"),
        *route("prompts/<str:pk>/sql-generations", apis.PromptSqlGenerationsApi, "dh-prompt-sql-generations"),
        *route("prompts/<str:pk>/sql-generations/nl-generations", apis.PromptSqlNlGenerationApi, "dh-prompt-sql-nl-by-id"),
        *route("sql-generations", apis.SqlGenerationListApi, "dh-sql-generations"),
        *route("sql-generations/<str:pk>", apis.SqlGenerationDetailApi, "dh-sql-generation"),
        *route("sql-generations/<str:pk>/execute", apis.SqlGenerationExecuteApi, "dh-sql-generation-execute"),
        *route("sql-generations/<str:pk>/csv-file", apis.SqlGenerationCsvApi, "dh-sql-generation-csv"),
        *route("sql-generations/<str:pk>/nl-generations", apis.SqlGenerationNlGenerationsApi, "dh-sql-generation-nl"),
        *route("sql-generations/<str:pk>/golden-sql", apis.PromoteApi, "dh-promote"),
        *route("nl-generations", apis.NlGenerationListApi, "dh-nl-generations"),
        *route("nl-generations/<str:pk>", apis.NlGenerationDetailApi, "dh-nl-generation"),
        *route("query-history", apis.QueryHistoryApi, "dh-query-history"),
        *route("finetunings", apis.FinetuningListApi, "dh-finetunings"),
        *route("finetunings/<str:pk>", apis.FinetuningDetailApi),
        *route("finetunings/<str:pk>/cancel", apis.FinetuningCancelApi),
        *route("generations", apis.GenerationListApi, "dh-generations"),
        *route("generations/<str:pk>", apis.GenerationDetailApi, "dh-generation"),
        *route("generations/<str:pk>/sql-generation", apis.GenerationSqlApi, "dh-generation-sql"),
        *route("generations/<str:pk>/nl-generation", apis.GenerationNlApi, "dh-generation-nl"),
    ]


engine = _engine()

sdk = [
    *_engine(_sdk),  # first: database-connections/drivers before database-connections/<id>
    *both("database-connections", _sdk(seed_apis.ConnectionListApi).as_view(), "dh-sdk-connections"),
    *both("database-connections/<str:connection_id>", _sdk(seed_apis.ConnectionDetailApi).as_view(), "dh-sdk-connection"),
]

root = [
    *both("heartbeat", apis.HeartbeatApi.as_view(), "dh-sdk-heartbeat"),
    *both("engine/heartbeat", apis.HeartbeatApi.as_view(), "dh-engine-heartbeat"),
]
