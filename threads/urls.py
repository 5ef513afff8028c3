from django.urls import path

from . import apis, pages, views
from .opengpts import apis as opengpts
from .opengpts.ingest import IngestApi
from .opengpts.stream import RunsStreamView
from .promptql.views import ThreadEventsView


def both(route: str, view, name: str | None = None):
    """OpenGPTs clients use trailing slashes, PromptQL clients do not: serve both, never redirect."""
    return [path(route, view, name=name), path(route + "/", view)]


urlpatterns = [
    path("", pages.index, name="index"),
    *both("threads", views.ThreadsView.as_view(), "threads"),
    *both("threads/<uuid:thread_id>", views.ThreadView.as_view(), "thread"),
    *both("threads/<uuid:thread_id>/user_confirmation", apis.UserConfirmationApi.as_view(), "thread-confirmation"),
    *both("threads/<uuid:thread_id>/cancel", apis.CancelRunApi.as_view(), "thread-cancel"),
    *both("threads/<uuid:thread_id>/events", ThreadEventsView.as_view(), "thread-events"),
    *both("threads/<uuid:thread_id>/state", opengpts.ThreadStateApi.as_view(), "thread-state"),
    *both("threads/<uuid:thread_id>/history", opengpts.ThreadHistoryApi.as_view(), "thread-history"),
    *both("runs", opengpts.RunCreateApi.as_view(), "runs"),
    *both("runs/stream", RunsStreamView.as_view(), "runs-stream"),
    *both("runs/config_schema", opengpts.ConfigSchemaApi.as_view(), "runs-config-schema"),
    *both("runs/feedback", opengpts.FeedbackApi.as_view(), "runs-feedback"),
    *both("ingest", IngestApi.as_view(), "ingest"),
    *both("runs/<uuid:run_id>", opengpts.RunDetailApi.as_view(), "run"),
]
