"""Writes to the context store. Every change bumps the data source's context version in the same
transaction, so no process keeps prompting from an index that no longer matches the rows."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from config.identity import Principal

from ..sql_guard import classify
from . import embeddings
from .models import ContextState, GoldenSql, Instruction, SqlGeneration, TableDescription

DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql", "duckdb": "duckdb"}
MAX_GOLDEN_SQL_CHARS = 20_000
MAX_QUESTION_CHARS = 4_000


class InvalidGoldenSql(ValidationError):
    """A golden SQL that is not one read-only query in the data source's dialect (a 400 naming it)."""


def check_read_query(data_source, sql: str, *, field: str = "sql") -> str:
    """The SQL, stripped, if the SQL guard classifies it as a read in the source's own dialect;
    otherwise a ValidationError saying what is wrong with it (a write, or not understood)."""
    sql = (sql or "").strip().rstrip(";").strip()
    if not sql:
        raise InvalidGoldenSql({field: ["is empty: a golden SQL needs the query that answers its question."]})
    if len(sql) > MAX_GOLDEN_SQL_CHARS:
        raise InvalidGoldenSql({field: [f"is longer than {MAX_GOLDEN_SQL_CHARS} characters."]})
    verdict = classify(sql, dialect=DIALECTS.get(data_source.engine, data_source.engine), actions=data_source.actions or ())
    if verdict.kind == "write":
        raise InvalidGoldenSql({field: [f"is not a read-only query ({verdict.reason}); a golden SQL must only read data."]})
    if not verdict.is_read:
        raise InvalidGoldenSql({field: [f"is not valid {data_source.get_engine_display()} SQL: {verdict.reason}."]})
    return sql


def _question(text: str, field: str = "prompt_text") -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({field: ["is empty."]})
    if len(text) > MAX_QUESTION_CHARS:
        raise ValidationError({field: [f"is longer than {MAX_QUESTION_CHARS} characters."]})
    return text


# --- golden SQLs ----------------------------------------------------------------------------


def golden_sqls_add(principal: Principal, entries: list[dict]) -> list[GoldenSql]:
    """Store several golden SQLs at once ({data_source, prompt_text, sql, metadata}): all valid, or
    none stored (the error names the entry). Embedded in one call when an endpoint is configured."""
    built = []
    for position, entry in enumerate(entries):
        try:
            sql = check_read_query(entry["data_source"], entry["sql"])
            prompt_text = _question(entry["prompt_text"])
        except ValidationError as exc:
            prefix = f"entry {position + 1}: " if len(entries) > 1 else ""
            raise InvalidGoldenSql({k: [prefix + m for m in v] for k, v in exc.message_dict.items()}) from None
        item = GoldenSql(
            data_source=entry["data_source"], prompt_text=prompt_text, sql=sql, metadata=entry.get("metadata") or {},
            source=entry.get("source") or GoldenSql.Source.USER_UPLOAD,
        )
        item.assign_owner(principal)
        built.append(item)
    vectors = embeddings.embed([item.prompt_text for item in built])
    if vectors:
        for item, vector in zip(built, vectors):
            item.embedding, item.embedding_model = vector, embeddings.model()
    with transaction.atomic():
        GoldenSql.objects.bulk_create(built)
        for source_id in {item.data_source_id for item in built}:
            ContextState.bump(source_id)
    return built


def golden_sql_update(item: GoldenSql, *, prompt_text: str | None = None, sql: str | None = None, metadata: dict | None = None) -> GoldenSql:
    if sql is not None:
        item.sql = check_read_query(item.data_source, sql)
    if prompt_text is not None:
        item.prompt_text = _question(prompt_text)
        vectors = embeddings.embed([item.prompt_text])
        item.embedding, item.embedding_model = (vectors[0], embeddings.model()) if vectors else (None, "")
    if metadata is not None:
        item.metadata = metadata
    with transaction.atomic():
        item.save()
        ContextState.bump(item.data_source_id)
    return item


