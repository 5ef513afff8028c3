"""Mounted at api/v1/bi/. Both spellings of every path answer; nothing redirects."""

from . import bi_apis as apis
from .http import both


urlpatterns = [
    *both("sessions", apis.SessionCollectionApi.as_view(), "bi-sessions"),
    *both("sessions/<str:session_id>", apis.SessionDetailApi.as_view(), "bi-session"),
    *both("sessions/<str:session_id>/messages", apis.SessionMessageApi.as_view(), "bi-session-messages"),
    *both("sessions/<str:session_id>/refine", apis.SessionRefineApi.as_view(), "bi-session-refine"),
    *both("sessions/<str:session_id>/visualization", apis.SessionVisualizationApi.as_view(), "bi-session-visualization"),
    *both("sessions/<str:session_id>/suggestions", apis.SessionSuggestionsApi.as_view(), "bi-session-suggestions"),
    *both("sessions/<str:session_id>/history", apis.SessionHistoryApi.as_view(), "bi-session-history"),
    *both("sessions/<str:session_id>/confirmations/<str:confirmation_id>", apis.SessionConfirmationApi.as_view(),
          "bi-session-confirmation"),
]
