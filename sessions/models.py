"""Sessions: a conversation between an agent and an end user, over one engine thread.

Two dialects share the model: BI chat sessions (seed 003), which also keep the last query's result
so it can be refined and re-charted without a new run, and Julep sessions (seed 004). Each dialect
only ever sees its own rows (`dialect`).
"""

import uuid

from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from config.identity import OwnedModel, OwnedQuerySet, Principal

# The most result rows a session keeps for re-rendering; the response carries the same rows.
MAX_STORED_ROWS = 1000


class EndUser(OwnedModel):
    """Julep's *user*: the person an agent talks to, owned by the API principal that created it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, blank=True)
    about = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "end user"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "owner", "-created_at"])]

    def __str__(self) -> str:
        return self.name or str(self.id)


class SessionQuerySet(OwnedQuerySet):
    def bi_in_tenant(self, principal: Principal):
        """BI sessions belong to the tenant: any principal acting for it sees them, nobody else does."""
        return self.filter(dialect=Session.Dialect.BI, tenant=principal.tenant)

    def julep_visible_to(self, principal: Principal):
        return self.visible_to(principal).filter(dialect=Session.Dialect.JULEP)


class Session(OwnedModel):
    class Dialect(models.TextChoices):
        BI = "bi", "BI chat"
        JULEP = "julep", "Julep"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dialect = models.CharField(max_length=10, choices=Dialect.choices, db_index=True)
    agent = models.ForeignKey("assistants.Assistant", on_delete=models.CASCADE, related_name="chat_sessions")
    end_user = models.ForeignKey(EndUser, null=True, blank=True, on_delete=models.CASCADE, related_name="sessions")
    # BI's `user_id`: the client application's own id for its end user (free text, not an EndUser).
    external_user_id = models.CharField(max_length=200, blank=True, db_index=True)
    situation = models.TextField(blank=True)
    summary = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    render_templates = models.BooleanField(default=False)
    token_budget = models.PositiveIntegerField(null=True, blank=True)
    context_overflow = models.CharField(max_length=20, null=True, blank=True)
    # The conversation itself: messages, runs and events live on the engine's thread.
    thread = models.OneToOneField("threads.Thread", on_delete=models.CASCADE, related_name="chat_session")
    # BI context: the last query and its (bounded) result, and how it is charted.
    last_sql = models.TextField(blank=True)
    last_columns = models.JSONField(default=list, blank=True)
    last_rows = models.JSONField(default=list, blank=True)
    last_row_count = models.PositiveIntegerField(default=0)
    last_truncated = models.BooleanField(default=False)
    visualization = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["dialect", "tenant", "-created_at"]),
            models.Index(fields=["dialect", "tenant", "owner", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_dialect_display()} session {self.id}"

    @property
    def has_result(self) -> bool:
        return bool(self.last_sql)


@receiver(post_delete, sender=EndUser)
def _delete_end_user_documents(sender, instance, **kwargs) -> None:
    """A Julep user's docs go with the user (assistants.Document keeps a plain end user id)."""
    from assistants.models import Document

    Document.objects.filter(end_user_id=instance.pk).delete()
