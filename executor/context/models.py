"""The context store of a data source: what makes generated SQL right for *this* database.

Instructions and golden SQLs are owned by a principal (the one who wrote them); a prompt for a
question uses the asker's own and those of the data source's owner (who curates its context for
everyone who may use it). Table descriptions and scans belong to the data source itself: read by
whoever may use it, changed by whoever may change it.

The questions asked of a data source and the SQL and answers written for them (prompts, SQL
generations, NL generations) are kept here too: they are the source's query history, and an
approved one becomes a golden SQL. Dataherald's current API is one view of these rows.
"""

import uuid

from django.db import models
from django.db.models import F

from config.identity import OwnedModel


class ContextState(models.Model):
    """One row per data source: a version bumped by every change to its context (each process's
    prompt cache compares it; one primary-key read), and the state of its latest scan."""

    class ScanStatus(models.TextChoices):
        NONE = "NONE"
        QUEUED = "QUEUED"
        RUNNING = "RUNNING"
        DONE = "DONE"
        FAILED = "FAILED"  # some tables failed; the rest were kept

    data_source = models.OneToOneField("executor.DataSource", on_delete=models.CASCADE, primary_key=True, related_name="context_state")
    version = models.PositiveBigIntegerField(default=0)
    scan_status = models.CharField(max_length=10, choices=ScanStatus.choices, default=ScanStatus.NONE)
    scan_tables_total = models.PositiveIntegerField(default=0)
    scan_tables_done = models.PositiveIntegerField(default=0)
    scan_tables_failed = models.PositiveIntegerField(default=0)
    scan_error = models.TextField(blank=True, default="")
    scan_started_at = models.DateTimeField(null=True, blank=True)
    scan_finished_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def bump(cls, data_source_id) -> None:
        """Mark the data source's context changed (every process rebuilds its cached index)."""
        if not cls.objects.filter(pk=data_source_id).update(version=F("version") + 1):
            cls.objects.get_or_create(data_source_id=data_source_id, defaults={"version": 1})


class Instruction(OwnedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    data_source = models.ForeignKey("executor.DataSource", on_delete=models.CASCADE, related_name="instructions")
    instruction = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["data_source", "created_at"])]

    def __str__(self) -> str:
        return self.instruction[:80]


class GoldenSql(OwnedModel):
    class Source(models.TextChoices):
        USER_UPLOAD = "USER_UPLOAD"
        VERIFIED_QUERY = "VERIFIED_QUERY"  # an approved answer, promoted

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    data_source = models.ForeignKey("executor.DataSource", on_delete=models.CASCADE, related_name="golden_sqls")
    prompt_text = models.TextField(verbose_name="question")
    sql = models.TextField(verbose_name="SQL")
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.USER_UPLOAD)
    metadata = models.JSONField(default=dict, blank=True)
    # The question's embedding, when an embeddings endpoint is configured (model named beside it).
    embedding = models.JSONField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "golden SQL"
        indexes = [models.Index(fields=["data_source", "created_at"])]

    def __str__(self) -> str:
        return self.prompt_text[:80]


class TableDescription(models.Model):
    """A table as the last scan saw it, with the descriptions people wrote (kept across scans)."""

    class Status(models.TextChoices):
        NOT_SYNCHRONIZED = "NOT_SYNCHRONIZED"
        SYNCHRONIZING = "SYNCHRONIZING"
        SYNCHRONIZED = "SYNCHRONIZED"
        DEPRECATED = "DEPRECATED"  # gone from the database at the last full scan
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    data_source = models.ForeignKey("executor.DataSource", on_delete=models.CASCADE, related_name="table_descriptions")
    schema_name = models.CharField(max_length=200, blank=True, default="")
    table_name = models.CharField(max_length=300)
    kind = models.CharField(max_length=30, blank=True, default="table")
    description = models.TextField(blank=True, default="")
    # [{name, data_type, description, is_primary_key, low_cardinality, categories, foreign_key}]
    columns = models.JSONField(default=list, blank=True)
    examples = models.JSONField(default=list, blank=True)  # a few sample rows
    row_count = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_SYNCHRONIZED)
    error_message = models.TextField(blank=True, default="")
    last_schema_sync = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["schema_name", "table_name"]
        constraints = [
            models.UniqueConstraint(fields=["data_source", "schema_name", "table_name"], name="executor_table_description_unique")
        ]

    def __str__(self) -> str:
        return f"{self.schema_name}.{self.table_name}" if self.schema_name else self.table_name


class Prompt(OwnedModel):
    """A question asked of a data source."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    data_source = models.ForeignKey("executor.DataSource", on_delete=models.CASCADE, related_name="prompts")
    text = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["tenant", "owner", "created_at"])]

    def __str__(self) -> str:
        return self.text[:80]


class SqlGeneration(models.Model):
    """SQL written (or given) for a prompt; visible exactly when its prompt is."""

    class Status(models.TextChoices):
        INITIALIZED = "INITIALIZED"
        VALID = "VALID"  # it ran, read-only
        INVALID = "INVALID"  # it failed, was refused as a write, or none could be written

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="sql_generations")
    sql = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.INITIALIZED)
    error = models.TextField(null=True, blank=True)
    confidence_score = models.FloatField(null=True, blank=True)
    tokens_used = models.PositiveIntegerField(default=0)
    cost_usd = models.FloatField(default=0.0)
    evaluate = models.BooleanField(default=False)
    low_latency_mode = models.BooleanField(default=False)
    finetuning_id = models.CharField(max_length=200, null=True, blank=True)  # accepted, recorded, not used
    intermediate_steps = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    verified = models.BooleanField(default=False)  # approved by a person (and promoted to a golden SQL)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["prompt", "created_at"])]

    def __str__(self) -> str:
        return f"{self.status} SQL for {self.prompt_id}"


class NlGeneration(models.Model):
    """A plain-language answer written from a SQL generation's result."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sql_generation = models.ForeignKey(SqlGeneration, on_delete=models.CASCADE, related_name="nl_generations")
    text = models.TextField(null=True, blank=True)
    max_rows = models.PositiveIntegerField(default=100)
    tokens_used = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return (self.text or "")[:80]
