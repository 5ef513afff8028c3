from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from responses import current_urls
from threads.metrics import metrics as metrics_view

from . import health, views

handler400 = "config.errors.handler400"
handler403 = "config.errors.handler403"
handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", health.health, name="health"),
    path("health/", health.health),
    path("ok", health.ok, name="ok"),
    path("ok/", health.ok),
    path("api/v1/me", views.whoami, name="whoami"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its start-up script from /api/docs/?script=: no inline script (config/csp.py).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("", include("assistants.urls")),
    path("api/v1/bi/", include("sessions.bi_urls")),
    # Dataherald's current API (the engine's paths, and the hosted API the official SDK speaks).
    path("api/v1/", include(current_urls.engine)),
    path("api/v1/", include("executor.urls")),
    path("api/v1/", include("responses.urls")),
    path("api/", include(current_urls.sdk)),
    path("", include(current_urls.root)),
    path("api/", include("sessions.julep_urls")),
    path("api/", include("sessions.julep_docs_urls")),
    path("", include("threads.page_urls")),
    path("", include("threads.urls")),
]
