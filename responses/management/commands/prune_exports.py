from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from responses.services import prune_exports


class Command(BaseCommand):
    help = "Delete local CSV exports older than --days (default QUERENT_CSV_RETENTION_DAYS; 0 keeps all)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, default=None, help=f"default {settings.CSV_RETENTION_DAYS:g}")

    def handle(self, *args, days, **options):
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more")
        files, size = prune_exports(days)
        self.stdout.write(f"removed {files} export(s), {size:,} bytes")
