"""Request plumbing shared by both dialects: routes and filter parameters."""

import json

from django.urls import path
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from config.fields import storable_json


def both(route: str, view, name: str | None = None):
    """The route with and without a trailing slash, one view: nothing redirects (APPEND_SLASH is off).

    Views that wait for a run (a BI message, a Julep chat) are plain sync DRF views: Django's ASGI
    handler runs each request's sync code on a thread of that request's own (asgiref's
    ThreadSensitiveContext), so a view that waits for the agent for seconds holds up no other
    request, and request_finished gives its database connections back on that thread.
    """
    return [path(route, view, name=name), path(route + "/", view)]


def metadata_filter(raw: str | None) -> dict:
    """Julep sends `metadata_filter` as a JSON object in a query string."""
    if raw in (None, ""):
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValidationError({"metadata_filter": [f"must be a JSON object: {exc}"]}) from None
    except RecursionError:
        raise ValidationError({"metadata_filter": ["must be a JSON object: nested too deep"]}) from None
    if not isinstance(value, dict):
        raise ValidationError({"metadata_filter": ["must be a JSON object, e.g. {\"key\": \"value\"}"]})
    try:
        storable_json(value)  # it is compared with stored JSON: what cannot be stored cannot match
    except ValidationError as exc:
        raise ValidationError({"metadata_filter": exc.detail}) from None
    return value


class QuerySerializer(serializers.Serializer):
    """Query parameters: one given empty (`?sort_by=`) is refused, not taken as absent (DRF's rule
    for form input), so what the schema says of a parameter is what the server does."""

    def to_internal_value(self, data):
        blank = [name for name, field in self.fields.items()
                 if hasattr(data, "get") and data.get(name) == "" and not getattr(field, "allow_blank", False)]
        if blank:
            raise ValidationError({name: ["may not be blank; leave the parameter out instead"] for name in blank})
        return super().to_internal_value(data)
