"""Classify SQL as read, write or unknown before anything reaches the database.

The guard is the first of two locks: reads also run in a transaction the database itself keeps
read-only, so a statement the guard misjudges as a read is refused there. The guard exists for
what a read-only transaction does not stop: session changes (SET ROLE, set_config), sequence
bumps, declared actions, server files and programs (COPY ... PROGRAM, pg_read_file), other
connections (dblink) and functions that run SQL text the guard cannot see (query_to_xml).
Anything it does not recognise is "unknown", which callers treat exactly like a write.
"""

import logging
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from .guard_dialects import REPORT_NODES, duckdb_refusal, mysql_refusal

READ, WRITE, UNKNOWN = "read", "write", "unknown"

# sqlglot logs a warning for every statement it keeps as an opaque Command; those are expected here.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

DIALECTS = {"postgresql": "postgres", "postgres": "postgres", "sqlite": "sqlite", "mysql": "mysql", "duckdb": "duckdb"}

# Roots that can only read, provided nothing inside them writes.
_QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)

# Any of these anywhere in the tree makes the statement a write (data-modifying CTEs included).
_WRITE_NODES: tuple[type, ...] = tuple(
    getattr(exp, name)
    for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable", "Copy",
        "Set", "Transaction", "Commit", "Rollback", "Grant", "Revoke", "Comment", "Analyze",
        "Attach", "Detach", "Use", "LoadData", "Cache", "Uncache", "Refresh", "Kill", "Execute",
        "Declare", "Into", "Lock", "Export", "Put", "Install", "Command",
    )
    if hasattr(exp, name)
)
_NODE_LABELS = {"Into": "SELECT ... INTO", "Lock": "row locking (FOR UPDATE/SHARE)", "TruncateTable": "TRUNCATE"}

# Functions that change state a read-only transaction does not protect, read server files,
# reach other servers, or run SQL given as text. Matched case-insensitively, schema ignored.
BLOCKED_FUNCTIONS = frozenset(
    {
        "nextval", "setval", "set_config", "pg_notify", "txid_current", "pg_current_xact_id",
        "pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_ls_dir", "pg_logdir_ls",
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
        "pg_switch_wal", "pg_switch_xlog", "pg_promote", "pg_import_system_collations",
        "pg_log_backend_memory_contexts", "pg_start_backup", "pg_stop_backup",
        "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema",
        "cursor_to_xml", "cursor_to_xmlschema", "ts_stat", "ts_rewrite", "loread", "lowrite",
        # SQLite
        "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
    }
)
BLOCKED_PREFIXES = (
    "dblink", "lo_", "pg_ls_", "pg_read_", "pg_file_", "pg_stat_reset", "pg_advisory", "pg_try_advisory",
    "pg_create_", "pg_drop_", "pg_copy_", "pg_replication_", "pg_logical_", "pg_wal_replay", "pg_backup_",
)

# Commands sqlglot keeps opaque. Known verbs give a precise reason; all of them count as writes.
_WRITE_VERBS = frozenset(
    {
        "ALTER", "ANALYZE", "ATTACH", "BEGIN", "CALL", "CHECKPOINT", "CLUSTER", "COMMENT", "COMMIT",
        "COPY", "CREATE", "DEALLOCATE", "DECLARE", "DELETE", "DETACH", "DISCARD", "DO", "DROP", "END",
        "EXECUTE", "FETCH", "GRANT", "IMPORT", "INSERT", "LISTEN", "LOAD", "LOCK", "MERGE", "MOVE",
        "NOTIFY", "PREPARE", "REASSIGN", "REFRESH", "REINDEX", "RELEASE", "REPLACE", "RESET", "REVOKE",
        "ROLLBACK", "SAVEPOINT", "SECURITY", "SET", "START", "TRUNCATE", "UNLISTEN", "UPDATE", "VACUUM",
        "ABORT", "CLOSE",
        # MySQL / MariaDB / DuckDB
        "HANDLER", "FLUSH", "KILL", "SHUTDOWN", "INSTALL", "UNINSTALL", "RENAME", "OPTIMIZE", "REPAIR",
        "PURGE", "XA", "USE", "CACHE", "BINLOG", "EXPORT", "FORCE", "DETACH", "CHANGE", "BACKUP", "RESTORE",
    }
)
_READ_VERBS = frozenset({"SHOW"})
# SQLite pragmas that only report. sqlglot parses `PRAGMA table_info(t)` and `PRAGMA x = y` alike,
# so the name decides; every other pragma may change the connection or the file.
READ_PRAGMAS = frozenset(
    {
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
        "foreign_key_list", "foreign_key_check", "database_list", "collation_list", "function_list",
        "module_list", "pragma_list", "compile_options", "integrity_check", "quick_check",
    }
)
_EXPLAIN_OPTIONS = re.compile(r"^\s*(\((?:[^()]|\([^()]*\))*\)\s*)?((?:ANALY[SZ]E|VERBOSE|QUERY\s+PLAN)\b\s*)*", re.I)


