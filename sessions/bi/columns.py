"""What each result column holds, read from the values (and, for time, the name too).

A chart needs a dimension (time or category) and measures (numbers). Databases hand us JSON-safe
values: numbers as int/float, exact decimals that a float cannot hold as strings like "5.6518...",
dates and timestamps as ISO text.
"""

import re
from dataclasses import dataclass

TIME = "time"
NUMBER = "number"
CATEGORY = "category"

_DECIMAL_TEXT = re.compile(r"^-?\d+\.\d+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?)?$")
_TIME_NAME = re.compile(r"(^|_)(date|day|week|month|quarter|year|period|time|timestamp|yyyymm|ym)(_|$)|(_at|_on)$")
# Integer columns named like keys identify rows; summing or charting them as measures is noise.
_ID_NAME = re.compile(r"(^|_)(id|key|code|no|number)$")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # TIME, NUMBER or CATEGORY
    distinct: int


def is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and bool(_DECIMAL_TEXT.match(value))


def as_number(value) -> float | None:
    if not is_number(value):
        return None
    return float(value)


def _kind(name: str, values: list) -> str:
    present = [v for v in values if v is not None]
    lowered = name.lower()
    if not present:
        return TIME if _TIME_NAME.search(lowered) else CATEGORY
    if all(isinstance(v, str) and _ISO_DATE.match(v) for v in present):
        return TIME
    if all(is_number(v) for v in present):
        if _TIME_NAME.search(lowered) and all(float(v).is_integer() for v in present):
            return TIME  # year = 2024, month = 3
        if _ID_NAME.search(lowered) and all(float(v).is_integer() for v in present):
            return CATEGORY
        return NUMBER
    return CATEGORY


def profile(columns: list[str], rows: list[dict]) -> list[Column]:
    profiled = []
    for name in columns:
        values = [row.get(name) for row in rows]
        profiled.append(Column(name=name, kind=_kind(name, values), distinct=len({repr(v) for v in values})))
    return profiled


def label(name: str) -> str:
    """total_revenue -> Total revenue: how a column is named in a sentence."""
    words = re.sub(r"[_\s]+", " ", name).strip()
    return words[:1].upper() + words[1:] if words else name
