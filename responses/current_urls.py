"""Routes of Dataherald's current API. `engine` is mounted under /api/v1/ (beside seed 001's
routes in responses.urls) and under /api/ for the official SDK, whose base URL is the server's
root; `sdk` adds what only the SDK asks for under /api/ (database connections, generations,
instructions/first); `root` holds the SDK's heartbeats. Fixed segments come before `<pk>` routes,
and nothing here clashes with Julep's agents/users/sessions under /api/."""

from django.urls import path

from . import apis as seed_apis
from . import current_apis as apis


def both(route, view, name=None):
    return [path(route, view, name=name), path(route + "/", view)]


engine = [
    *both("database-connections/drivers", apis.DriversApi.as_view(), "dh-drivers"),
    *both("database-connections/<str:connection_id>/scan", apis.ScanStateApi.as_view(), "dh-scan-state"),
    *both("table-descriptions", apis.TableDescriptionListApi.as_view(), "dh-table-descriptions"),
    *both("table-descriptions/sync-schemas", apis.SyncSchemasApi.as_view(), "dh-sync-schemas"),
    *both("table-descriptions/refresh", apis.RefreshApi.as_view(), "dh-refresh"),
    *both("table-descriptions/<str:pk>", apis.TableDescriptionDetailApi.as_view(), "dh-table-description"),
    *both("golden-sqls", apis.GoldenSqlListApi.as_view(), "dh-golden-sqls"),
    *both("golden-sqls/<str:pk>", apis.GoldenSqlDetailApi.as_view(), "dh-golden-sql"),
    *both("instructions", apis.InstructionListApi.as_view(), "dh-instructions"),
    *both("instructions/first", apis.InstructionFirstApi.as_view(), "dh-instruction-first"),
    *both("instructions/<str:pk>", apis.InstructionDetailApi.as_view(), "dh-instruction"),
    *both("prompts", apis.PromptListApi.as_view(), "dh-prompts"),
    *both("prompts/sql-generations", apis.PromptAndSqlGenerationApi.as_view(), "dh-prompt-and-sql"),
    *both("prompts/sql-generations/nl-generations", apis.PromptAndSqlNlGenerationApi.as_view(), "dh-prompt-sql-nl"),
    *both("prompts/<str:pk>", apis.PromptDetailApi.as_view(), "dh-prompt"),
    *both("prompts/<str:pk>/sql-generations", apis.PromptSqlGenerationsApi.as_view(), "dh-prompt-sql-generations"),
    *both("prompts/<str:pk>/sql-generations/nl-generations", apis.PromptSqlNlGenerationApi.as_view(), "dh-prompt-sql-nl-by-id"),
    *both("sql-generations", apis.SqlGenerationListApi.as_view(), "dh-sql-generations"),
    *both("sql-generations/<str:pk>", apis.SqlGenerationDetailApi.as_view(), "dh-sql-generation"),
    *both("sql-generations/<str:pk>/execute", apis.SqlGenerationExecuteApi.as_view(), "dh-sql-generation-execute"),
    *both("sql-generations/<str:pk>/csv-file", apis.SqlGenerationCsvApi.as_view(), "dh-sql-generation-csv"),
    *both("sql-generations/<str:pk>/nl-generations", apis.SqlGenerationNlGenerationsApi.as_view(), "dh-sql-generation-nl"),
    *both("sql-generations/<str:pk>/golden-sql", apis.PromoteApi.as_view(), "dh-promote"),
    *both("nl-generations", apis.NlGenerationListApi.as_view(), "dh-nl-generations"),
    *both("nl-generations/<str:pk>", apis.NlGenerationDetailApi.as_view(), "dh-nl-generation"),
    *both("query-history", apis.QueryHistoryApi.as_view(), "dh-query-history"),
    *both("finetunings", apis.FinetuningApi.as_view(), "dh-finetunings"),
    *both("finetunings/<str:pk>", apis.FinetuningApi.as_view()),
    *both("finetunings/<str:pk>/cancel", apis.FinetuningApi.as_view()),
    *both("generations", apis.GenerationListApi.as_view(), "dh-generations"),
    *both("generations/<str:pk>", apis.GenerationDetailApi.as_view(), "dh-generation"),
    *both("generations/<str:pk>/sql-generation", apis.GenerationSqlApi.as_view(), "dh-generation-sql"),
    *both("generations/<str:pk>/nl-generation", apis.GenerationNlApi.as_view(), "dh-generation-nl"),
]

sdk = [
    *both("database-connections", seed_apis.ConnectionListApi.as_view(), "dh-sdk-connections"),
    *both("database-connections/<str:connection_id>", seed_apis.ConnectionDetailApi.as_view(), "dh-sdk-connection"),
]

root = [
    *both("heartbeat", apis.HeartbeatApi.as_view(), "dh-sdk-heartbeat"),
    *both("engine/heartbeat", apis.HeartbeatApi.as_view(), "dh-engine-heartbeat"),
]
