from django.conf import settings
from django.core.management.base import BaseCommand

from assistants.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for a principal and print the token (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("user_id")
        parser.add_argument("--tenant", default=settings.DEFAULT_TENANT)
        parser.add_argument("--name", default="cli")
        parser.add_argument("--service", action="store_true", help="may act for any tenant via X-Tenant-ID")
        parser.add_argument(
            "--role", choices=ApiKey.Role.values, default=ApiKey.Role.MEMBER,
            help="admin: a tenant admin, who may also create, change and delete the tenant's data sources (default: member)",
        )

    def handle(self, *args, user_id, tenant, name, service, role=ApiKey.Role.MEMBER, **options):
        _, token = ApiKey.issue(name=name, tenant=tenant, user_id=user_id, can_act_for_any_tenant=service, role=role)
        self.stdout.write(token)
