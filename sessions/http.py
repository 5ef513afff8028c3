"""Request plumbing shared by both dialects: long-running views, paging and filter parameters."""

import json

from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import ValidationError

from config.db import in_worker_thread
from config.fields import storable_json


def off_request_thread(view):
    """Serve a view that waits for a run on a pool thread of its own.

    Django runs sync views on one shared thread per process; a view that waits for the agent for
    seconds would stall every other sync view behind it. The connections the view opened are given
    back on the thread that opened them.
    """

    call = in_worker_thread(view)

    async def entry(request, *args, **kwargs):
        return await call(request, *args, **kwargs)

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
    except RecursionError:
        raise ValidationError({"metadata_filter": ["must be a JSON object: nested too deep"]}) from None
    if not isinstance(value, dict):
        raise ValidationError({"metadata_filter": ["must be a JSON object, e.g. {\"key\": \"value\"}"]})
    try:
        storable_json(value)  # it is compared with stored JSON: what cannot be stored cannot match
    except ValidationError as exc:
        raise ValidationError({"metadata_filter": exc.detail}) from None
    return value
