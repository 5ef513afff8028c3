"""Answers for clients that cannot render artifact tags (OpenGPTs, Julep): each
`<artifact identifier='x' ... />` becomes the artifact's title and a compact Markdown table of its
first rows, so the text stands on its own. PromptQL clients get the tag, as seed 000 shows."""

import re

from .models import Artifact

TAG = re.compile(r"<artifact\s+identifier=(['\"])(?P<identifier>[^'\"]*)\1[^>]*?/?>", re.IGNORECASE)
# A tag still arriving token by token: hidden until it is complete.
PARTIAL_TAG = re.compile(r"<(a(r(t(i(f(a(c(t(\s[^>]*)?)?)?)?)?)?)?)?)?$", re.IGNORECASE)
MAX_ROWS, MAX_COLUMNS, MAX_CELL = 10, 8, 40


def has_tags(text: str | None) -> bool:
    return bool(text) and "<artifact" in text.lower()


def render(text: str, artifacts: dict[str, Artifact], *, streaming: bool = False) -> str:
    """`text` with its tags replaced; `artifacts` by identifier (see artifacts_of)."""
    if not text:
        return text
    rendered = TAG.sub(lambda m: _block(m.group("identifier"), artifacts.get(m.group("identifier"))), text)
    return PARTIAL_TAG.sub("", rendered) if streaming else rendered


def artifacts_of(thread_id) -> dict[str, Artifact]:
    return {a.identifier: a for a in Artifact.objects.filter(thread_id=thread_id)}


def render_for_thread(text: str, thread_id, *, streaming: bool = False) -> str:
    return render(text, artifacts_of(thread_id), streaming=streaming) if has_tags(text) else text


def _block(identifier: str, artifact: Artifact | None) -> str:
    if artifact is None:
        return f"(result `{identifier}` is not available)"
    title = f"**{_cell(artifact.title or identifier, 200)}**"
    data = artifact.data
    if artifact.artifact_type == Artifact.Type.TEXT:
        return f"{title}\n\n{data}"
    rows = data.get("rows", []) if artifact.artifact_type == Artifact.Type.CHART and isinstance(data, dict) else data
    if artifact.artifact_type == Artifact.Type.CHART and isinstance(data, dict):
        title += f" ({data.get('type', 'chart')} chart of {data.get('y', '?')} by {data.get('x', '?')})"
    return f"{title}\n\n{table(rows)}"


def table(rows) -> str:
    if not isinstance(rows, list) or not rows:
        return "(no rows)"
    if not all(isinstance(r, dict) for r in rows):
        rows = [{"value": r} for r in rows]
    columns = list(dict.fromkeys(key for row in rows[:MAX_ROWS] for key in row))[:MAX_COLUMNS]
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append(f"\n({MAX_ROWS} of {len(rows)} rows)")
    return "\n".join(lines)


def _cell(value, limit: int = MAX_CELL) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
