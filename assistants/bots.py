"""What an assistant's run may use: its bot type and tools (OpenGPTs' three bot types), and the
tool catalogue the OpenGPTs frontend offers.

- `chatbot`: the model alone, no tools.
- `chat_retrieval` (OpenGPTs' RAGBot): no tools; each question is first looked up in the
  assistant's and the thread's documents and the passages found go into the prompt.
- `agent` (the default, and every assistant made outside OpenGPTs): the tools selected in
  `type==agent/tools` that Querent has; when none is selected (or only tools Querent does not
  have, such as OpenGPTs' web searches), SQL/Python, plus retrieval when there are documents.
"""

BOT_TYPES = ("agent", "chatbot", "chat_retrieval")
EXECUTE_PYTHON, RETRIEVAL = "execute_python", "retrieval"

# The frontend's tool picker reads name, type, description, config and multi_use of each.
CATALOGUE = [
    {
        "type": EXECUTE_PYTHON, "name": "SQL and Python (Querent)",
        "description": "Query the assistant's database with SQL and analyse the rows with Python in a sandbox; "
        "changes to data wait for your approval.",
        "multi_use": False,
    },
    {"type": RETRIEVAL, "name": "Retrieval", "description": "Look up information in uploaded files.", "multi_use": False},
]
_BY_NAME = {key.lower(): tool["type"] for tool in CATALOGUE for key in (tool["type"], tool["name"])}


def configurable(assistant) -> dict:
    config = (assistant.config or {}) if assistant is not None else {}
    value = config.get("configurable") if isinstance(config, dict) else None
    return value if isinstance(value, dict) else {}


def bot_type(assistant) -> str:
    kind = configurable(assistant).get("type")
    return kind if kind in BOT_TYPES else "agent"


def selected_tools(assistant) -> set[str]:
    """The Querent tools named in the assistant's tool list (strings or the frontend's objects)."""
    names = set()
    for item in (assistant.tools if assistant is not None else None) or []:
        keys = [item] if isinstance(item, str) else [item.get("type"), item.get("name")] if isinstance(item, dict) else []
        names.update(_BY_NAME[key.lower()] for key in keys if isinstance(key, str) and key.lower() in _BY_NAME)
    return names


def tools_for_run(assistant, *, has_documents: bool) -> set[str]:
    kind = bot_type(assistant)
    if kind != "agent":
        return set()
    chosen = selected_tools(assistant)
    if chosen:
        return chosen
    return {EXECUTE_PYTHON, RETRIEVAL} if has_documents else {EXECUTE_PYTHON}


def retrieves_first(assistant, run_config: dict) -> bool:
    """Look the question up before the model answers: a RAGBot always, a Julep chat when its
    session asked to recall (the default)."""
    return bot_type(assistant) == "chat_retrieval" or bool((run_config or {}).get("recall_documents"))
