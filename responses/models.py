"""Dataherald's question and response (seed 001), over the engine's data sources.

A question belongs to its asker (OwnedModel); a response belongs to its question and is visible
exactly when the question is. A response row is written once, complete, by the worker.
"""

import uuid

from django.db import models

from config.identity import OwnedModel, Principal


class Question(OwnedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    question = models.TextField()
    db_connection = models.ForeignKey("executor.DataSource", on_delete=models.CASCADE, related_name="questions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "owner", "-created_at"])]

    def __str__(self) -> str:
        return self.question[:80]


class ResponseQuerySet(models.QuerySet):
    def visible_to(self, principal: Principal):
        return self.filter(question__tenant=principal.tenant, question__owner=principal.user_id)


class Response(models.Model):
    class Status(models.TextChoices):
        NONE = "NONE"  # no SQL was produced (no model, or the model gave none)
        VALID = "VALID"  # the SQL ran
        INVALID = "INVALID"  # the SQL failed, or was refused as a write

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="responses")
    response = models.TextField(null=True, blank=True)
    intermediate_steps = models.JSONField(default=list, blank=True)
    sql_query = models.TextField(null=True, blank=True)
    sql_query_result = models.JSONField(null=True, blank=True)  # {columns, rows}; null when a CSV holds it
    csv_file_path = models.CharField(max_length=1024, null=True, blank=True)
    sql_generation_status = models.CharField(max_length=10, choices=Status.choices, default=Status.NONE)
    error_message = models.TextField(null=True, blank=True)
    exec_time = models.FloatField(null=True, blank=True)  # seconds
    total_tokens = models.PositiveIntegerField(default=0)
    total_cost = models.FloatField(default=0.0)  # USD
    confidence_score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ResponseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["question", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.sql_generation_status} response to {self.question_id}"
