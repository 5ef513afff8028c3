"""Reading data sources as a principal may see them."""

from django.core.exceptions import ValidationError
from django.http import Http404

from config.identity import Principal

from .errors import DataSourceUnavailable
from .models import DataSource


def data_source_list(principal: Principal):
    """Every source the principal may query: its own, its tenant's tenant-wide ones and shared ones, shared last."""
    return DataSource.objects.usable_by(principal).order_by("shared", "name", "created_at")


def data_source_get(principal: Principal, data_source_id) -> DataSource:
    """A source the principal may query (own, tenant-wide or shared); 404 otherwise, malformed ids included."""
    try:
        return DataSource.objects.usable_by(principal).get(pk=data_source_id)
    except (DataSource.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("data source not found") from None


def data_source_get_owned(principal: Principal, data_source_id) -> DataSource:
    """A source the principal owns (to change or delete it); 404 for anyone else's."""
    return DataSource.objects.get_visible_or_404(principal, pk=data_source_id)


def demo_data_source() -> DataSource | None:
    return DataSource.objects.filter(shared=True, metadata__demo="chinook").order_by("created_at").first()


def data_source_for_use(principal: Principal, data_source: DataSource | None) -> DataSource | None:
    """The data source a run, generation or request is about to use, if `principal` (who asked, not
    the owner of the session, assistant or thread it came through) may use it; DataSourceUnavailable
    otherwise. Checked on the row as loaded, so the caller's read of it is the check's read."""
    if data_source is None or data_source.is_usable_by(principal):
        return data_source
    raise DataSourceUnavailable(data_source)
