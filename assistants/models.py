import hashlib
import secrets
import uuid

from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from config.identity import OwnedModel, OwnedQuerySet, Principal


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A bearer credential for one principal. Only a SHA-256 of the secret is stored."""

    PREFIX = "qk"

    class Role(models.TextChoices):
        MEMBER = "member", "member"
        ADMIN = "admin", "tenant admin"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    tenant = models.CharField(max_length=100, db_index=True)
    user_id = models.CharField(max_length=200)
    key_prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    can_act_for_any_tenant = models.BooleanField(
        default=False, help_text="service key: may pick the tenant per request with X-Tenant-ID"
    )
    role = models.CharField(
        max_length=10, choices=Role.choices, default=Role.MEMBER,
        help_text="tenant admin: may also create, change and delete the tenant's data sources",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.tenant}/{self.user_id}, {self.PREFIX}_{self.key_prefix}_…)"

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def issue(
        cls, *, name: str, tenant: str, user_id: str, can_act_for_any_tenant: bool = False, role: str = Role.MEMBER
    ) -> tuple["ApiKey", str]:
        """Create a key and return it with the plaintext token, which is shown once and never stored."""
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        key = cls.objects.create(
            name=name,
            tenant=tenant,
            user_id=user_id,
            key_prefix=prefix,
            key_hash=cls.hash_secret(secret),
            can_act_for_any_tenant=can_act_for_any_tenant,
            role=role,
        )
        return key, f"{cls.PREFIX}_{prefix}_{secret}"

    @classmethod
    def authenticate(cls, token: str) -> "ApiKey | None":
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != cls.PREFIX:
            return None
        key = cls.objects.active().filter(key_prefix=parts[1]).first()
        if key is None or not secrets.compare_digest(key.key_hash, cls.hash_secret(parts[2])):
            return None
        # Touch at most once a minute: a write per request would serialize hot clients.
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            cls.objects.filter(pk=key.pk).update(last_used_at=now)
        return key

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])

    def principal(self) -> Principal:
        return Principal(
            tenant=self.tenant,
            user_id=self.user_id,
            source="api_key",
            can_act_for_any_tenant=self.can_act_for_any_tenant,
            is_tenant_admin=self.role == self.Role.ADMIN,
        )


@receiver([post_save, post_delete], sender=ApiKey)
def _forget_resolved_keys(**kwargs) -> None:
    """A key revoked, deleted or changed stops working at once in this process (config.auth)."""
    from config.auth import forget_api_keys

    forget_api_keys()


class AssistantQuerySet(OwnedQuerySet):
    def readable_by(self, principal: Principal):
        """Own assistants plus public ones from the same tenant."""
        return self.filter(models.Q(tenant=principal.tenant) & (models.Q(owner=principal.user_id) | models.Q(public=True)))


class Assistant(OwnedModel):
    """An agent: instructions + model + tools over one data source. Also OpenGPTs' assistant and Julep's agent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    public = models.BooleanField(default=False)
    instructions = models.TextField(blank=True, help_text="system prompt")
    about = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True, help_text="empty = QUERENT_MODEL")
    # OpenGPTs' `type==agent/tools` as the client sent it; runs offer the tools it names that Querent
    # has (assistants.bots), so it is edited through the API only.
    tools = models.JSONField(default=list, blank=True, editable=False, help_text="as sent by OpenGPTs; an agent's selected tools")
    data_source = models.ForeignKey(
        "executor.DataSource", null=True, blank=True, on_delete=models.SET_NULL, related_name="assistants"
    )
    metadata = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="OpenGPTs config, kept verbatim")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AssistantQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The model must be one the operator allows (empty = the default): the admin's rule is the API's."""
        super().clean()
        from django.core.exceptions import ValidationError

        from .limits import LimitError, check_model

        try:
            check_model(self.model)
        except LimitError as exc:
            raise ValidationError({"model": exc.message}) from None


class DocumentQuerySet(OwnedQuerySet):
    def for_scopes(self, *, tenant: str, assistant_id=None, thread_id=None, end_user_id=None):
        """The documents a conversation may read: its assistant's, its thread's and its end user's,
        all within one tenant (a document is never read across tenants)."""
        scope = models.Q(pk__in=[])
        if assistant_id:
            scope |= models.Q(assistant_id=assistant_id)
        if thread_id:
            scope |= models.Q(thread_id=thread_id)
        if end_user_id:
            scope |= models.Q(end_user_id=end_user_id)
        return self.filter(scope, tenant=tenant)


class Document(OwnedModel):
    """An uploaded document, parsed and chunked for retrieval. It belongs to exactly one scope: an
    assistant (OpenGPTs assistant, Julep agent), a thread, or a Julep user. The thread and end user
    are plain ids because this app imports neither threads nor sessions; their apps delete a
    scope's documents with it."""

    class Kind(models.TextChoices):
        PDF = "pdf", "PDF"
        DOCX = "docx", "Word (DOCX)"
        HTML = "html", "HTML"
        MARKDOWN = "markdown", "Markdown"
        TEXT = "text", "plain text"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assistant = models.ForeignKey(Assistant, null=True, blank=True, on_delete=models.CASCADE, related_name="documents")
    thread_id = models.UUIDField(null=True, blank=True, db_index=True)
    end_user_id = models.UUIDField(null=True, blank=True, db_index=True)
    title = models.CharField(max_length=500)
    file_name = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    text_chars = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "owner", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                name="document_has_one_scope",
                condition=(
                    models.Q(assistant__isnull=False, thread_id__isnull=True, end_user_id__isnull=True)
                    | models.Q(assistant__isnull=True, thread_id__isnull=False, end_user_id__isnull=True)
                    | models.Q(assistant__isnull=True, thread_id__isnull=True, end_user_id__isnull=False)
                ),
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def scope(self) -> str:
        return "assistant" if self.assistant_id else "thread" if self.thread_id else "user"


class DocumentChunk(models.Model):
    """One passage of a document. `terms` (word stem -> count) and `length` (its words) feed the lexical ranking
    (assistants.retrieval); `embedding` is filled only when an embeddings endpoint is configured."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    text = models.TextField()
    terms = models.JSONField(default=dict)
    length = models.PositiveIntegerField(default=0)
    embedding = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["document", "index"]
        constraints = [models.UniqueConstraint(fields=["document", "index"], name="document_chunk_index_unique")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.index}"
