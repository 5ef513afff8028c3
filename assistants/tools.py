"""Tool schemas offered to the model (OpenAI function-calling format).

The description is the model's only documentation of the sandbox, so it spells out exactly what
`executor` can do and how answers should reference artifacts.
"""

EXECUTE_PYTHON_DESCRIPTION = """\
Run Python 3 code in a sandbox to answer questions from the user's database.

The code has a pre-defined object `executor` with these methods (each returns its value directly \
and is also awaitable, and top-level `await` works, e.g. `rows = await executor.run_sql("...")`):

- executor.run_sql(sql: str) -> list[dict]
    Runs one SQL statement against the user's database and returns the rows as dicts
    (column name -> value). Reads run in a read-only transaction with a row cap.
    Statements that change data (INSERT/UPDATE/DELETE, DDL, or a declared action function)
    pause until the user confirms them; if the user does not approve, run_sql raises an error
    that you should explain to the user instead of retrying.
- executor.store_artifact(identifier: str, title: str, artifact_type: str, data)
    Saves a result the user can see. artifact_type is one of:
      "table": data is a list of row dicts;
      "text":  data is a string;
      "chart": data is {"type": "line"|"bar"|"pie"|"scatter", "x": <column>, "y": <column>, "rows": [row dicts]}.
    Storing under an existing identifier replaces that artifact with a new version.
- executor.get_artifact(identifier: str)
    Returns the data of an artifact stored earlier in this conversation.
- executor.print(*args)
    Writes a line to the output you will read back. Print short summaries (counts, totals,
    a few sample values), not whole tables: you only see what is printed.

You do not see artifact contents, only what you print. In your answer, show an artifact by
writing <artifact identifier='the_identifier' /> on its own line, and never state numbers or
observations you did not print.\
"""

EXECUTE_PYTHON = {
    "type": "function",
    "function": {
        "name": "execute_python",
        "description": EXECUTE_PYTHON_DESCRIPTION,
        "parameters": {
            "type": "object",
            "properties": {
                "python_code": {
                    "type": "string",
                    "description": "The Python code to run. Use the `executor` object described above.",
                }
            },
            "required": ["python_code"],
        },
    },
}

RETRIEVAL = {
    "type": "function",
    "function": {
        "name": "retrieval",
        "description": (
            "Look up information in the documents uploaded to this assistant or conversation. Returns the most "
            "relevant passages with their document titles; answer from them and say which document you used."
        ),
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "what to look for, in a few words"}},
            "required": ["query"],
        },
    },
}
