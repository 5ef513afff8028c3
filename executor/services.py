"""Running SQL against a data source, and creating or changing data sources.

`run_sql` is the only door to a user's database: it classifies first, runs reads read-only and
capped, and runs anything else only with an approval for that exact text (the engine passes its
APPROVED Confirmation; the executor never learns what a confirmation is).
"""

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import islice

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError

from config.identity import Principal

from .connections import RawResult, execute_write, open_read, ping
from .dsn import engine_from_url, redact
from .errors import NeedsConfirmation, ReadOnlySource, SqlError, TenantAdminRequired, TooManyConnectionTests
from .models import DataSource
from .sql_guard import Classification
from .sql_guard import classify as _classify
from .values import json_safe, unique_columns

log = logging.getLogger(__name__)

__all__ = [
    "NeedsConfirmation", "SqlError", "ReadOnlySource", "TooManyConnectionTests", "SqlResult", "Classification", "classify", "classify_for", "run_sql",
    "read_stream", "test_connection", "data_source_create", "data_source_update", "data_source_delete",
    "require_tenant_admin", "check_may_change", "OPERATOR_ONLY",
]


@dataclass
class SqlResult:
    columns: list[str]
    rows: list[dict]  # JSON-safe values, keyed by `columns`
    truncated: bool  # more rows existed than the data source's row_limit
    rowcount: int  # rows returned; for a write without result rows, rows affected

    def as_dict(self) -> dict:
        return asdict(self)


def classify(sql: str, *, dialect: str, actions: list[str] | tuple[str, ...] = ()) -> Classification:
    return _classify(sql, dialect=dialect, actions=actions)


def classify_for(data_source: DataSource, sql: str) -> Classification:
    return _classify(sql, dialect=data_source.engine, actions=data_source.actions or ())


def read_only_refusal(data_source: DataSource, reason: str) -> ReadOnlySource:
    """The error for a write on a source shared with every tenant: it is read-only for all of them."""
    what = "The shared demo database is read-only" if (data_source.metadata or {}).get("demo") else (
        f"The shared data source '{data_source.name}' is read-only"
    )
    return ReadOnlySource(
        f"{what}: it is shared with every tenant, so this statement was not run and nothing was changed "
        f"({reason}). Changes can be tried on your tenant's own copy of the demo or on your own data source."
    )


def run_sql(data_source: DataSource, sql: str, *, approval=None) -> SqlResult:
    """Run `sql`. Reads run read-only; anything else raises NeedsConfirmation unless
    `approval.approves(sql)` is True, and then runs in a write transaction. On a shared source
    (every tenant's, read-only) anything but a read raises ReadOnlySource, approved or not."""
    if not sql or not sql.strip():
        raise SqlError("no SQL statement to run")
    classification = classify_for(data_source, sql)
    approved = approval is not None and bool(approval.approves(sql))
    if data_source.shared and (approved or not classification.is_read):
        # Before anyone is asked, and the last line before an approved write: never on a shared source.
        raise read_only_refusal(data_source, classification.reason if not classification.is_read else "a write")
    if data_source.shared:
        try:
            return _read(data_source, sql, classification)
        except NeedsConfirmation as refused:  # a "read" the database refused in read-only mode
            raise read_only_refusal(data_source, refused.reason) from None
    if approved:
        # The human approved this exact text; it may be a "read" the database refused read-only.
        raw = execute_write(data_source, sql, data_source.row_limit)
        log.info(
            "approved statement executed",
            extra={"data_source": str(data_source.id), "reason": classification.reason, "rowcount": raw.rowcount},
        )
        return _to_result(raw)
    if not classification.is_read:
        raise NeedsConfirmation(sql, classification.reason)
    return _read(data_source, sql, classification)


def _read(data_source: DataSource, sql: str, classification: Classification) -> SqlResult:
    limit = data_source.row_limit
    with open_read(data_source, sql, classification.statements) as (columns, rows):
        taken = list(islice(rows, limit + 1))
    return _to_result(RawResult(columns, taken[:limit], len(taken) > limit, min(len(taken), limit)))


@contextmanager
def read_stream(data_source: DataSource, sql: str, *, max_rows: int | None = None) -> Iterator[tuple[list[str], Iterator[dict]]]:
    """(columns, rows) for a read, streamed without holding every row (CSV exports). Writes raise
    NeedsConfirmation: exports never change data."""
    classification = classify_for(data_source, sql)
    if not classification.is_read:
        raise NeedsConfirmation(sql, classification.reason)
    with open_read(data_source, sql, classification.statements) as (columns, rows):
        names = unique_columns(columns)
        limited = rows if max_rows is None else islice(rows, max_rows)
        yield names, ({n: json_safe(v) for n, v in zip(names, row)} for row in limited)


