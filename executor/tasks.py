"""Celery entry points of the executor app (queue `agent`, by the `executor.tasks.*` route)."""

from celery import shared_task

from .context.scan import scan
from .models import DataSource


@shared_task(name="executor.tasks.scan_data_source", acks_late=True)
def scan_data_source(data_source_id: str, table_names: list[str] | None = None) -> dict:
    """Scan a data source's tables into its context store; returns the scan's counts."""
    data_source = DataSource.objects.filter(pk=data_source_id).first()
    if data_source is None:  # deleted meanwhile: nothing to scan, nothing to record
        return {"status": "gone"}
    state = scan(data_source, table_names or None)
    return {"status": state.scan_status, "done": state.scan_tables_done, "failed": state.scan_tables_failed}