@dataclass(frozen=True)
class Statement:
    sql: str  # the statement's own text, cut from the original at the guard's statement boundaries
    kind: str
    reason: str
    returns_rows: bool  # a query (SELECT/VALUES/set operation) that a server-side cursor can stream


@dataclass(frozen=True)
class Classification:
    kind: str  # read | write | unknown
    reason: str
    statements: tuple[Statement, ...] = ()

    @property
    def is_read(self) -> bool:
        return self.kind == READ


def classify(sql: str, *, dialect: str, actions: list[str] | tuple[str, ...] = ()) -> Classification:
    """Classify `sql` (one or many statements) in `dialect`; the most dangerous statement decides."""
    sqlglot_dialect = DIALECTS.get(dialect, dialect)
    action_names = frozenset(_bare_name(a) for a in actions if a)
    try:
        statements = _split_and_classify(sql, sqlglot_dialect, action_names)
    except Exception as exc:  # sqlglot raises several error types; any of them means "not understood"
        return Classification(UNKNOWN, f"could not parse the statement: {_first_line(exc)}")
    if not statements:
        return Classification(UNKNOWN, "no SQL statement found")
    for wanted in (WRITE, UNKNOWN):
        for index, statement in enumerate(statements):
            if statement.kind == wanted:
                where = f"statement {index + 1} of {len(statements)}: " if len(statements) > 1 else ""
                return Classification(wanted, where + statement.reason, tuple(statements))
    return Classification(READ, "read-only query", tuple(statements))


def _split_and_classify(sql: str, dialect: str, actions: frozenset[str]) -> list[Statement]:
    dialect_obj = sqlglot.Dialect.get_or_raise(dialect)
    tokens = dialect_obj.tokenize(sql)
    groups: list[tuple[list, int, int]] = []
    current: list = []
    start = 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if current:
                groups.append((current, start, token.start))
            current, start = [], token.end + 1
        else:
            current.append(token)
    if current:
        groups.append((current, start, len(sql)))

    statements = []
    for group, begin, end in groups:
        verb = group[0].text.upper()
        called = _call_by_name(group, actions)
        if called:  # a write whatever the parser makes of the rest
            statements.append(Statement(sql[begin:end].strip(), WRITE, called, False))
            continue
        hidden = mysql_refusal(sql[begin:end], group) if dialect == "mysql" else None
        if hidden:  # code the parse tree does not show as code (executable comments, UDFs, server files)
            statements.append(Statement(sql[begin:end].strip(), hidden[0], hidden[1], False))
            continue
        try:
            trees = [tree for tree in dialect_obj.parser().parse(group, sql) if tree is not None]
        except Exception as exc:  # one unparseable statement makes only itself unknown
            kind, reason = (WRITE, f"{verb} changes data or the session") if verb in _WRITE_VERBS else (
                UNKNOWN, f"could not parse the statement: {_first_line(exc)}")
            statements.append(Statement(sql[begin:end].strip(), kind, reason, False))
            continue
        if not trees:
            continue
        kind, reason = READ, "read-only query"
        outside = dialect == "duckdb" and next(filter(None, (duckdb_refusal(t, group) for t in trees)), None)
        if outside:  # a file or URL, which the connection refuses too
            statements.append(Statement(sql[begin:end].strip(), WRITE, outside, False))
            continue
        for tree in trees:
            tree_kind, tree_reason = _classify_tree(tree, dialect, actions)
            if _RANK[tree_kind] > _RANK[kind]:
                kind, reason = tree_kind, tree_reason
        if kind == UNKNOWN and verb in _WRITE_VERBS:  # e.g. LISTEN, DISCARD parse as a bare column
            kind, reason = WRITE, f"{verb} changes data or the session"
        returns_rows = len(trees) == 1 and isinstance(trees[0], _QUERY_ROOTS)
        statements.append(Statement(sql[begin:end].strip(), kind, reason, returns_rows))
    return statements


_RANK = {READ: 0, UNKNOWN: 1, WRITE: 2}


