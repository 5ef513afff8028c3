"""Reading model replies: the SQL out of a reply, a 0-1 score out of an evaluation."""

import pytest

from responses.prompts import extract_sql, parse_score, result_text


@pytest.mark.parametrize(
    "reply, sql",
    [
        ("```sql\nSELECT 1;\n```", "SELECT 1"),
        ("Here you go:\n```SQL\nSELECT name\nFROM artist\n```\nThis lists artists.", "SELECT name\nFROM artist"),
        ("```\nSELECT 2\n```", "SELECT 2"),
        ("```python\nprint(1)\n```\n```sql\nSELECT 3\n```", "SELECT 3"),
        ("SELECT count(*) FROM track;;", "SELECT count(*) FROM track"),
        ("The query is:\nWITH t AS (SELECT 1 AS x) SELECT x FROM t", "WITH t AS (SELECT 1 AS x) SELECT x FROM t"),
        ("", ""),
        (None, ""),
        ("I cannot answer that.", "I cannot answer that."),
    ],
)
def test_extract_sql(reply, sql):
    assert extract_sql(reply) == sql


@pytest.mark.parametrize(
    "reply, score",
    [
        ('{"confidence": 0.87, "reason": "matches"}', 0.87),
        ('```json\n{"confidence_score": 0.5}\n```', 0.5),
        ('{"score": 1}', 1.0),
        ("0.9", 0.9),
        ("Confidence: 85%", 0.85),
        ("My confidence score is 0.72 because the join is right.", 0.72),
        ("92", 0.92),
        ('{"confidence": 7.5e3}', None),
        ('{"confidence": true}', None),
        ("I think it is fine.", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_score(reply, score):
    assert parse_score(reply) == score


def test_result_text_is_bounded_and_says_how_much_is_shown():
    rows = [{"n": i, "text": "x" * 100} for i in range(200)]
    text = result_text(["n", "text"], rows, total=1000)
    assert text.startswith("Columns: n, text\nResult (1000 rows, first 50 shown):")
    assert len(text) < 8200
