"""The two ways running SQL can fail that callers must tell apart.

`NeedsConfirmation` is not an error in the usual sense: it is how the executor says "a human must
approve this first" without knowing anything about threads or confirmations (the engine asks).
"""

from django.core.exceptions import PermissionDenied


class NeedsConfirmation(Exception):
    """The statement may change data; it runs only with an approval for this exact SQL."""

    def __init__(self, sql: str, reason: str):
        super().__init__(f"needs confirmation: {reason}")
        self.sql = sql
        self.reason = reason


class SqlError(Exception):
    """A failure whose message is safe to show the user: the database's own text, no credentials."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TooManyConnectionTests(Exception):
    """A principal tried more connections in a minute than the operator allows (a 429)."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many connection tests; try again in {retry_after} s")
        self.retry_after = retry_after


class TenantAdminRequired(PermissionDenied):
    """The principal lacks the tenant-admin role an action needs (a 403 that names the role)."""

    code = "tenant_admin_required"
    role = "admin"

    def __init__(self, action: str):
        super().__init__(
            f"{action} needs the tenant-admin role, which your credentials do not have. "
            "Ask an operator for an API key with role 'admin' (manage.py create_api_key USER --tenant T --role admin) "
            "or a token whose role claim says 'admin'."
        )


class DataSourceUnavailable(PermissionDenied):
    """The acting principal may not use this data source, however it was reached (session, assistant,
    thread or question): a clear 403 or error event, never a silent fallback."""

    code = "data_source_unavailable"

    def __init__(self, data_source):
        self.data_source_id = str(data_source.pk)
        super().__init__(
            f"The data source '{data_source.name}' ({data_source.pk}) is not available to you: it belongs to "
            "another user and is not shared with your tenant. Ask its owner or a tenant admin to make it "
            "tenant-wide, or choose another data source."
        )


class ReadOnlySource(SqlError):
    """A write on a data source shared with every tenant (the demo): refused before anyone is asked."""
