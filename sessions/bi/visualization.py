"""Choosing and re-rendering a chart for a query result, from its column kinds alone.

A visualization is {"type", "x", "y", "series"}: x is the dimension (time or category), y the
measure, series an optional second dimension that splits the measure (lines or stacks).
"""

from .columns import CATEGORY, NUMBER, TIME, Column, as_number, profile

CHART_TYPES = ("area", "bar", "horizontal_bar", "kpi", "line", "pie", "scatter", "stacked_bar", "table")
PIE_MAX_SLICES = 5  # more slices than this read better as bars


class ChartError(ValueError):
    """This chart type cannot show this result; the message says why."""


def _spec(type_: str, x: str | None = None, y: str | None = None, series: str | None = None) -> dict:
    return {"type": type_, "x": x, "y": y, "series": series}


def _split(profiled: list[Column]):
    times = [c for c in profiled if c.kind == TIME]
    categories = [c for c in profiled if c.kind == CATEGORY]
    numbers = [c for c in profiled if c.kind == NUMBER]
    return times, categories, numbers


def choose(columns: list[str], rows: list[dict]) -> dict:
    """The chart that best fits the result: time + number -> line, category + number -> bar (pie
    when there are only a few non-negative slices), one number -> kpi, two numbers -> scatter."""
    if not rows or not columns:
        return _spec("table")
    times, categories, numbers = _split(profile(columns, rows))
    if times and numbers:
        return _spec("line", times[0].name, numbers[0].name, categories[0].name if categories else None)
    if categories and numbers:
        x, y = categories[0], numbers[0]
        if len(categories) > 1:
            return _spec("stacked_bar", x.name, y.name, categories[1].name)
        values = [as_number(row.get(y.name)) for row in rows]
        if 2 <= len(rows) <= PIE_MAX_SLICES and len(numbers) == 1 and all(v is not None and v >= 0 for v in values):
            return _spec("pie", x.name, y.name)
        return _spec("bar", x.name, y.name)
    if len(numbers) == 1 and len(rows) == 1 and len(columns) == 1:
        return _spec("kpi", None, numbers[0].name)
    if len(numbers) >= 2:
        return _spec("scatter", numbers[0].name, numbers[1].name)
    return _spec("table")


def render(chart_type: str, columns: list[str], rows: list[dict]) -> dict:
    """The result drawn as `chart_type`; ChartError when that type cannot show it."""
    if chart_type not in CHART_TYPES:
        raise ChartError(f"unknown chart type {chart_type!r}; valid types: {', '.join(CHART_TYPES)}")
    if chart_type == "table":
        return _spec("table")
    if not rows:
        raise ChartError(f"the last result has no rows to draw as a {chart_type} chart")
    times, categories, numbers = _split(profile(columns, rows))
    if not numbers:
        raise ChartError(f"a {chart_type} chart needs a numeric column; this result has none ({', '.join(columns) or 'no columns'})")
    if chart_type == "kpi":
        if len(rows) != 1:
            raise ChartError(f"a kpi shows a single value; this result has {len(rows)} rows")
        return _spec("kpi", None, numbers[0].name)
    if chart_type == "scatter":
        if len(numbers) < 2:
            raise ChartError("a scatter chart needs two numeric columns; this result has one")
        return _spec("scatter", numbers[0].name, numbers[1].name)
    dimensions = times + categories
    if not dimensions:
        raise ChartError(f"a {chart_type} chart needs a category or time column to label the values")
    x, y = dimensions[0], numbers[0]
    series = next((c.name for c in dimensions[1:]), None)
    if chart_type == "pie":
        values = [as_number(row.get(y.name)) for row in rows]
        if any(v is None or v < 0 for v in values):
            raise ChartError("a pie chart needs non-negative values")
        return _spec("pie", x.name, y.name)
    return _spec(chart_type, x.name, y.name, series)
