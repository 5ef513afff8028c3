"""The embedded broker: kombu's SQLAlchemy transport with a short polling interval.

kombu forwards every broker transport option to SQLAlchemy's create_engine, so the polling
interval (1 s by default, too slow for interactive runs) is set on a subclass instead.
"""

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SqlAlchemyTransport

ALIAS = "querent-sqla"


class EmbeddedTransport(SqlAlchemyTransport):
    polling_interval = 0.05


def register() -> None:
    TRANSPORT_ALIASES.setdefault(ALIAS, "config.broker:EmbeddedTransport")
