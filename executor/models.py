"""A user's own database, as Querent knows it: where it is, which engine, what may change it."""

import hashlib
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from config.identity import OwnedModel, OwnedQuerySet, Principal

from .boundary import MARKER_TABLE, Refused, check_mysql_url, check_postgres_url, duckdb_path, sqlite_file
from .dsn import engine_from_url, mask_url

SUPPORTED_ENGINES = ("postgresql", "sqlite", "mysql", "duckdb")


def usable_q(principal: Principal) -> Q:
    """The one rule for using a data source: its own, tenant-wide in its tenant, or shared (with
    every tenant, read-only: the demo). `DataSource.is_usable_by` is the same rule on a loaded row."""
    return Q(tenant=principal.tenant, owner=principal.user_id) | Q(tenant=principal.tenant, tenant_wide=True) | Q(shared=True)


class DataSourceQuerySet(OwnedQuerySet):
    def usable_by(self, principal: Principal):
        """Sources the principal may query (usable_q)."""
        return self.filter(usable_q(principal))

    def default_for(self, principal: Principal):
        """The source a new assistant starts on: the tenant's own writable copy of the demo (made on
        first use when the demo is an SQLite file, executor.demo), else a shared one (the demo),
        else the oldest the principal may use."""
        from .demo import tenant_demo_copy

        return tenant_demo_copy(principal.tenant) or self.usable_by(principal).order_by("-shared", "created_at").first()


def validate_actions(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError("actions must be a list of function or procedure names")


class DataSource(OwnedModel):
    class Engine(models.TextChoices):
        POSTGRESQL = "postgresql", "PostgreSQL"
        SQLITE = "sqlite", "SQLite"
        MYSQL = "mysql", "MySQL / MariaDB"
        DUCKDB = "duckdb", "DuckDB"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    engine = models.CharField(
        max_length=20,
        choices=Engine.choices,
        error_messages={
            "invalid_choice": "Unsupported engine %(value)r; supported engines: " + ", ".join(SUPPORTED_ENGINES) + "."
        },
    )
    # A secret: never rendered by __str__/__repr__, APIs or logs; the admin shows `masked_url`.
    connection_url = models.TextField(verbose_name="connection URL")
    actions = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_actions],
        help_text="Declared functions/procedures that change data; calling one always needs confirmation.",
    )
    row_limit = models.PositiveIntegerField(
        default=10_000, validators=[MinValueValidator(1), MaxValueValidator(1_000_000)], help_text="Most rows a read returns."
    )
    statement_timeout_s = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(3600)], help_text="Per-statement time limit, seconds."
    )
    shared = models.BooleanField(
        default=False,
        help_text="Usable by every tenant, and read-only for all of them (the demo). Set by the operator only "
        "(this admin, management commands), never through an API.",
    )
    tenant_wide = models.BooleanField(
        default=False, help_text="Usable by every principal of its tenant, not only its owner. Tenant admins set it."
    )
    metadata = models.JSONField(default=dict, blank=True)
    # Introspection cache, keyed by `connection_fingerprint` so a changed URL never serves a stale schema.
    schema_cache = models.JSONField(default=dict, blank=True, editable=False)
    schema_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    schema_refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DataSourceQuerySet.as_manager()

    class Meta:
        ordering = ["name", "created_at"]
        indexes = [models.Index(fields=["tenant", "owner", "created_at"]), models.Index(fields=["shared"])]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<DataSource {self.id} {self.name!r} ({self.engine})>"

    def is_usable_by(self, principal: Principal) -> bool:
        """usable_q for this row as loaded: own, tenant-wide in the principal's tenant, or shared."""
        if self.shared:
            return True
        return self.tenant == principal.tenant and (self.owner == principal.user_id or self.tenant_wide)

    @property
    def masked_url(self) -> str:
        return mask_url(self.connection_url)

    @property
    def connection_fingerprint(self) -> str:
        return hashlib.sha256(f"{self.engine}\0{self.connection_url}".encode()).hexdigest()

    @property
    def dialect(self) -> str:
        return {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql", "duckdb": "duckdb"}[self.engine]

    def clean(self) -> None:
        super().clean()
        if isinstance(self.actions, list) and all(isinstance(a, str) for a in self.actions):
            self.actions = sorted({a.strip() for a in self.actions if a.strip()})
        if not self.connection_url:
            return
        url_engine = engine_from_url(self.connection_url)
        if url_engine is None:
            raise ValidationError(
                {"connection_url": "Unsupported connection URL; use postgresql://..., mysql://..., sqlite:///path "
                                   "or duckdb:///path."}
            )
        if self.engine and self.engine in SUPPORTED_ENGINES and url_engine != self.engine:
            raise ValidationError({"connection_url": f"A {self.engine} data source needs a {self.engine} URL."})
        # Where it may lead is checked again at every connection (addresses change, files move).
        try:
            if url_engine == "postgresql":
                check_postgres_url(self.connection_url)
            elif url_engine == "mysql":
                check_mysql_url(self.connection_url)
            elif url_engine == "duckdb":
                duckdb_path(self.connection_url)
            else:
                sqlite_file(self.connection_url)
        except Refused as exc:
            raise ValidationError({"connection_url": exc.message}) from None

    def store_schema(self, schema: dict, refreshed_at) -> None:
        """Keep an introspection result; `update()` so the cache never bumps `updated_at`."""
        fingerprint = self.connection_fingerprint
        type(self).objects.filter(pk=self.pk).update(
            schema_cache=schema, schema_fingerprint=fingerprint, schema_refreshed_at=refreshed_at
        )
        self.schema_cache, self.schema_fingerprint, self.schema_refreshed_at = schema, fingerprint, refreshed_at


class Deployment(models.Model):
    """This deployment's identity row. The table's presence marks a database as Querent's own:
    a data source that reaches one (ours or another deployment's, however its URL was spelt) is
    refused after connecting (executor.boundary)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = MARKER_TABLE


# The context store's models live in their own module; imported here so Django registers them.
from .context.models import (  # noqa: E402,F401
    ContextState, GoldenSql, Instruction, NlGeneration, Prompt, SqlGeneration, TableDescription,
)
