"""The API contract checks, shared by the dialects' contract modules: the documented request
constraints are the enforced ones (schemathesis' positive and negative data checks) and every answer
is as documented (status, content type, body schema, never a 5xx).

Each dialect's module takes its operations with `contract_schema(GROUP)`; the groups below are the
one list of what the contract covers, and the schema fuzzer (tests/config/test_api_schema_fuzz.py)
fuzzes every operation that no group covers yet. Requests go in-process through Django's WSGI
application as the `alice` fixture (tests/support/api_seeds.py), with about half of the path ids the
seeded objects'. Derandomized with a fixed seed: a failure reproduces on every run.
"""

import schemathesis
from django.core.wsgi import get_wsgi_application
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, negative_data_rejection, positive_data_acceptance, response_schema_conformance,
    status_code_conformance,
)

from tests.support.api_seeds import dataherald_body, flatmap_path_parameters

ANSWER_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CONTRACT_CHECKS = ANSWER_CHECKS + [positive_data_acceptance, negative_data_rejection]
MAX_EXAMPLES = 10  # per operation, positive and negative; the coverage phase is off to keep the run short

# name → which operations: schemathesis include/exclude filters, applied in order.
GROUPS = {
    # POST /threads is the PromptQL and the OpenGPTs thread create in one path: the OpenGPTs group has it.
    "core": [("include", {"tag": ["BI sessions", "Julep", "PromptQL threads", "Service"]}),
             ("exclude", {"path_regex": r"/docs"}), ("exclude", {"method": "POST", "path": "/threads"})],
    "opengpts": [("include", {"func": lambda ctx: "OpenGPTs" in (ctx.operation.tags or [])
                              or (ctx.operation.method.upper(), ctx.operation.path) == ("POST", "/threads")})],
    # The current API under /api/v1/ (the engine's mount) is the same views as under /api/ (the SDK's),
    # so each is checked once, under /api/; the fuzzer takes the twins. Kept under /api/v1/: seed 001's
    # own routes and the table descriptions, whose statuses the engine names differently. Finetunings
    # refuse every request by design (400: no models are trained), which no "valid data is accepted"
    # check can pass: the fuzzer checks them (never a 5xx, answers as documented).
    "dataherald": [("include", {"tag": "Dataherald"}),
                   ("exclude", {"path_regex": r"^/api/v1/(?!questions|responses|sql-query-executions|table-descriptions)"}),
                   ("exclude", {"path_regex": r"/finetunings"})],
    "julep_docs": [("include", {"tag": "Julep", "path_regex": r"/docs"})],
}


def _filtered(schema, group: str):
    for how, criteria in GROUPS[group]:
        schema = getattr(schema, how)(**criteria)
    return schema


def contract_schema(group: str):
    """The group's operations as a schemathesis schema of its own (its configuration and hooks are
    shared only by the schemas filtered from it)."""
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    schema.config.seed = 20241207
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none",
                                     with_security_parameters=False)
    schema.config.phases.coverage.enabled = False
    schema = _filtered(schema, group)
    # Body ids are left as generated (swapping one in would make a negative case valid), but for Dataherald
    # a schema-valid id is swapped for a seeded one: valid for valid (api_seeds.dataherald_body).
    schema.hook(flatmap_path_parameters)
    schema.hook(filter_body)
    schema.hook(filter_query)
    schema.hook("map_body")(dataherald_body)
    return schema


def without_contract_groups(schema):
    """`schema` less every operation some contract group covers (for the fuzzer)."""
    covered = set()
    for group in GROUPS:
        covered |= {(op.method.upper(), op.path) for op in _operations(_filtered(schema, group))}
    return schema.exclude(func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in covered)


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def _storable(value) -> bool:
    """What OpenAPI 3.0 cannot say of free-form JSON (metadata, filters): no NUL character and no
    unpaired surrogate in any key or string, which the server refuses (config.fields.storable_json)."""
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def filter_body(ctx, body):
    """Also: a Julep chat needs one message with role user (an array's `contains`, not in OpenAPI 3.0)."""
    if ctx.operation.path.endswith("/chat") and isinstance(body, dict) and isinstance(body.get("messages"), list):
        if not any(isinstance(m, dict) and m.get("role") == "user" for m in body["messages"]):
            return False
    return _storable(body)


def filter_query(ctx, query):
    return _storable(query)
