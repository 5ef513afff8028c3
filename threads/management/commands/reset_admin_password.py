"""A new random password for an admin user (`make reset-admin-password`), printed once and shown
in `make run`'s banner; creates the superuser when it does not exist."""

from django.core.management.base import BaseCommand

from .bootstrap import ADMIN_USERNAME, set_admin_password


class Command(BaseCommand):
    help = "Set a new random password for a superuser (default: admin) and print it."

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", default=ADMIN_USERNAME)

    def handle(self, *args, username, **options):
        password = set_admin_password(username)
        self.stdout.write(f"New password for {username}: {password}")
