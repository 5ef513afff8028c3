import math

from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

# The largest integer a database column here takes (PostgreSQL's `integer`); also the bound on
# paging offsets, which the database adds to the limit as a bigint ("bigint out of range" otherwise).
MAX_INT = 2**31 - 1
# JSON nested deeper than this is refused: Python's json module recurses once per level (about 1000
# levels crash it), and no request here needs more.
MAX_JSON_DEPTH = 100
_no_surrogates = ProhibitSurrogateCharactersValidator()


class StrictBooleanField(serializers.BooleanField):
    """Only JSON true/false: "yes" or 1 for a yes/no decision is more likely a bug than intent."""

    default_error_messages = {"invalid": "Must be a JSON boolean (true or false)."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid")


class StrictCharField(serializers.CharField):
    """Only JSON strings: DRF's CharField would turn 5 into "5"."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def storable_json(value):
    """JSON the database can keep, in keys as in values: no NUL characters (PostgreSQL's jsonb and
    text refuse them), no unpaired surrogates (not encodable as UTF-8), no number too large for a
    float (1e400 parses as infinity, which JSON cannot hold) and no nesting deeper than
    MAX_JSON_DEPTH (encoding it again recurses per level). DRF's CharField checks the first two for
    plain strings; dict and JSON fields check nothing."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise serializers.ValidationError(f"Nested deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(item, str):
            if "\x00" in item:
                raise serializers.ValidationError("Null characters are not allowed.")
            _no_surrogates(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise serializers.ValidationError("Numbers must be finite (this one is too large).")
        elif isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)
