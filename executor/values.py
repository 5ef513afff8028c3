"""Database values made JSON-safe, so a result can go into an event, an artifact or an API body as is."""

import datetime as dt
import math
import uuid
from decimal import Decimal


def json_safe(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # JSON has no NaN/Infinity; their names are the least surprising text.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return decimal_to_json(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        # Postgres' own bytea text form: unambiguous and readable for the short values people select.
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return str(value)  # ranges, inet, enums of unknown types, ...


def decimal_to_json(value: Decimal):
    """A float when the float prints back as the same number (0.99, 1234.5), else the exact text."""
    if not value.is_finite():
        return str(value)
    if value.as_tuple().exponent >= 0:  # integral numeric, e.g. sum() of integers
        return int(value)
    as_float = float(value)
    if math.isfinite(as_float) and Decimal(repr(as_float)) == value:
        return as_float
    return str(value)


def unique_columns(names: list[str]) -> list[str]:
    """Row dicts need distinct keys: a repeated name gets _2, _3 (SELECT a.id, b.id)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        name = name or "?column?"
        if name in seen:
            seen[name] += 1
            candidate = f"{name}_{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}_{seen[name]}"
            name = candidate
        seen.setdefault(name, 1)
        out.append(name)
    return out
