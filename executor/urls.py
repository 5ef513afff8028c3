"""Data source routes under /api/v1/ (both spellings: APPEND_SLASH is off, POSTs are never redirected)."""

from django.urls import path

from . import apis

urlpatterns = [
    path("data-sources/uploads", apis.UploadApi.as_view(), name="data-source-uploads"),
    path("data-sources/uploads/", apis.UploadApi.as_view()),
]
