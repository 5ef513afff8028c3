#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if sys.argv[1:2] == ["serve"] and "--production" in sys.argv[2:]:
        os.environ["QUERENT_PRODUCTION"] = "1"  # settings are read once, before the command runs
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A setting an operator must fix: say which, without a traceback.
        sys.stderr.write(f"Querent cannot start: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
