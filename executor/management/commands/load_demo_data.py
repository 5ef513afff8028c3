import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.identity import Principal
from executor.demo import ensure_demo_data_source, load_demo, tenant_demo_copy
from executor.dsn import engine_from_url, mask_url


class Command(BaseCommand):
    help = (
        "Build the Chinook demo database (idempotent), ensure the shared, read-only 'Chinook demo' data source and, "
        "for an SQLite demo, the tenant's own writable copy."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default=None, help="sqlite:///path or postgresql://...; default DEMO_DATABASE_URL")
        parser.add_argument("--tenant", default=None, help="owner tenant of the data source row (default: DEFAULT_TENANT)")
        parser.add_argument("--user", default="system", help="owner user id of the data source row (default: system)")
        parser.add_argument("--force", action="store_true", help="rebuild the demo tables even if they look complete")
        parser.add_argument("--no-data-source", action="store_true", help="only build the database")

    def handle(self, *args, url=None, tenant=None, user="system", force=False, no_data_source=False, **options):
        url = url or settings.DEMO_DATABASE_URL
        if engine_from_url(url) is None:
            raise CommandError("--url must be sqlite:///path or postgresql://...")
        started = time.perf_counter()
        try:
            load_demo(url, force=force)
        except Exception as exc:  # the driver's text, without the URL's password
            raise CommandError(f"could not load the demo into {mask_url(url)}: {exc}") from None
        self.stdout.write(f"Chinook demo ready at {mask_url(url)} ({time.perf_counter() - started:.2f}s)")
        if not no_data_source:
            principal = Principal(tenant=tenant or settings.DEFAULT_TENANT, user_id=user, source="system")
            data_source = ensure_demo_data_source(principal, url)
            self.stdout.write(f"Data source '{data_source.name}' id={data_source.id} (shared with every tenant, read-only)")
            copy = tenant_demo_copy(principal.tenant)
            if copy is not None:
                self.stdout.write(
                    f"Data source '{copy.name}' id={copy.id} (tenant {principal.tenant}, writable: changes ask for approval)"
                )
