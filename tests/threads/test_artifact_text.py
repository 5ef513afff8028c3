"""Artifact tags as self-contained text for dialects that cannot render them (OpenGPTs, Julep)."""

import pytest

from threads import artifact_text
from threads.models import Artifact


def _artifacts(**kinds):
    return {identifier: Artifact(identifier=identifier, **fields) for identifier, fields in kinds.items()}


def test_a_table_tag_becomes_its_title_and_first_rows():
    rows = [{"name": f"n{i}", "total": i * 1.5, "note": "a|b\nc"} for i in range(12)]
    found = _artifacts(top=dict(title="Top customers", artifact_type="table", data=rows))
    text = artifact_text.render("Here:\n\n<artifact identifier='top' warning='I cannot see the full data' />\n\nDone.", found)
    assert "<artifact" not in text and "**Top customers**" in text
    assert "| name | total | note |" in text and "| n0 | 0.0 | a\\|b c |" in text
    assert "| n9 |" in text and "| n10 |" not in text and "(10 of 12 rows)" in text
    assert text.startswith("Here:") and text.endswith("Done.")


def test_chart_text_missing_and_double_quoted_tags():
    found = _artifacts(
        c=dict(title="Sales", artifact_type="chart", data={"type": "bar", "x": "month", "y": "sales", "rows": [{"month": "Jan", "sales": 3}]}),
        t=dict(title="Summary", artifact_type="text", data="All good."),
    )
    text = artifact_text.render('<artifact identifier="c" /> <artifact identifier=\'t\'/> <artifact identifier=\'gone\' />', found)
    assert "**Sales** (bar chart of sales by month)" in text and "| Jan | 3 |" in text
    assert "**Summary**\n\nAll good." in text and "(result `gone` is not available)" in text


@pytest.mark.parametrize("tail", ["<", "<arti", "<artifact identifier='to"])
def test_a_tag_still_arriving_is_hidden_while_streaming(tail):
    assert artifact_text.render(f"Look: {tail}", {}, streaming=True) == "Look: "
    assert artifact_text.render(f"Look: {tail}", {}) == f"Look: {tail}"
    assert artifact_text.render("a < b", {}, streaming=True) == "a < b"
