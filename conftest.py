"""Shared fixtures. Fixture modules under tests/fixtures/ are plugins so every test folder can use them.

tests.fixtures.modes comes first: it gives this session its own SQLite test database file and Redis
key prefix before anything connects, and skips what the pass's services cannot run.
"""

import importlib.util

_PLUGINS = ["tests.fixtures.modes", "tests.fixtures.demo_db", "tests.fixtures.llm", "tests.fixtures.stack", "tests.fixtures.mariadb"]
pytest_plugins = [name for name in _PLUGINS if importlib.util.find_spec(name) is not None]
