"""Mounted at api/ (the julep SDK's base_url is http://host:port/api). Both spellings answer; the
SDK does not follow redirects on POST, and nothing here redirects."""

from . import julep_apis as apis
from .http import both


urlpatterns = [
    *both("agents", apis.AgentCollectionApi.as_view(), "julep-agents"),
    *both("agents/<str:agent_id>", apis.AgentDetailApi.as_view(), "julep-agent"),
    *both("users", apis.UserCollectionApi.as_view(), "julep-users"),
    *both("users/<str:user_id>", apis.UserDetailApi.as_view(), "julep-user"),
    *both("sessions", apis.SessionCollectionApi.as_view(), "julep-sessions"),
    *both("sessions/<str:session_id>", apis.SessionDetailApi.as_view(), "julep-session"),
    *both("sessions/<str:session_id>/chat", apis.SessionChatApi.as_view(), "julep-session-chat"),
    *both("sessions/<str:session_id>/history", apis.SessionHistoryApi.as_view(), "julep-session-history"),
    *both("sessions/<str:session_id>/suggestions", apis.SessionSuggestionsApi.as_view(), "julep-session-suggestions"),
    *both("sessions/<str:session_id>/confirmations/<str:confirmation_id>", apis.SessionConfirmationApi.as_view(),
          "julep-session-confirmation"),
]
