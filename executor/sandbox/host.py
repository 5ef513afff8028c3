"""What the worker offers a snippet: the host protocol its caller implements, and ToolError."""

from typing import Any, Protocol


class ToolError(Exception):
    """Raised by a host method; its str() is what the snippet sees as the exception message."""


class SandboxHost(Protocol):
    def run_sql(self, sql: str) -> list[dict]:
        """Rows as dicts. May block for minutes (a person approving a write); may raise ToolError."""
        ...

    def store_artifact(self, identifier: str, title: str, artifact_type: str, data: Any) -> None: ...

    def get_artifact(self, identifier: str) -> Any:
        """The stored data, or None when there is no such artifact."""
        ...
