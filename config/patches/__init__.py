"""Overrides of third-party internals, each isolated here with the version it was checked against.

Every module's docstring lists, per patch: what it overrides, the pinned version, why, and the test
that fails when the library changes under it. Nothing is applied on import: the code that needs a
patch uses it explicitly (config/web.py starts daphne with daphne_limits.LimitedServer).
"""
