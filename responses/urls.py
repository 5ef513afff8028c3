"""Dataherald routes, mounted under /api/v1/. Both spellings (with and without the trailing slash)
answer, since APPEND_SLASH is off and clients' POSTs must never be redirected."""

from django.urls import path

from . import apis


def both(route, view, name=None):
    return [path(route, view, name=name), path(route + "/", view)]


urlpatterns = [
    *both("database-connections", apis.ConnectionListApi.as_view(), "dh-connections"),
    *both("database-connections/<str:connection_id>", apis.ConnectionDetailApi.as_view(), "dh-connection"),
    *both("questions", apis.QuestionListApi.as_view(), "dh-questions"),
    *both("questions/<str:question_id>", apis.QuestionDetailApi.as_view(), "dh-question"),
    *both("responses", apis.ResponseListApi.as_view(), "dh-responses"),
    *both("responses/<str:response_id>", apis.ResponseDetailApi.as_view(), "dh-response"),
    *both("responses/<str:response_id>/confirmations/<str:confirmation_id>", apis.ResponseConfirmationApi.as_view(), "dh-response-confirmation"),
    *both("responses/<str:response_id>/file", apis.ResponseFileApi.as_view(), "dh-response-file"),
    *both("sql-query-executions", apis.SqlExecutionApi.as_view(), "dh-sql-executions"),
    *both("heartbeat", apis.HeartbeatApi.as_view(), "dh-heartbeat"),
]