def _classify_tree(tree: exp.Expr, dialect: str, actions: frozenset[str], depth: int = 0) -> tuple[str, str]:
    if isinstance(tree, exp.Semicolon):
        return READ, "empty statement"
    if isinstance(tree, exp.Command):
        return _classify_command(tree, dialect, actions, depth)
    if isinstance(tree, exp.Pragma):
        return _classify_pragma(tree)
    if isinstance(tree, exp.Describe) and dialect in ("mysql", "duckdb") and depth < 3 and isinstance(tree.this, exp.Expr):
        # DESCRIBE t / EXPLAIN query (not EXPLAIN ANALYZE, which runs it)
        inner = tree.this
        if isinstance(inner, exp.Table) and not any(isinstance(n, (exp.Func, exp.Literal)) for n in inner.walk()):
            return READ, "read-only description"
        if isinstance(inner, _QUERY_ROOTS) and not tree.args.get("style"):
            kind, reason = _classify_tree(inner, dialect, actions, depth + 1)
            return kind, (reason if kind != READ else "read-only description")
        return UNKNOWN, "unrecognised statement (DESCRIBE/EXPLAIN of this form)"
    if isinstance(tree, REPORT_NODES) and not any(isinstance(n, _WRITE_NODES) for n in tree.walk()):
        return READ, "read-only command"
    for node in tree.walk():
        if isinstance(node, _WRITE_NODES):
            if isinstance(node, exp.Command):
                return _classify_command(node, dialect, actions, depth)
            name = type(node).__name__
            return WRITE, f"{_NODE_LABELS.get(name, name.upper())} changes data or the session"
        if isinstance(node, exp.Func):
            verdict = _classify_function(node, actions)
            if verdict:
                return WRITE, verdict
    if isinstance(tree, _QUERY_ROOTS):
        return READ, "read-only query"
    return UNKNOWN, f"unrecognised statement ({type(tree).__name__})"


_NOT_NAMES = frozenset({TokenType.STRING, TokenType.NUMBER, TokenType.NATIONAL_STRING, TokenType.BIT_STRING,
                        TokenType.HEX_STRING, TokenType.BYTE_STRING, TokenType.RAW_STRING, TokenType.HEREDOC_STRING})


def _call_by_name(tokens: list, actions: frozenset[str]) -> str | None:
    """A declared or blocked function called in these tokens, found by the name as written.

    The parse tree is not enough on its own: sqlglot turns built-in names into its own functions
    (`substr(` becomes SUBSTRING), so an action that shadows a built-in would pass as a read.
    """
    for token, following in zip(tokens, tokens[1:]):
        if following.token_type != TokenType.L_PAREN or token.token_type in _NOT_NAMES:
            continue
        verdict = _function_verdict(token.text.lower(), actions)
        if verdict:
            return verdict
    return None


def _classify_function(node: exp.Func, actions: frozenset[str]) -> str | None:
    return _function_verdict((node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower(), actions)


def _function_verdict(name: str, actions: frozenset[str]) -> str | None:
    if name in actions:
        return f"calls {name}, a declared action that changes data"
    if name in BLOCKED_FUNCTIONS or name.startswith(BLOCKED_PREFIXES):
        return f"calls {name}, which changes state or reaches outside the database"
    return None


def _classify_command(node: exp.Command, dialect: str, actions: frozenset[str], depth: int) -> tuple[str, str]:
    verb = str(node.this or "").upper()
    if verb == "EXPLAIN" and depth < 3:
        # EXPLAIN ANALYZE runs its statement, and planning may evaluate functions: judge the inner one.
        rest = node.expression.name if node.expression else ""
        inner = _EXPLAIN_OPTIONS.sub("", rest, count=1)
        try:
            trees = [t for t in sqlglot.parse(inner, dialect=dialect) if t is not None]
        except Exception as exc:
            return UNKNOWN, f"could not parse the explained statement: {_first_line(exc)}"
        if len(trees) != 1:
            return UNKNOWN, "EXPLAIN of something other than one statement"
        kind, reason = _classify_tree(trees[0], dialect, actions, depth + 1)
        return kind, (reason if kind != READ else "read-only query")
    if verb in _READ_VERBS:
        return READ, "read-only command"
    if verb in _WRITE_VERBS:
        return WRITE, f"{verb} changes data or the session"
    return UNKNOWN, f"unrecognised command {verb or '?'}"


def _classify_pragma(node: exp.Pragma) -> tuple[str, str]:
    target = node.this.this if isinstance(node.this, exp.EQ) else node.this
    if isinstance(target, exp.Dot):  # schema.pragma
        target = target.expression
    name = (target.name if target is not None else "").lower()
    if name in READ_PRAGMAS:
        return READ, "read-only pragma"
    return WRITE, f"PRAGMA {name or '?'} may change the database or connection"


def _bare_name(name: str) -> str:
    return name.strip().strip('"').rsplit(".", 1)[-1].strip('"').lower()


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
