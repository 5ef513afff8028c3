"""The chat page's sign-in pages and its small JSON API (`/ui/...`). The page itself is `/`."""

from django.urls import path

from . import context_page_apis, document_page_apis, page_apis, pages


def both(route: str, view, name: str | None = None):
    """APPEND_SLASH is off: serve both spellings, never redirect."""
    return [path(route, view, name=name), path(route + "/", view)]


urlpatterns = [
    *both("accounts/login", pages.login_view, "login"),
    *both("accounts/logout", pages.logout_view, "logout"),
    *both("ui/me", page_apis.MeApi.as_view(), "ui-me"),
    *both("ui/options", page_apis.OptionsApi.as_view(), "ui-options"),
    *both("ui/threads", page_apis.PageThreadListApi.as_view(), "ui-threads"),
    *both("ui/threads/<uuid:thread_id>", page_apis.PageThreadApi.as_view(), "ui-thread"),
    *both("ui/threads/<uuid:thread_id>/documents", document_page_apis.ThreadDocumentsApi.as_view(), "ui-thread-documents"),
    *both("ui/uploads/<str:upload_id>", document_page_apis.UploadProgressApi.as_view(), "ui-upload-progress"),
    *both("ui/data-sources/<str:data_source_id>/scan", context_page_apis.ScanApi.as_view(), "ui-scan"),
    *both("ui/threads/<uuid:thread_id>/golden-sqls", context_page_apis.GoldenFromThreadApi.as_view(), "ui-thread-golden-sqls"),
]