def _to_result(raw: RawResult) -> SqlResult:
    names = unique_columns(raw.columns)
    rows = [{n: json_safe(v) for n, v in zip(names, row)} for row in raw.rows]
    return SqlResult(columns=names, rows=rows, truncated=raw.truncated, rowcount=raw.rowcount)


def test_connection(data_source: DataSource, *, principal: Principal | None = None) -> tuple[bool, str]:
    """(True, "connected ...") or (False, a message safe to show). A principal's tests are counted:
    past settings.CONNECTION_TESTS_PER_MINUTE in a minute, TooManyConnectionTests."""
    if principal is not None:
        _count_connection_test(principal)
    try:
        version = ping(data_source)
    except SqlError as exc:
        return False, exc.message
    except Exception as exc:  # an unexpected driver failure must still not leak the URL or the network
        log.warning("connection test of %s failed: %s", data_source.pk, redact(str(exc), data_source.connection_url))
        return False, f"could not connect to data source '{data_source.name}'"
    return True, f"connected to data source '{data_source.name}' ({version})"


test_connection.__test__ = False  # not a pytest test, despite the name


def _count_connection_test(principal: Principal) -> None:
    # A fixed one-minute window in the shared cache: every web process counts against the same limit.
    window = int(time.time() // 60)
    key = f"querent:connection-tests:{hashlib.sha256(str(principal).encode()).hexdigest()[:32]}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    if count > settings.CONNECTION_TESTS_PER_MINUTE:
        raise TooManyConnectionTests(retry_after=60 - int(time.time()) % 60)


# --- data sources --------------------------------------------------------------------------

# What a principal may set through an API. `shared` (usable by every tenant) is not among them:
# only the operator sets it (the Django admin, management commands). `tenant_wide` is a tenant
# admin's way to let the whole tenant use a source.
_EDITABLE = ("name", "engine", "connection_url", "actions", "row_limit", "statement_timeout_s", "tenant_wide", "metadata")
OPERATOR_ONLY = {"shared": "only the operator can share a data source with every tenant (the Django admin or a "
                           "management command); use tenant_wide to share it within your tenant"}


def require_tenant_admin(principal: Principal, action: str) -> None:
    """TenantAdminRequired (a 403 naming the role) unless the principal is a tenant admin."""
    if not principal.is_tenant_admin:
        raise TenantAdminRequired(action)


def _checked_fields(fields: dict) -> None:
    refused = {name: [why] for name, why in OPERATOR_ONLY.items() if name in fields}
    if refused:
        raise ValidationError(refused)
    unknown = set(fields) - set(_EDITABLE)
    if unknown:
        raise TypeError(f"unknown data source fields: {', '.join(sorted(unknown))}")


def may_change(data_source: DataSource, principal: Principal) -> bool:
    """A tenant admin changes and deletes its own sources and its tenant's tenant-wide ones. A
    shared source, which every tenant uses, only the operator changes (whoever owns its row)."""
    if data_source.shared:
        return False
    return data_source.is_owned_by(principal) or (data_source.tenant_wide and data_source.tenant == principal.tenant)


def check_may_change(data_source: DataSource, principal: Principal, *, deleting: bool = False) -> None:
    """TenantAdminRequired or PermissionDenied unless `principal` may change (or delete) the source."""
    verb = "delete" if deleting else "change"
    require_tenant_admin(principal, f"{'Deleting' if deleting else 'Changing'} a data source")
    if may_change(data_source, principal):
        return
    if data_source.shared:
        raise PermissionDenied(f"a data source shared with every tenant is {verb}d by the operator only (the Django admin)")
    raise PermissionDenied(f"only the data source's owner or, for a tenant-wide one, its tenant's admins can {verb} it")


def data_source_create(*, principal: Principal, name: str, connection_url: str, engine: str | None = None, **fields) -> DataSource:
    require_tenant_admin(principal, "Creating a data source")
    _checked_fields(fields)
    data_source = DataSource(
        name=name, connection_url=connection_url, engine=engine or engine_from_url(connection_url) or "", **fields
    )
    data_source.assign_owner(principal)
    data_source.full_clean()
    data_source.save()
    return data_source


def data_source_update(data_source: DataSource, *, principal: Principal, **fields) -> DataSource:
    """Change a data source: a tenant admin, on a source it may change (may_change)."""
    check_may_change(data_source, principal)
    _checked_fields(fields)
    for key, value in fields.items():
        setattr(data_source, key, value)
    if "connection_url" in fields and "engine" not in fields:
        data_source.engine = engine_from_url(data_source.connection_url) or data_source.engine
    data_source.full_clean()
    data_source.save()
    return data_source


def data_source_delete(data_source: DataSource, *, principal: Principal) -> None:
    from django.db import transaction

    from .uploads import remove_upload_file

    check_may_change(data_source, principal, deleting=True)
    data_source.delete()
    transaction.on_commit(lambda: remove_upload_file(data_source))  # an uploaded file goes with its row
