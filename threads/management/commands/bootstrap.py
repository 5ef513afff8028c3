"""Idempotent first-run setup for `make run`: an admin user and the demo data source."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the admin user (password printed once) and load the demo data, if not done yet."

    def add_arguments(self, parser):
        parser.add_argument("--admin-username", default="admin")

    def handle(self, *args, admin_username, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(f"Admin user exists (its password was printed when it was created).")
        else:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(admin_username, email="", password=password)
            self.stdout.write(self.style.WARNING(f"Admin user created: {admin_username} / {password}  (shown only once)"))
        if "load_demo_data" in get_commands():
            call_command(
                "load_demo_data", tenant=settings.DEFAULT_TENANT, user=settings.DEV_DEFAULT_USER, verbosity=options["verbosity"]
            )
