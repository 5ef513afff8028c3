from tests.threads.conftest import shared_demo  # noqa: F401 - the same private demo copy per test
