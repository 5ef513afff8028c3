"""Request plumbing shared by both dialects: long-running views, paging and filter parameters."""

import json

from asgiref.sync import sync_to_async
from django.db import connections
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import ValidationError


def off_request_thread(view):
    """Serve a view that waits for a run on a pool thread of its own.

    Django runs sync views on one shared thread per process; a view that waits for the agent for
    seconds would stall every other sync view behind it. The connections the view opened are given
    back on the thread that opened them.
    """

    def call(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        finally:
            for connection in connections.all(initialized_only=True):
                connection.close()

    async def entry(request, *args, **kwargs):
        return await sync_to_async(call, thread_sensitive=False)(request, *args, **kwargs)

    # The API schema generator finds DRF views by these attributes.
    entry.cls, entry.initkwargs = view.cls, view.initkwargs
    return csrf_exempt(entry)


def metadata_filter(raw: str | None) -> dict:
    """Julep sends `metadata_filter` as a JSON object in a query string."""
    if raw in (None, ""):
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValidationError({"metadata_filter": [f"must be a JSON object: {exc}"]}) from None
    if not isinstance(value, dict):
        raise ValidationError({"metadata_filter": ["must be a JSON object, e.g. {\"key\": \"value\"}"]})
    return value
