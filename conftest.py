"""Shared fixtures. Fixture modules under tests/fixtures/ are plugins so every test folder can use them."""

import importlib.util

_PLUGINS = ["tests.fixtures.demo_db", "tests.fixtures.llm", "tests.fixtures.stack"]
pytest_plugins = [name for name in _PLUGINS if importlib.util.find_spec(name) is not None]
