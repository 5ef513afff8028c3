from tests.threads.conftest import tenant_demo  # noqa: F401 - the same private demo copy per test
