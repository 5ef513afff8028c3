"""OpenAPI tweaks: routes served with and without a trailing slash are documented once; the error
shape every API path answers with (`config.errors`) and the credentials it accepts (`config.auth`)."""

import copy

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from config.patches.spectacular_patterns import closed_serializer_schema


# The chat page's own JSON routes and sign-in pages: internal to the page, not a public API.
INTERNAL_PREFIXES = ("/ui/", "/accounts/")


def drop_slash_twins(endpoints, **kwargs):
    """Routes served with and without a trailing slash are documented once; internal ones not at all."""
    paths = {path for path, *_ in endpoints}
    return [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if not (path.endswith("/") and path.rstrip("/") in paths) and not path.startswith(INTERNAL_PREFIXES)
    ]


# What DRF's CharField refuses is said in request schemas by config.patches.spectacular_patterns
# (settings.REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS).


# Each path's dialect, by prefix (the first that matches): what a client of one product reads.
DIALECT_TAGS = (
    ("/api/v1/bi/", "BI sessions"),
    ("/api/agents", "Julep"), ("/api/users", "Julep"), ("/api/sessions", "Julep"),
    ("/api/v1/me", "Service"), ("/health", "Service"), ("/ok", "Service"), ("/heartbeat", "Service"), ("/engine/", "Service"),
    ("/api/v1/data-sources", "Data sources"),
    ("/api/", "Dataherald"),
    ("/assistants", "OpenGPTs"), ("/runs", "OpenGPTs"), ("/ingest", "OpenGPTs"),
    ("/threads/{thread_id}/state", "OpenGPTs"), ("/threads/{thread_id}/history", "OpenGPTs"),
    ("/threads", "PromptQL threads"),
)


def tag_by_dialect(result, generator, request, public):
    """drf-spectacular postprocessing hook: one tag per dialect instead of the first path segment."""
    for path, item in result.get("paths", {}).items():
        tag = next((tag for prefix, tag in DIALECT_TAGS if path.startswith(prefix)), None)
        for operation in item.values():
            if tag and isinstance(operation, dict) and "responses" in operation:
                operation["tags"] = [tag]
    return result


ERROR = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(help_text="what went wrong, naming the field for invalid input"),
        "code": serializers.CharField(help_text="machine-readable: invalid, not_found, conflict, ..."),
        "errors": serializers.DictField(required=False, help_text="invalid input only: the problems per field"),
    },
)

_DESCRIPTIONS = {
    400: "Invalid input",
    401: "Missing or invalid credentials",
    403: "Not allowed for this principal",
    404: "Not found (or not the caller's)",
    409: "The object's state does not allow this now",
    429: "Too many connection tests; retry after the seconds in Retry-After",
    502: "A storage backend failed",
    503: "The work could not be queued or the worker failed",
    504: "Still being worked on after the request's time limit",
}


def errors(*codes: int) -> dict:
    """`extend_schema(responses=...)` entries for error answers, each in the one error shape."""
    return {code: OpenApiResponse(ERROR, description=_DESCRIPTIONS[code]) for code in codes}


class QuerentAuthenticationScheme(OpenApiAuthenticationExtension):
    """`config.auth.QuerentAuthentication`: a bearer API key or JWT, or the API key in X-API-Key."""

    target_class = "config.auth.QuerentAuthentication"
    name = ["bearerAuth", "apiKeyAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "An API key (qk_...) or a JWT"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        ]

    def get_security_requirement(self, auto_schema):
        return [{"bearerAuth": []}, {"apiKeyAuth": []}]  # either one


# Serializers that refuse unknown fields with a 400 say so in the schema: `additionalProperties: false`.


def _closed(extension, auto_schema, direction):
    return closed_serializer_schema(auto_schema, extension.target, direction)


class PageSerializerScheme(OpenApiSerializerExtension):
    target_class = "threads.page_apis.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        # The chat page's views validate the whole body even on PATCH: what is required stays required.
        whole = copy.copy(self.target)
        whole.partial = False
        return closed_serializer_schema(auto_schema, whole, direction)


class JulepSerializerScheme(OpenApiSerializerExtension):
    target_class = "sessions.julep_serializers.ModeSerializer"
    match_subclasses = True
    map_serializer = _closed

    def get_name(self, auto_schema, direction):
        # A PUT requires more fields than a create: its own component (the views pass mode=PUT).
        if getattr(self.target, "mode", None) == "put":
            return type(self.target).__name__.removesuffix("Serializer") + "Replace"
        return None

    def get_identity(self, auto_schema, direction):
        return type(self.target), getattr(self.target, "mode", None)


class JulepSettingsScheme(OpenApiSerializerExtension):
    target_class = "sessions.julep_serializers.DefaultSettingsSerializer"
    map_serializer = _closed
