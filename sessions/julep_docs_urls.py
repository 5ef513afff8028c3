"""Julep docs routes, mounted at api/ beside sessions.julep_urls (no redirects: the SDK does not follow them on POST)."""

from .http import both
from .julep_docs import views

_agents, _users = views("agent"), views("user")


urlpatterns = [
    *both("agents/<str:owner_id>/docs", _agents["collection"], "julep-agent-docs"),
    *both("agents/<str:owner_id>/docs/search", _agents["search"], "julep-agent-docs-search"),
    *both("agents/<str:owner_id>/docs/<str:doc_id>", _agents["detail"], "julep-agent-doc"),
    *both("users/<str:owner_id>/docs", _users["collection"], "julep-user-docs"),
    *both("users/<str:owner_id>/docs/search", _users["search"], "julep-user-docs-search"),
    *both("users/<str:owner_id>/docs/<str:doc_id>", _users["detail"], "julep-user-doc"),
]
