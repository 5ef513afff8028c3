"""Idempotent first-run setup for `make run`: an admin user and the demo data source.

The generated admin password is also kept in `var/admin-password` (mode 0600, beside the generated
secret key) so `make run`'s banner can show it on every start, not only the first; the banner
checks it against the user and says when it has been changed since.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

ADMIN_USERNAME = "admin"


def password_file() -> Path:
    return Path(settings.VAR_DIR) / "admin-password"


def set_admin_password(username: str) -> str:
    """A new random password for superuser `username` (created if missing), kept for the banner."""
    User = get_user_model()
    password = secrets.token_urlsafe(12)
    user = User.objects.filter(username=username).first()
    if user is None:
        User.objects.create_superuser(username, email="", password=password)
    else:
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
    path = password_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"{username}\n{password}\n")
    return password


def admin_credentials() -> str:
    """'admin / <password>' for the banner while the kept password is still the user's."""
    from django.db import DatabaseError

    try:
        username, password = password_file().read_text().split("\n")[:2]
    except (OSError, ValueError):
        return "the admin user's password was printed when it was created (make reset-admin-password sets a new one)"
    try:
        user = get_user_model().objects.filter(username=username).first()
    except DatabaseError:
        user = None
    if user is None or not user.check_password(password):
        return f"{username} (password changed since it was generated; make reset-admin-password sets a new one)"
    return f"{username} / {password}"


class Command(BaseCommand):
    help = "Create the admin user (password shown in make run's banner) and load the demo data, if not done yet."

    def add_arguments(self, parser):
        parser.add_argument("--admin-username", default=ADMIN_USERNAME)

    def handle(self, *args, admin_username, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin user exists.")
        else:
            password = set_admin_password(admin_username)
            self.stdout.write(self.style.WARNING(f"Admin user created: {admin_username} / {password}"))
        if "load_demo_data" in get_commands():
            call_command(
                "load_demo_data", tenant=settings.DEFAULT_TENANT, user=settings.DEV_DEFAULT_USER, verbosity=options["verbosity"]
            )
