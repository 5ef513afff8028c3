"""The BI pipeline's pure steps: router, column kinds, chart choice and re-rendering, insights."""

import pytest

from sessions.bi import columns, insights, router, visualization
from sessions.bi.results import output_columns

MONTHLY = [
    {"month": "2010-01-01T00:00:00", "total_revenue": 37.62},
    {"month": "2010-02-01T00:00:00", "total_revenue": 23.76},
    {"month": "2010-03-01T00:00:00", "total_revenue": 47.62},
    {"month": "2010-04-01T00:00:00", "total_revenue": 41.62},
]
BY_GENRE = [
    {"month": "2010-01-01T00:00:00", "genre": "Rock", "total_revenue": 10.0},
    {"month": "2010-01-01T00:00:00", "genre": "Jazz", "total_revenue": 2.5},
    {"month": "2010-02-01T00:00:00", "genre": "Rock", "total_revenue": 8.0},
    {"month": "2010-02-01T00:00:00", "genre": "Jazz", "total_revenue": 4.5},
]
COUNTRIES = [{"country": c, "revenue": v} for c, v in [("USA", 523.06), ("Canada", 303.96), ("France", 195.1), ("Brazil", 190.1),
                                                        ("Germany", 156.48), ("UK", 112.86), ("Chile", 46.62)]]


@pytest.mark.parametrize("message, has_result, intent", [
    ("Show me monthly revenue for 2010", False, router.QUERY_DATA),
    ("Show me monthly revenue for 2010", True, router.QUERY_DATA),
    ("hello!", False, router.CHIT_CHAT),
    ("Thanks so much", True, router.CHIT_CHAT),
    ("what can you do?", False, router.CHIT_CHAT),
    ("Explain this result", True, router.EXPLAIN),
    ("why is March so high?", True, router.EXPLAIN),
    ("Explain how revenue is recognised", False, router.QUERY_DATA),  # nothing to explain yet
    ("Break this down by product category", True, router.REFINE),
    ("now only for Rock", True, router.REFINE),
    ("now only for Rock", False, router.QUERY_DATA),
    ("filter it to Canada", True, router.REFINE),
    ("Which genre sells best?", True, router.QUERY_DATA),
])
def test_router(message, has_result, intent):
    assert router.route(message, has_result=has_result).intent == intent


def test_column_kinds_read_values_and_names():
    rows = [{"month": "2010-01-01T00:00:00", "year": 2010, "customer_id": 6, "country": "USA", "total": 1.5, "exact": "5.6518181818181818"}]
    kinds = {c.name: c.kind for c in columns.profile(list(rows[0]), rows)}
    assert kinds == {"month": "time", "year": "time", "customer_id": "category", "country": "category",
                     "total": "number", "exact": "number"}
    assert not columns.is_number(True) and not columns.is_number("12345")  # a zip code is text


@pytest.mark.parametrize("rows, expected", [
    (MONTHLY, {"type": "line", "x": "month", "y": "total_revenue", "series": None}),
    (BY_GENRE, {"type": "line", "x": "month", "y": "total_revenue", "series": "genre"}),
    (COUNTRIES, {"type": "bar", "x": "country", "y": "revenue", "series": None}),
    (COUNTRIES[:4], {"type": "pie", "x": "country", "y": "revenue", "series": None}),
    ([{"customers": 59}], {"type": "kpi", "x": None, "y": "customers", "series": None}),
    ([{"milliseconds": 1, "bytes": 2}, {"milliseconds": 3, "bytes": 5}], {"type": "scatter", "x": "milliseconds", "y": "bytes", "series": None}),
    ([{"name": "a", "email": "b"}], {"type": "table", "x": None, "y": None, "series": None}),
    ([], {"type": "table", "x": None, "y": None, "series": None}),
])
def test_chart_is_chosen_from_column_kinds(rows, expected):
    assert visualization.choose(list(rows[0]) if rows else ["a"], rows) == expected


def test_rerender_keeps_axes_and_explains_what_cannot_be_drawn():
    cols = ["month", "genre", "total_revenue"]
    assert visualization.render("stacked_bar", cols, BY_GENRE) == {"type": "stacked_bar", "x": "month", "y": "total_revenue", "series": "genre"}
    assert visualization.render("table", cols, BY_GENRE)["type"] == "table"
    with pytest.raises(visualization.ChartError, match="valid types: area, bar"):
        visualization.render("donut", cols, BY_GENRE)
    with pytest.raises(visualization.ChartError, match="two numeric columns"):
        visualization.render("scatter", cols, BY_GENRE)
    with pytest.raises(visualization.ChartError, match="single value"):
        visualization.render("kpi", cols, BY_GENRE)
    with pytest.raises(visualization.ChartError, match="non-negative"):
        visualization.render("pie", ["k", "v"], [{"k": "a", "v": -1}, {"k": "b", "v": 2}])
    with pytest.raises(visualization.ChartError, match="no rows"):
        visualization.render("bar", cols, [])


def test_insights_over_time_are_computed_from_the_rows():
    found = insights.compute(["month", "total_revenue"], MONTHLY, visualization.choose(["month", "total_revenue"], MONTHLY))
    assert found == [
        "Total revenue peaked in 2010-03 at 47.62",
        "Lowest month was 2010-02 at 23.76",
        "Total revenue rose 10.6% from 2010-01 (37.62) to 2010-04 (41.62)",
        "Total revenue summed over 4 month values: 150.62",
    ]


def test_insights_with_series_name_the_leading_series():
    viz = visualization.choose(["month", "genre", "total_revenue"], BY_GENRE)
    found = insights.compute(["month", "genre", "total_revenue"], BY_GENRE, viz)
    assert found[0] == "Total revenue peaked in 2010-01 at 12.50"
    assert found[-1] == "Rock contributed the most total revenue (72.0% of the total)"


def test_insights_by_category_give_shares():
    viz = visualization.choose(["country", "revenue"], COUNTRIES)
    found = insights.compute(["country", "revenue"], COUNTRIES, viz)
    total = sum(r["revenue"] for r in COUNTRIES)
    assert found[0] == f"USA has the highest revenue at 523.06 ({523.06 / total * 100:.1f}% of the total)"
    assert found[1] == "Chile has the lowest revenue at 46.62"
    assert found[2] == f"Revenue summed over 7 country values: {total:,.2f}"
    assert found[3] == f"The top 3 account for {(523.06 + 303.96 + 195.1) / total * 100:.1f}% of the total"


def test_insights_for_kpi_scatter_empty_and_cut_off_results():
    assert insights.compute(["customers"], [{"customers": 59}], {"type": "kpi", "y": "customers"}) == ["Customers: 59"]
    points = [{"a": i, "b": 2 * i + 1} for i in range(5)]
    assert insights.compute(["a", "b"], points, {"type": "scatter", "x": "a", "y": "b"}) == [
        "A and b have a strong positive correlation (r = 1.00, 5 points)"
    ]
    assert insights.compute(["a"], [], None) == ["The query returned no rows."]
    cut = insights.compute(["month", "total_revenue"], MONTHLY, {"type": "line", "x": "month", "y": "total_revenue"}, truncated=True)
    assert cut[-1].startswith("Only the first 4 rows were returned") and len(cut) <= insights.MAX_INSIGHTS


def test_output_columns_of_a_query_without_rows():
    assert output_columns("SELECT date_trunc('month', d) AS month, sum(x) AS total FROM t GROUP BY 1", "postgresql") == ["month", "total"]
    assert output_columns("SELECT * FROM t", "postgresql") == []
    assert output_columns("not sql at all (", "postgresql") == []
