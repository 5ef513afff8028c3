"""drf-spectacular: request schemas say what DRF's CharField refuses (NUL characters, unpaired
surrogates, and a value that is blank once trimmed where blanks are not allowed), so a fuzzer or a
client generator sends what the server takes. Responses are not constrained: the request and
response components are split (SPECTACULAR_SETTINGS' COMPONENT_SPLIT_REQUEST).

Checked against drf-spectacular 0.30.0 (pinned in pyproject.toml; ``CHECKED_AGAINST`` below, which
tests/config/test_patches.py compares with what is installed). Gain: none (correctness of the API
schema: GET /api/schema/ and ``manage.py spectacular``). Used by settings.REST_FRAMEWORK's
DEFAULT_SCHEMA_CLASS. Tests: tests/config/test_patches.py (the patterns in a request component and
not in its response twin, and the hook where the override expects it).

Why no public route: the pattern depends on the field (its class, ``allow_blank`` and
``trim_whitespace``) and on the schema drf-spectacular would write for it (no ``format``, ``enum``
or ``pattern`` of its own). A postprocessing hook sees only the finished schema, which keeps neither
``trim_whitespace`` nor the class, and runs after drf-spectacular has already turned a blank-allowed
field into its two-branch form. ``OpenApiSerializerFieldExtension`` is public, but augmenting the
default schema from one needs the same private method (the extension's docstring says to call
``auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)``); that form
gives a byte-identical schema too, so it would only move the private name, not remove it.
``@extend_schema_field`` replaces a field's schema with a fixed one, losing each field's own
maxLength, minLength, default and description.

Patches, one per non-public thing used:

1. ``PatternsAutoSchema._map_serializer_field`` overrides
   ``drf_spectacular.openapi.AutoSchema._map_serializer_field`` (internal): it maps every serializer
   field, nested ones and list or dict children included, and ``_map_basic_serializer`` calls it
   before ``_insert_field_validators``, so the pattern set here wins over a RegexValidator's and a
   blank-allowed field then gets drf-spectacular's empty-string branch beside it. Breaks if: the
   method is renamed or changes its arguments, or field validators are applied before it; caught by
   test_request_strings_carry_what_charfield_refuses and
   test_the_hook_the_schema_patterns_override_is_where_it_expects_it.
2. ``default_serializer_schema`` calls ``AutoSchema._map_serializer(serializer, direction,
   bypass_extensions=True)`` (internal, the call drf-spectacular's own ``OpenApiSerializerExtension``
   docstring gives for building on the default schema): the project's serializer extensions add to
   it (config/schema.py's ``additionalProperties: false`` for the serializers that refuse unknown
   fields, through ``closed_serializer_schema``; responses/openapi.py's "one of two fields"). Breaks if: the
   method is renamed or changes its arguments; caught by
   test_the_hook_the_schema_patterns_override_is_where_it_expects_it and by
   tests/config/test_api_contract.py (negative cases with unknown fields must be refused).
"""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

# The versions this override was read against; tests/config/test_patches.py fails on any other.
CHECKED_AGAINST = {"drf-spectacular": "0.30.0"}

# DRF's CharField also refuses unpaired surrogates (a pair arrives as one character).
CHAR = r"[^\x00\ud800-\udfff]"
NOT_BLANK = rf"^{CHAR}*[^\x00\ud800-\udfff\s]{CHAR}*$"
NOT_EMPTY = rf"^{CHAR}+$"


def default_serializer_schema(auto_schema: AutoSchema, serializer, direction: str) -> dict:
    """drf-spectacular's own schema of `serializer`, as if no extension matched it (for extensions)."""
    return auto_schema._map_serializer(serializer, direction, bypass_extensions=True)


def closed_serializer_schema(auto_schema: AutoSchema, serializer, direction: str) -> dict:
    """drf-spectacular's own schema of `serializer`, saying that no other field is accepted."""
    return {**default_serializer_schema(auto_schema, serializer, direction), "additionalProperties": False}


class PatternsAutoSchema(AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, serializers.CharField) and isinstance(schema, dict) \
                and schema.get("type") == "string" and not {"format", "enum", "pattern"} & set(schema):
            # A blank-allowed field: drf-spectacular adds the empty string as a branch of its own.
            schema["pattern"] = NOT_BLANK if field.trim_whitespace and not field.allow_blank else NOT_EMPTY
        return schema
