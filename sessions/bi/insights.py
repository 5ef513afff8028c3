"""Observations computed from the result rows: extremes, totals, shares, trend, correlation.

Every sentence is arithmetic over the rows the query returned; nothing is guessed, so a result
with no rows says so and a cut-off result says the figures cover the returned rows only.
"""

import math
import re

from .columns import as_number, label

_MIDNIGHT = re.compile(r"[T ]00:00:00(\.0+)?([+-]00:?00|Z)?$")
MAX_INSIGHTS = 5


def fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _x_text(value, month_level: bool) -> str:
    text = str(value)
    text = _MIDNIGHT.sub("", text)
    if month_level and re.match(r"^\d{4}-\d{2}-01$", text):
        return text[:7]
    return text


def _totals_by(rows: list[dict], key: str, measure: str) -> dict:
    """Sum of `measure` per value of `key`, in first-seen order; rows without a number are skipped."""
    totals: dict = {}
    for row in rows:
        number = as_number(row.get(measure))
        if number is None:
            continue
        totals[row.get(key)] = totals.get(row.get(key), 0.0) + number
    return totals


def _share(part: float, whole: float) -> str:
    return f"{part / whole * 100:.1f}%"


def _over_time(rows, viz) -> list[str]:
    x, y, series = viz["x"], viz["y"], viz.get("series")
    totals = _totals_by(rows, x, y)
    if not totals:
        return []
    keys = list(totals)
    month_level = all(re.match(r"^\d{4}-\d{2}-01", _MIDNIGHT.sub("", str(k))) for k in keys)
    name = label(y)
    top = max(keys, key=lambda k: totals[k])
    low = min(keys, key=lambda k: totals[k])
    out = [f"{name} peaked in {_x_text(top, month_level)} at {fmt(totals[top])}"]
    if len(keys) > 1:
        out.append(f"Lowest {label(x).lower()} was {_x_text(low, month_level)} at {fmt(totals[low])}")
        first, last = totals[keys[0]], totals[keys[-1]]
        flat = math.isclose(first, last, rel_tol=1e-9, abs_tol=1e-9)  # sums of floats: 37.620000000000005
        direction = "was flat" if flat else "rose" if last > first else "fell"
        change = f" {abs(last - first) / abs(first) * 100:.1f}%" if first and not flat else ""
        out.append(
            f"{name} {direction}{change} from {_x_text(keys[0], month_level)} ({fmt(first)}) "
            f"to {_x_text(keys[-1], month_level)} ({fmt(last)})"
        )
    whole = sum(totals.values())
    out.append(f"{name} summed over {len(keys)} {label(x).lower()} values: {fmt(whole)}")
    if series:
        by_series = _totals_by(rows, series, y)
        if by_series and whole:
            lead = max(by_series, key=lambda k: by_series[k])
            out.append(f"{lead} contributed the most {name.lower()} ({_share(by_series[lead], whole)} of the total)")
    return out


def _category(column: str, value) -> str:
    """A category as a reader knows it: "USA", but "Customer id 6" rather than a bare 6."""
    return f"{label(column)} {value}" if isinstance(value, (int, float)) or value is None else str(value)


def _by_category(rows, viz) -> list[str]:
    x, y = viz["x"], viz["y"]
    totals = _totals_by(rows, x, y)
    if not totals:
        return []
    name = label(y)
    whole = sum(totals.values())
    ranked = sorted(totals, key=lambda k: totals[k], reverse=True)
    top, low = ranked[0], ranked[-1]
    share = f" ({_share(totals[top], whole)} of the total)" if whole > 0 and all(v >= 0 for v in totals.values()) else ""
    out = [f"{_category(x, top)} has the highest {name.lower()} at {fmt(totals[top])}{share}"]
    if len(ranked) > 1:
        out.append(f"{_category(x, low)} has the lowest {name.lower()} at {fmt(totals[low])}")
        out.append(f"{name} summed over {len(ranked)} {label(x).lower()} values: {fmt(whole)}")
    if len(ranked) > 5 and whole > 0 and all(v >= 0 for v in totals.values()):
        top3 = sum(totals[k] for k in ranked[:3])
        out.append(f"The top 3 account for {_share(top3, whole)} of the total")
    return out


def _correlation(rows, viz) -> list[str]:
    pairs = [(as_number(r.get(viz["x"])), as_number(r.get(viz["y"]))) for r in rows]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    if len(pairs) < 3:
        return []
    n = len(pairs)
    mean_a = sum(a for a, _ in pairs) / n
    mean_b = sum(b for _, b in pairs) / n
    cov = sum((a - mean_a) * (b - mean_b) for a, b in pairs)
    var_a = sum((a - mean_a) ** 2 for a, _ in pairs)
    var_b = sum((b - mean_b) ** 2 for _, b in pairs)
    if not var_a or not var_b:
        return []
    r = cov / math.sqrt(var_a * var_b)
    strength = "strong" if abs(r) >= 0.7 else "moderate" if abs(r) >= 0.4 else "weak"
    sign = "positive" if r > 0 else "negative"
    return [f"{label(viz['x'])} and {label(viz['y']).lower()} have a {strength} {sign} correlation (r = {r:.2f}, {n} points)"]


def compute(columns: list[str], rows: list[dict], viz: dict | None, *, truncated: bool = False) -> list[str]:
    if not rows:
        return ["The query returned no rows."]
    viz = viz or {"type": "table"}
    kind = viz["type"]
    if kind == "kpi":
        value = as_number(rows[0].get(viz["y"]))
        out = [f"{label(viz['y'])}: {fmt(value)}"] if value is not None else []
    elif kind in ("line", "area"):
        out = _over_time(rows, viz)
    elif kind in ("bar", "horizontal_bar", "stacked_bar", "pie"):
        out = _by_category(rows, viz)
    elif kind == "scatter":
        out = _correlation(rows, viz)
    else:
        out = [f"The query returned {len(rows):,} rows with {len(columns)} columns"]
    if truncated:  # said last, and never cut: it qualifies every figure before it
        return out[: MAX_INSIGHTS - 1] + [f"Only the first {len(rows):,} rows were returned; the figures cover those rows"]
    return out[:MAX_INSIGHTS]
