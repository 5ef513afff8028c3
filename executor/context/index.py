"""A data source's context, ready for prompts: what every prompt that writes SQL is built from.

`context_for(data_source, question, principal)` returns the instructions, the golden SQLs most
similar to the question and the tables most relevant to it within a character budget (with their
descriptions, keys and categorical values). The expensive part (tokenizing thousands of golden SQLs
and tables, rendering table lines) is done once per process per context version: the version is
one primary-key read, bumped by every change (ContextState.bump), so every process sees every edit.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from config.identity import Principal

from . import embeddings
from .models import ContextState, GoldenSql, Instruction, TableDescription
from .retrieval import Bm25, fused, words

EXAMPLE_SQL_CHARS = 1500
INSTRUCTIONS_CHARS = 4000
_SQL_TABLE = re.compile(r"\b(?:from|join)\s+((?:[\w$]+|\"[^\"]+\"|`[^`]+`)(?:\.(?:[\w$]+|\"[^\"]+\"|`[^`]+`))*)", re.I)


@dataclass
class Example:
    prompt_text: str
    sql: str
    score: float


@dataclass
class PromptContext:
    instructions: list[str] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    schema: str = ""
    tables: list[str] = field(default_factory=list)  # the tables shown, most relevant first

    def text(self) -> str:
        """The instructions and examples as prompt sections (the schema goes where each prompt puts it)."""
        parts = []
        if self.instructions:
            parts.append("Rules for this database (always follow them):\n" + "\n".join(f"- {i}" for i in self.instructions))
        if self.examples:
            shown = "\n\n".join(f"Question: {e.prompt_text}\nSQL: {e.sql}" for e in self.examples)
            parts.append("Verified examples for this database (the most similar questions first):\n" + shown)
        return "\n\n".join(parts)


# --- tables ---------------------------------------------------------------------------------


def _name(schema: str | None, table: str) -> str:
    return table if schema in (None, "", "public", "main") else f"{schema}.{table}"


def _column_text(column: dict) -> str:
    parts = [column["name"], column.get("data_type") or ""]
    if column.get("is_primary_key"):
        parts.append("PK")
    foreign = column.get("foreign_key")
    if foreign:
        parts.append(f"->{foreign.get('reference_table')}.{foreign.get('field_name')}")
    text = " ".join(p for p in parts if p)
    if column.get("description"):
        text += f" ({column['description'][:200]})"
    if column.get("categories"):
        text += " values: " + "|".join(str(v)[:40] for v in column["categories"][:25])
    return text


def _table_text(table: dict) -> str:
    head = table["qualified"]
    notes = []
    if table.get("kind") not in (None, "", "table"):
        notes.append(table["kind"])
    if table.get("row_count") is not None:
        notes.append(f"~{table['row_count']} rows")
    if notes:
        head += " [" + ", ".join(notes) + "]"
    if table.get("description"):
        head += " -- " + table["description"].splitlines()[0][:300]
    return head + ": " + "; ".join(_column_text(c) for c in table["columns"])


def tables_from_introspection(schema: dict) -> list[dict]:
    """executor.schema's introspection in the scan's shape (what a source never scanned offers)."""
    tables = []
    for t in schema.get("tables", []):
        foreign = {}
        for fk in t.get("foreign_keys", []):
            for col, ref in zip(fk["columns"], fk["ref_columns"]):
                foreign[col] = {"field_name": ref, "reference_table": _name(fk.get("ref_schema"), fk["ref_table"])}
        tables.append({
            "schema_name": t.get("schema") or "", "table_name": t["name"], "kind": t.get("kind") or "table",
            "description": t.get("comment") or "", "row_count": t.get("rows"),
            "columns": [
                {
                    "name": c["name"], "data_type": c.get("type"), "description": c.get("comment") or "",
                    "is_primary_key": c["name"] in t.get("primary_key", []) and len(t.get("primary_key", [])) == 1,
                    "foreign_key": foreign.get(c["name"]), "categories": c.get("samples"), "low_cardinality": False,
                }
                for c in t.get("columns", [])
            ],
        })
    return tables


class _Tables:
    def __init__(self, tables: list[dict]):
        degree: dict[str, int] = {}
        for table in tables:
            table["qualified"] = _name(table.get("schema_name"), table["table_name"])
            for column in table["columns"]:
                foreign = column.get("foreign_key")
                if foreign:
                    degree[table["qualified"]] = degree.get(table["qualified"], 0) + 1
                    degree[foreign.get("reference_table")] = degree.get(foreign.get("reference_table"), 0) + 1
        # Without a question: linked and large tables first (they are what most questions join).
        tables.sort(key=lambda t: (-(degree.get(t["qualified"], 0) * 2 + np.log10((t.get("row_count") or 0) + 1)), t["qualified"]))
        self.tables = tables
        self.lines = [_table_text(t) for t in tables]
        self.by_name = {}
        for index, table in enumerate(tables):
            self.by_name.setdefault(table["table_name"].lower(), index)
            self.by_name.setdefault(table["qualified"].lower(), index)
        # Table name words count three times, descriptions twice, column names once.
        documents = []
        for table in tables:
            doc = words(table["table_name"]) * 3 + words(table.get("description")) * 2
            for column in table["columns"]:
                doc += words(column["name"]) + words(column.get("description"))
            documents.append(doc)
        self.bm25 = Bm25(documents)

    def ranked(self, question: str, boosted: list[int]) -> list[int]:
        scores = self.bm25.scores(words(question))
        if boosted:
            scores[boosted] += float(scores.max() or 1.0) + 1.0  # tables the examples use come first
        hits = np.flatnonzero(scores > 0)
        order = sorted(hits.tolist(), key=lambda i: (-scores[i], i))
        seen = set(order)
        return order + [i for i in range(len(self.tables)) if i not in seen]

    def render(self, order: list[int], budget: int, header: str) -> tuple[str, list[str]]:
        lines, shown, used = [header], [], len(header) + 1
        reserve = min(300, budget // 5)
        for position, index in enumerate(order):
            line = self.lines[index]
            room = budget - used - (0 if position == len(order) - 1 else reserve)
            if len(line) + 1 > room:
                line = _table_text({**self.tables[index], "columns": [{**c, "categories": None, "description": ""} for c in self.tables[index]["columns"]]})
                if len(line) + 1 > room:
                    line = line[: max(0, room - 2)].rsplit(";", 1)[0] + "; ..."
                    if len(line) < 40 or len(line) + 1 > room:
                        break
            lines.append(line)
            shown.append(self.tables[index]["qualified"])
            used += len(line) + 1
        rest = [self.tables[i]["qualified"] for i in order[len(shown):]]
        if rest:
            tail, names = f"... {len(rest)} more tables not shown: ", []
            room = budget - used - len(tail) - 5
            for name in rest:
                if sum(len(n) + 2 for n in names) + len(name) > room:
                    names.append("...")
                    break
                names.append(name)
            lines.append(tail + ", ".join(names))
        text = "\n".join(lines)
        return (text if len(text) <= budget else text[: budget - 1] + "…"), shown


# --- the index ------------------------------------------------------------------------------


class ContextIndex:
    def __init__(self, data_source, version: int, tables: list[dict], source: str):
        self.version = version
        self.engine = data_source.engine
        self.name = data_source.name
        self.table_source = source  # "scan" or "introspection"
        self.instructions = list(
            Instruction.objects.filter(data_source=data_source).order_by("created_at").values_list("tenant", "owner", "instruction")
        )
        rows = list(
            GoldenSql.objects.filter(data_source=data_source).order_by("created_at")
            .values_list("tenant", "owner", "prompt_text", "sql", "embedding", "embedding_model")
        )
        owners: dict[tuple[str, str], int] = {}
        self.owner_codes = np.array([owners.setdefault((r[0], r[1]), len(owners)) for r in rows], dtype=np.int32)
        self.owners = owners
        self.golden = [(r[2], r[3]) for r in rows]
        self.bm25 = Bm25([words(r[2]) for r in rows])
        model = embeddings.model()
        with_vectors = [r[4] if r[4] and r[5] == model else None for r in rows]
        self.vectors = None
        if model and any(v is not None for v in with_vectors):
            width = len(next(v for v in with_vectors if v is not None))
            self.vectors = np.zeros((len(rows), width), dtype=np.float32)
            for index, vector in enumerate(with_vectors):
                if vector is not None and len(vector) == width:
                    self.vectors[index] = vector
        self.tables = _Tables(tables)
        self.golden_tables = [self._tables_in(sql) for _, sql in self.golden]

    def _tables_in(self, sql: str) -> list[int]:
        found = []
        for match in _SQL_TABLE.finditer(sql):
            name = match.group(1).replace('"', "").replace("`", "").lower()
            index = self.tables.by_name.get(name, self.tables.by_name.get(name.rsplit(".", 1)[-1]))
            if index is not None and index not in found:
                found.append(index)
        return found

    def allowed(self, principal: Principal | None, data_source) -> set[int]:
        """Owner codes whose entries this principal's prompts use: its own and the data source owner's."""
        keys = {(data_source.tenant, data_source.owner)}
        if principal is not None:
            keys.add((principal.tenant, principal.user_id))
        return {self.owners[k] for k in keys if k in self.owners}

    def examples(self, question: str, allowed: set[int], k: int, question_vector=None) -> list[tuple[int, float]]:
        if not self.golden or k <= 0:
            return []
        mask = np.isin(self.owner_codes, list(allowed)) if allowed else np.zeros(len(self.golden), dtype=bool)
        vector_scores = None
        if self.vectors is not None and question_vector is not None:
            vector_scores = self.vectors @ np.asarray(question_vector, dtype=np.float32)
        return fused(self.bm25.scores(words(question)), vector_scores, k, mask)


_indexes: dict = {}
_lock = threading.Lock()


def _tables_for(data_source) -> tuple[list[dict], str]:
    """The scan's tables when the source was scanned, else the cached introspection with any
    descriptions people wrote laid over it."""
    scanned = list(
        TableDescription.objects.filter(data_source=data_source).exclude(status=TableDescription.Status.DEPRECATED)
        .values("schema_name", "table_name", "kind", "description", "row_count", "columns", "status")
    )
    if any(t["status"] == TableDescription.Status.SYNCHRONIZED for t in scanned):
        return [t for t in scanned if t["columns"]], "scan"
    from executor.errors import SqlError
    from executor.schema import get_schema

    try:
        tables = tables_from_introspection(get_schema(data_source))
    except SqlError:
        tables = []
    described = {(t["schema_name"], t["table_name"]): t for t in scanned}
    for table in tables:
        mine = described.get((table["schema_name"], table["table_name"])) or described.get(("", table["table_name"]))
        if mine:
            table["description"] = mine["description"] or table["description"]
            notes = {c.get("name"): c for c in mine["columns"] or []}
            for column in table["columns"]:
                note = notes.get(column["name"]) or {}
                column["description"] = note.get("description") or column["description"]
                column["categories"] = note.get("categories") or column["categories"]
    return tables, "introspection"


def index_for(data_source) -> ContextIndex:
    version = ContextState.objects.filter(pk=data_source.pk).values_list("version", flat=True).first() or 0
    key = (data_source.pk, data_source.schema_fingerprint, data_source.schema_refreshed_at)
    cached = _indexes.get(key)
    if cached is not None and cached.version == version:
        return cached
    tables, source = _tables_for(data_source)
    # get_schema may have introspected just now: key by what the row holds after it.
    key = (data_source.pk, data_source.schema_fingerprint, data_source.schema_refreshed_at)
    built = ContextIndex(data_source, version, tables, source)
    with _lock:
        for stale in [k for k in _indexes if k[0] == data_source.pk]:
            _indexes.pop(stale, None)
        if len(_indexes) >= 64:
            _indexes.pop(next(iter(_indexes)))
        _indexes[key] = built
    return built


def context_for(
    data_source, question: str | None, principal: Principal | None, *, schema_chars: int | None = None,
    examples: int | None = None,
) -> PromptContext:
    """What a prompt about `question` on `data_source` needs, as `principal` may see it."""
    index = index_for(data_source)
    question = question or ""
    allowed = index.allowed(principal, data_source)
    context = PromptContext()
    budget = INSTRUCTIONS_CHARS
    keys = {(data_source.tenant, data_source.owner)} | ({(principal.tenant, principal.user_id)} if principal else set())
    for tenant, owner, text in index.instructions:
        if (tenant, owner) in keys:
            text = text.strip()
            if text and len(text) <= budget:
                context.instructions.append(text)
                budget -= len(text)
    count = settings.CONTEXT_EXAMPLES if examples is None else examples
    vector = None
    if index.vectors is not None and question:
        found = embeddings.embed([question])
        vector = found[0] if found else None
    boosted: list[int] = []
    for position, score in index.examples(question, allowed, count, vector):
        prompt_text, sql = index.golden[position]
        context.examples.append(Example(prompt_text, sql[:EXAMPLE_SQL_CHARS], score))
        boosted.extend(i for i in index.golden_tables[position] if i not in boosted)
    engine = {"postgresql": "PostgreSQL", "sqlite": "SQLite", "mysql": "MySQL/MariaDB", "duckdb": "DuckDB"}.get(index.engine, index.engine)
    total = len(index.tables.tables)
    header = (
        f"{engine} database {index.name!r}: {total} tables/views, the most relevant to the question first. "
        "Format: table [notes] -- description: column type (PK, ->references, description, values: the only values it holds)."
    )
    order = index.tables.ranked(question, boosted)
    context.schema, context.tables = index.tables.render(order, schema_chars or settings.CONTEXT_SCHEMA_CHARS, header)
    return context
