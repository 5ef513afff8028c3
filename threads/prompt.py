"""What the model sees: instructions, the data source's schema, and the thread's history."""

import json

from assistants import bots
from assistants.tools import EXECUTE_PYTHON, RETRIEVAL

from .models import Message, Thread
from .store import store

GUIDANCE = """You answer questions about the user's data by calling the `execute_python` tool.
Inside it, `executor.run_sql(sql)` returns a list of row dicts from the user's {engine} database,
`executor.store_artifact(identifier, title, 'table'|'text'|'chart', data)` shows a result to the user,
and `executor.print(...)` sends text back to you. Statements that change data wait for the user's
explicit approval; if the user declines, explain and continue without the change.
You cannot see stored artifacts' full data: refer to them in your answer as
<artifact identifier='...' /> and do not invent values you have not printed."""

# The model sees a compact tool result; the full one is in the event log for clients.
TOOL_RESULT_SAMPLE_ROWS = 20


def system_prompt(instructions: str, engine: str | None, schema: str | None, context: str = "") -> str:
    """`context`: the data source's rules and verified examples (executor.context), after the guidance."""
    parts = [instructions.strip()] if instructions.strip() else []
    parts.append(GUIDANCE.format(engine=engine or "SQL"))
    if context:
        parts.append(context)
    if schema:
        parts.append("Database schema:\n" + schema)
    else:
        parts.append("No database is connected to this assistant; say so if the question needs data.")
    return "\n\n".join(parts)


def compact_tool_result(output: dict) -> str:
    statements = [
        {"sql": s["sql"], "row_count": len(s["result"]), "first_rows": s["result"][:TOOL_RESULT_SAMPLE_ROWS]}
        for s in output.get("sql_statements", [])
    ]
    compact = {
        "output": output.get("output", ""),
        "error": output.get("error"),
        "sql_statements": statements,
        "modified_artifacts": [
            {"identifier": a["identifier"], "title": a.get("title"), "artifact_type": a.get("artifact_type")}
            for a in output.get("modified_artifacts", [])
        ],
    }
    return json.dumps(compact, default=str)


def history_messages(thread: Thread, after_seq: int | None = None) -> list[dict]:
    """The thread's messages as chat messages; with `after_seq`, only the later ones (what came
    before is summarised or dropped by the dialect: a Julep session's token budget)."""
    messages = []
    for message in store.history(thread.pk, after_seq):
        if message.role == Message.Role.HUMAN:
            messages.append({"role": "user", "content": message.content})
        elif message.role == Message.Role.SYSTEM:
            messages.append({"role": "system", "content": message.content})
        elif message.role == Message.Role.AI:
            entry = {"role": "assistant", "content": message.content or None}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call.get("arguments") or json.dumps(call.get("args", {}))}}
                    for call in message.tool_calls
                ]
            messages.append(entry)
        elif message.role == Message.Role.TOOL:
            messages.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content})
    return messages


def tools_for(assistant, *, has_documents: bool = False) -> list[dict]:
    """The tool schemas a run of `assistant` offers (assistants.bots decides which)."""
    offered = bots.tools_for_run(assistant, has_documents=has_documents)
    return [schema for name, schema in ((bots.EXECUTE_PYTHON, EXECUTE_PYTHON), (bots.RETRIEVAL, RETRIEVAL)) if name in offered]
