"""Messages in langchain's dict shape, as OpenGPTs returns them (seed 002)."""

import json

from .. import artifact_text
from ..models import Message

LANGCHAIN_TYPES = {Message.Role.HUMAN: "human", Message.Role.AI: "ai", Message.Role.TOOL: "tool", Message.Role.SYSTEM: "system"}
ROLE_FROM_TYPE = {"human": Message.Role.HUMAN, "user": Message.Role.HUMAN, "system": Message.Role.SYSTEM}


def _args(call: dict) -> dict:
    try:
        parsed = json.loads(call.get("arguments") or "{}")
        return parsed if isinstance(parsed, dict) else {"value": parsed}
    except ValueError:
        return {}


def langchain_dict(*, message_id, role: str, content: str, tool_calls=None, tool_call_id: str = "", name: str = "", usage=None) -> dict:
    kind = LANGCHAIN_TYPES[role]
    base = {
        "content": content,
        "additional_kwargs": {},
        "response_metadata": {},
        "type": kind,
        "name": name or None,
        "id": str(message_id),
        "example": False,
    }
    if kind == "ai":
        if content and not tool_calls:  # a final answer, as upstream's agent records it (seed 002)
            base["additional_kwargs"]["agent"] = {"return_values": {"output": content}, "log": content, "type": "AgentFinish"}
        base["tool_calls"] = [{"name": c["name"], "args": _args(c), "id": c["id"], "type": "tool_call"} for c in (tool_calls or [])]
        base["invalid_tool_calls"] = []
        base["usage_metadata"] = usage
    elif kind == "tool":
        base["tool_call_id"] = tool_call_id
    return base


def from_message(message: Message, artifacts: dict | None = None) -> dict:
    """`artifacts` (threads.artifact_text.artifacts_of): tags in the text become tables."""
    content = artifact_text.render(message.content, artifacts) if artifacts and artifact_text.has_tags(message.content) else message.content
    return langchain_dict(
        message_id=message.id, role=message.role, content=content, tool_calls=message.tool_calls,
        tool_call_id=message.tool_call_id, name=message.name, usage=(message.metadata or {}).get("usage"),
    )


def _text_of_parts(parts: list, where: str) -> str:
    """A string part is text, an object's `text` is (other objects, such as images, are skipped)."""
    texts = []
    for number, part in enumerate(parts):
        text = part if isinstance(part, str) else part.get("text", "") if isinstance(part, dict) else None
        if not isinstance(text, str):
            raise ValueError(f"{where}[{number}] must be a string or an object whose text is a string")
        texts.append(text)
    return "".join(texts)


def parse_input_messages(raw) -> list[tuple[str, str]]:
    """OpenGPTs input: a list of messages or {"messages": [...]}; each {"content", "type"}. Returns (role, content)."""
    if isinstance(raw, dict):
        raw = raw.get("messages", [])
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("input must be a list of messages or {\"messages\": [...]}")
    parsed = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"input[{index}] must be an object with content and type")
        kind = item.get("type", "human")
        content = item.get("content")
        if kind not in ROLE_FROM_TYPE:
            raise ValueError(f"input[{index}].type must be human or system, not {kind!r}")
        if isinstance(content, list):  # langchain's content parts
            content = _text_of_parts(content, f"input[{index}].content")
        if not isinstance(content, str):
            raise ValueError(f"input[{index}].content must be a string")
        parsed.append((ROLE_FROM_TYPE[kind], content))
    return parsed