def golden_sql_delete(item: GoldenSql) -> None:
    with transaction.atomic():
        item.delete()
        ContextState.bump(item.data_source_id)


def promote(principal: Principal, generation: SqlGeneration) -> GoldenSql:
    """An approved answer becomes a golden SQL (once: promoting it again returns the same one)."""
    prompt = generation.prompt
    existing = GoldenSql.objects.filter(
        data_source_id=prompt.data_source_id, tenant=principal.tenant, owner=principal.user_id, metadata__sql_generation_id=str(generation.pk)
    ).first()
    if existing is not None:
        return existing
    [item] = golden_sqls_add(principal, [{
        "data_source": prompt.data_source, "prompt_text": prompt.text, "sql": generation.sql or "",
        "source": GoldenSql.Source.VERIFIED_QUERY, "metadata": {"sql_generation_id": str(generation.pk), "prompt_id": str(prompt.pk)},
    }])
    SqlGeneration.objects.filter(pk=generation.pk).update(verified=True)
    generation.verified = True
    return item


# --- instructions ---------------------------------------------------------------------------


def instruction_create(principal: Principal, data_source, *, instruction: str, metadata: dict | None = None) -> Instruction:
    item = Instruction(data_source=data_source, instruction=_question(instruction, "instruction"), metadata=metadata or {})
    item.assign_owner(principal)
    with transaction.atomic():
        item.save()
        ContextState.bump(data_source.pk)
    return item


def instruction_update(item: Instruction, *, instruction: str | None = None, metadata: dict | None = None, data_source=None) -> Instruction:
    old_source = item.data_source_id
    if instruction is not None:
        item.instruction = _question(instruction, "instruction")
    if metadata is not None:
        item.metadata = metadata
    if data_source is not None:
        item.data_source = data_source
    with transaction.atomic():
        item.save()
        ContextState.bump(old_source)
        if item.data_source_id != old_source:
            ContextState.bump(item.data_source_id)
    return item


def instruction_delete(item: Instruction) -> None:
    with transaction.atomic():
        item.delete()
        ContextState.bump(item.data_source_id)


# --- table descriptions ---------------------------------------------------------------------

_COLUMN_NOTES = ("description", "categories", "low_cardinality")


def table_description_update(item: TableDescription, *, description: str | None = None, columns: list | None = None,
                             examples: list | None = None, metadata: dict | None = None) -> TableDescription:
    """What people write about a table: its description, its columns' descriptions (and categories);
    a column the table does not have is a 400, not a silent no-op."""
    if description is not None:
        item.description = description.strip()
    if columns is not None:
        known = {c["name"]: c for c in item.columns}
        unknown = [c.get("name") for c in columns if c.get("name") not in known]
        if unknown:
            raise ValidationError({"columns": [f"{item.table_name} has no column {', '.join(map(repr, unknown))}."]})
        for column in columns:
            for key in _COLUMN_NOTES:
                if key in column:
                    known[column["name"]][key] = column[key]
    if examples is not None:
        item.examples = examples
    if metadata is not None:
        item.metadata = metadata
    with transaction.atomic():
        item.save()
        ContextState.bump(item.data_source_id)
    return item


def scan_queued(data_source, table_names: list[str] | None) -> None:
    """Mark the tables about to be scanned (known ones SYNCHRONIZING) and the scan QUEUED."""
    with transaction.atomic():
        state, _ = ContextState.objects.select_for_update().get_or_create(data_source=data_source)
        state.scan_status, state.scan_error = ContextState.ScanStatus.QUEUED, ""
        state.scan_started_at, state.scan_finished_at = timezone.now(), None
        state.scan_tables_done = state.scan_tables_failed = 0
        state.save()
        rows = TableDescription.objects.filter(data_source=data_source)
        if table_names:
            rows = rows.filter(table_name__in=table_names)
        rows.update(status=TableDescription.Status.SYNCHRONIZING)
