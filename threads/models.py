"""The run engine's state. The event log (RunEvent) is the source of truth for every stream."""

import json
import uuid

from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from config.identity import OwnedModel, OwnedQuerySet


class Thread(OwnedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assistant = models.ForeignKey("assistants.Assistant", null=True, blank=True, on_delete=models.SET_NULL, related_name="threads")
    name = models.CharField(max_length=300, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Last event seq handed out; bumped under a row lock so seqs are gap-free and monotonic per thread.
    last_seq = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        # A principal's thread list. On PostgreSQL the id also has a hash index (migration 0003;
        # not declared here, SQLite has none), so that a lookup by id for a principal (`id = %s
        # AND tenant = %s AND owner = %s`) reads that one row on a table never analyzed, rather
        # than, in a tie of estimates, every thread of the principal through this index.
        indexes = [models.Index(fields=["tenant", "owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.name or str(self.id)


class Message(models.Model):
    class Role(models.TextChoices):
        HUMAN = "human"
        AI = "ai"
        TOOL = "tool"
        SYSTEM = "system"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True, default="")
    # ai: [{"id", "name", "args"}]; tool: tool_call_id + name
    tool_calls = models.JSONField(default=list, blank=True)
    tool_call_id = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["thread", "seq"]
        constraints = [models.UniqueConstraint(fields=["thread", "seq"], name="message_seq_unique_per_thread")]


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        REQUIRES_ACTION = "requires_action"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.REQUIRES_ACTION)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    usage = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="per-run overrides (model, max_steps, ...)")
    # Who asked for the run, when not the thread's owner: a tenant-mate posting to a tenant-wide BI
    # session. The run uses data sources as this principal (in the thread's tenant) may.
    started_by = models.CharField(max_length=200, blank=True, help_text="user id of who asked, when not the thread's owner")
    # A staff member's test run from the admin: the operator may use any data source.
    started_by_operator = models.BooleanField(default=False)
    steps = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"]),
            # The busy check (a thread's runs in progress): only runs in progress are in it, so
            # it reads the thread's entries, never the other runs in progress on the install.
            models.Index(fields=["thread"], condition=models.Q(status__in=("queued", "running", "requires_action")),
                         name="run_in_progress_by_thread"),
        ]

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class RunEvent(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="events")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=40)
    # JSON text, not jsonb: jsonb reorders object keys, and a result row's keys are its columns in
    # the order the query returned them. Read and written through `data`.
    payload = models.TextField(default="{}")
    # The Message this event builds (deltas and the final message share it), kept out of `data`
    # so each dialect's payload stays exactly its own shape.
    message_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["thread", "seq"]
        constraints = [models.UniqueConstraint(fields=["thread", "seq"], name="event_seq_unique_per_thread")]

    @property
    def data(self):
        cached = self.__dict__.get("_data")
        if cached is None:
            cached = self.__dict__["_data"] = json.loads(self.payload)
        return cached

    @data.setter
    def data(self, value) -> None:
        self.__dict__["_data"] = value
        self.payload = json.dumps(value, default=str, ensure_ascii=False)

    def as_dict(self) -> dict:
        return {
            "seq": self.seq,
            "type": self.type,
            "data": self.data,
            "run_id": str(self.run_id) if self.run_id else None,
            "message_id": str(self.message_id) if self.message_id else None,
        }

    def wire(self) -> dict:
        """The event as a wake-up message carries it: the stored payload text, not the live dict,
        so a follower builds exactly what a read of the row would give (see from_wire)."""
        return {"seq": self.seq, "type": self.type, "payload": self.payload,
                "run_id": str(self.run_id) if self.run_id else None,
                "message_id": str(self.message_id) if self.message_id else None}

    @staticmethod
    def from_wire(wire: dict) -> dict:
        """as_dict() of the row that `wire` was made from."""
        return {"seq": wire["seq"], "type": wire["type"], "data": json.loads(wire["payload"]),
                "run_id": wire["run_id"], "message_id": wire["message_id"]}


class Confirmation(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        APPROVED = "APPROVED"
        DENIED = "DENIED"
        TIMED_OUT = "TIMED_OUT"
        CANCELLED = "CANCELLED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="confirmations")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="confirmations")
    tool_call_id = models.CharField(max_length=200, blank=True)
    message = models.TextField(help_text="the exact SQL that will run if approved")
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    decided_by = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    # Set when the approved statement ran: an approval is spent once, so a retried run must ask again.
    executed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.status}: {self.message[:80]}"

    def approves(self, sql: str) -> bool:
        """The SQL guard's approval protocol: this exact statement, approved, not yet used."""
        return self.status == self.Status.APPROVED and self.executed_at is None and self.message == sql


class Artifact(models.Model):
    class Type(models.TextChoices):
        TABLE = "table"
        TEXT = "text"
        CHART = "chart"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="artifacts")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="artifacts")
    identifier = models.CharField(max_length=200)
    title = models.CharField(max_length=500, blank=True)
    artifact_type = models.CharField(max_length=10, choices=Type.choices)
    data = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["thread", "identifier"]
        constraints = [models.UniqueConstraint(fields=["thread", "identifier"], name="artifact_identifier_unique_per_thread")]

    def as_dict(self) -> dict:
        return {"identifier": self.identifier, "title": self.title, "artifact_type": self.artifact_type, "data": self.data}


class Feedback(OwnedModel):
    """A person's rating of a run (OpenGPTs' thumbs up/down: `POST /runs/feedback`), owned by
    whoever gave it; shown in the admin and counted in /metrics."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="feedback")
    key = models.CharField(max_length=200, help_text="the metric or aspect, e.g. user_score")
    score = models.FloatField(null=True, blank=True, help_text="a boolean score is stored as 1 or 0")
    value = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "feedback"

    def __str__(self) -> str:
        return f"{self.key}={self.score if self.score is not None else self.value} on {self.run_id}"


@receiver(post_delete, sender=Thread)
def _delete_thread_documents(sender, instance, **kwargs) -> None:
    """A thread's uploaded documents go with it (assistants.Document keeps a plain thread id)."""
    from assistants.models import Document

    Document.objects.filter(thread_id=instance.pk).delete()
