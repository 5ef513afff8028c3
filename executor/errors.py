"""The two ways running SQL can fail that callers must tell apart.

`NeedsConfirmation` is not an error in the usual sense: it is how the executor says "a human must
approve this first" without knowing anything about threads or confirmations (the engine asks).
"""


class NeedsConfirmation(Exception):
    """The statement may change data; it runs only with an approval for this exact SQL."""

    def __init__(self, sql: str, reason: str):
        super().__init__(f"needs confirmation: {reason}")
        self.sql = sql
        self.reason = reason


class SqlError(Exception):
    """A failure whose message is safe to show the user: the database's own text, no credentials."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
