"""Properties of the SQL guard over generated statements, without a database.

The corpus in sql_corpus.py pins known cases; these tests vary the same shapes (names, literals,
comments, whitespace, letter case, statement order) so a guard change that only handles the
spellings in the corpus fails here.
"""

import string
from functools import lru_cache

import pytest
import sqlglot
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlglot import exp
from sqlglot.tokens import TokenType

from executor.models import DataSource
from executor.services import NeedsConfirmation, classify, run_sql
from executor.sql_guard import READ, UNKNOWN, WRITE

# Parsing and classifying SQL text (data sources unsaved and unreachable): no app database involved.
pytestmark = pytest.mark.backend_independent

DIALECTS = ["postgresql", "sqlite"]
BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCRIPTS = settings(BOUNDED, max_examples=60)  # several statements per example: fewer examples, same time
PER_FORM = settings(BOUNDED, max_examples=8)  # times the number of forms

dialects = st.sampled_from(DIALECTS)


# --- names and literals ----------------------------------------------------------------------


@lru_cache(maxsize=None)
def _plain_identifier(name: str) -> bool:
    """A name both dialects tokenize as one ordinary identifier (not a keyword like `left`)."""
    for dialect in ("postgres", "sqlite"):
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(name)
        if len(tokens) != 1 or tokens[0].token_type != TokenType.VAR:
            return False
    return True


@lru_cache(maxsize=None)
def _user_function(name: str) -> bool:
    """A name sqlglot knows as no built-in function in either dialect, like a user's own procedure.

    Built-in names are left out here because the second half of the property (undeclared means
    read) does not hold for blocked built-ins; actions shadowing built-ins have their own test.
    """
    for dialect in ("postgres", "sqlite"):
        try:
            select = sqlglot.parse_one(f"SELECT {name}(1)", read=dialect)
        except sqlglot.errors.ParseError:
            return False
        if not isinstance(select.expressions[0], exp.Anonymous):
            return False
    return True


_letters = string.ascii_lowercase
identifiers = st.builds(
    str.__add__, st.sampled_from(_letters), st.text(alphabet=_letters + string.digits + "_", max_size=10)
).filter(_plain_identifier)
_words = st.text(alphabet=_letters, min_size=3, max_size=8)
action_names = st.builds(lambda a, b: f"{a}_{b}", _words, _words).filter(_user_function)
integers = st.integers(min_value=0, max_value=10**6).map(str)
# Literal text that looks like SQL: a statement boundary or comment inside quotes must stay text.
literal_text = st.text(alphabet="abcXYZ ;*/-()DROPTABLEdelete", max_size=30)
string_literals = literal_text.map(lambda text: "'" + text.replace("'", "''") + "'")
values = st.one_of(integers, string_literals, st.just("NULL"))


# --- reads -----------------------------------------------------------------------------------


@st.composite
def select_items(draw):
    column = draw(identifiers)
    return draw(st.sampled_from([column, f"count({column})", "count(*)", f"max({column})", f"{column} AS {column}_x"]))


@st.composite
def simple_selects(draw) -> list[str]:
    """SELECT ... FROM t [WHERE] [GROUP BY] [ORDER BY] [LIMIT], as tokens."""
    table = draw(identifiers)
    items = draw(st.lists(select_items(), min_size=1, max_size=4))
    tokens = ["SELECT", ", ".join(items), "FROM", table]
    if draw(st.booleans()):
        column, op, value = draw(identifiers), draw(st.sampled_from(["=", "<>", "<", ">="])), draw(values)
        tokens += ["WHERE", column, op, value]
        if draw(st.booleans()):
            tokens += ["AND", draw(identifiers), "IS NOT NULL"]
    if draw(st.booleans()):
        tokens += ["GROUP BY", "1"]
    if draw(st.booleans()):
        tokens += ["ORDER BY", draw(identifiers), draw(st.sampled_from(["ASC", "DESC"]))]
    if draw(st.booleans()):
        tokens += ["LIMIT", draw(integers)]
    return tokens


@st.composite
def reads(draw) -> list[str]:
    """Read-only queries both dialects accept: plain, joined, in a CTE, combined, VALUES."""
    base = draw(simple_selects())
    a, b, column = draw(identifiers), draw(identifiers), draw(identifiers)
    shape = draw(st.sampled_from(["plain", "cte", "union", "subquery", "join", "values"]))
    if shape == "cte":
        return ["WITH", f"{a}_cte", "AS", "(", *base, ")", "SELECT", "*", "FROM", f"{a}_cte"]
    if shape == "union":
        return ["SELECT", column, "FROM", a, draw(st.sampled_from(["UNION", "UNION ALL", "EXCEPT"])), "SELECT", column, "FROM", b]
    if shape == "subquery":
        return ["SELECT", "count(*)", "FROM", "(", *base, ")", "AS", "sub"]
    if shape == "join":
        return ["SELECT", f"x.{column}", "FROM", a, "x", "JOIN", b, "y", "ON", f"y.{column}", "=", f"x.{column}"]
    if shape == "values":
        return ["VALUES", "(", draw(values), ",", draw(values), ")"]
    return base


# --- writes ----------------------------------------------------------------------------------

BOTH, PG, LITE = ("postgresql", "sqlite"), ("postgresql",), ("sqlite",)

# (name, dialects it is valid in, tokens from names t/c/o, a literal v and a declared action a)
WRITE_FORMS = [
    ("insert values", BOTH, lambda t, c, o, v, a: ["INSERT INTO", t, "(", c, ")", "VALUES", "(", v, ")"]),
    ("insert select", BOTH, lambda t, c, o, v, a: ["INSERT INTO", t, "SELECT", "*", "FROM", o]),
    ("update", BOTH, lambda t, c, o, v, a: ["UPDATE", t, "SET", c, "=", v, "WHERE", o, "=", v]),
    ("delete all", BOTH, lambda t, c, o, v, a: ["DELETE FROM", t]),
    ("delete subquery", BOTH, lambda t, c, o, v, a: ["DELETE FROM", t, "WHERE", c, "IN", "(", "SELECT", c, "FROM", o, ")"]),
    ("drop table", BOTH, lambda t, c, o, v, a: ["DROP TABLE", t]),
    ("drop view", BOTH, lambda t, c, o, v, a: ["DROP VIEW IF EXISTS", t]),
    ("create table", BOTH, lambda t, c, o, v, a: ["CREATE TABLE", t, "(", c, "INT", ")"]),
    ("create index", BOTH, lambda t, c, o, v, a: ["CREATE INDEX", f"{t}_idx", "ON", t, "(", c, ")"]),
    ("create view", BOTH, lambda t, c, o, v, a: ["CREATE VIEW", t, "AS", "SELECT", c, "FROM", o]),
    ("alter add column", BOTH, lambda t, c, o, v, a: ["ALTER TABLE", t, "ADD COLUMN", c, "INT"]),
    ("alter rename", BOTH, lambda t, c, o, v, a: ["ALTER TABLE", t, "RENAME TO", o]),
    ("action call", BOTH, lambda t, c, o, v, a: ["SELECT", f"{a}(1, {v})"]),
    ("action in subquery", BOTH, lambda t, c, o, v, a: ["SELECT", "*", "FROM", "(", "SELECT", f"{a}(1)", ")", "AS", "s"]),
    ("action in where", BOTH, lambda t, c, o, v, a: ["SELECT", c, "FROM", t, "WHERE", c, "IN", "(", "SELECT", f"{a}(2)", ")"]),
    ("truncate", PG, lambda t, c, o, v, a: ["TRUNCATE", t]),
    ("truncate table cascade", PG, lambda t, c, o, v, a: ["TRUNCATE TABLE", t, "CASCADE"]),
    ("copy to stdout", PG, lambda t, c, o, v, a: ["COPY", t, "TO STDOUT"]),
    ("copy from stdin", PG, lambda t, c, o, v, a: ["COPY", t, "FROM STDIN"]),
    ("copy query to file", PG, lambda t, c, o, v, a: ["COPY", "(", "SELECT", c, "FROM", t, ")", "TO", "'/tmp/x'"]),
    ("call", PG, lambda t, c, o, v, a: ["CALL", f"{a}()"]),
    ("do block", PG, lambda t, c, o, v, a: ["DO", f"$$ BEGIN DELETE FROM {t}; END $$"]),
    ("select into", PG, lambda t, c, o, v, a: ["SELECT", "*", "INTO", o, "FROM", t]),
    ("lock table", PG, lambda t, c, o, v, a: ["LOCK TABLE", t, "IN ACCESS EXCLUSIVE MODE"]),
    ("set role", PG, lambda t, c, o, v, a: ["SET ROLE", c]),
    ("set parameter", PG, lambda t, c, o, v, a: ["SET", c, "=", "1"]),
    ("nextval", PG, lambda t, c, o, v, a: ["SELECT", f"nextval('{t}_seq')"]),
    ("setval in subquery", PG, lambda t, c, o, v, a: ["SELECT", c, "FROM", t, "WHERE", c, ">", "(", "SELECT", f"setval('{t}_seq', 1)", ")"]),
    ("for update", PG, lambda t, c, o, v, a: ["SELECT", c, "FROM", t, "FOR UPDATE"]),
    ("for share", PG, lambda t, c, o, v, a: ["SELECT", c, "FROM", t, "FOR SHARE SKIP LOCKED"]),
    ("cte delete", PG, lambda t, c, o, v, a: ["WITH", "d", "AS", "(", "DELETE FROM", t, "RETURNING", c, ")", "SELECT", "*", "FROM", "d"]),
    ("cte update", PG, lambda t, c, o, v, a: [
        "WITH", "u", "AS", "(", "UPDATE", t, "SET", c, "=", v, "RETURNING", "1", ")", "SELECT", "count(*)", "FROM", "u"]),
    ("second cte insert", PG, lambda t, c, o, v, a: [
        "WITH", "r", "AS", "(", "SELECT", "1", ")", ",", "i", "AS", "(", "INSERT INTO", t, "VALUES", "(", v, ")", "RETURNING", "*", ")",
        "SELECT", "*", "FROM", "r"]),
    ("replace", LITE, lambda t, c, o, v, a: ["REPLACE INTO", t, "VALUES", "(", v, ")"]),
    ("insert or replace", LITE, lambda t, c, o, v, a: ["INSERT OR REPLACE INTO", t, "VALUES", "(", v, ")"]),
    ("attach", LITE, lambda t, c, o, v, a: ["ATTACH DATABASE", "'/tmp/x.db'", "AS", o]),
    ("pragma assignment", LITE, lambda t, c, o, v, a: ["PRAGMA", c, "=", "1"]),
    ("vacuum", LITE, lambda t, c, o, v, a: ["VACUUM"]),
    ("with then delete", LITE, lambda t, c, o, v, a: [
        "WITH", "x", "AS", "(", "SELECT", "1", ")", "DELETE FROM", t, "WHERE", c, "IN", "(", "SELECT", "*", "FROM", "x", ")"]),
]
FORM_CASES = [(dialect, name, build) for name, valid_in, build in WRITE_FORMS for dialect in valid_in]


@st.composite
def writes(draw, dialect: str, build=None) -> tuple[list[str], list[str]]:
    """(tokens of a statement that changes data or the session, the declared actions)."""
    if build is None:
        build = draw(st.sampled_from([b for d, _, b in FORM_CASES if d == dialect]))
    action = draw(action_names)
    tokens = build(draw(identifiers), draw(identifiers), draw(identifiers), draw(values), action)
    return tokens, [action]


# --- disguises -------------------------------------------------------------------------------

comment_text = st.text(alphabet="abc XYZ;'\"-SELECTDROP", max_size=20)  # no */ or /*: those would end or nest it
separators = st.one_of(
    st.sampled_from([" ", "  ", "\t", "\n", " \r\n "]),
    comment_text.map(lambda text: f" /* {text} */ "),
    comment_text.map(lambda text: f"/*{text}*/"),
    comment_text.map(lambda text: f" -- {text}\n"),
)


def _is_literal(token: str) -> bool:
    return token.startswith(("'", "$$"))


@st.composite
def disguised(draw, tokens: list[str]) -> str:
    """The statement with comments or odd whitespace between its tokens and keywords in any case."""
    rnd = draw(st.randoms(use_true_random=False))
    parts = []
    for token in tokens:
        if not _is_literal(token):  # letter case of a quoted literal is data, not syntax
            token = "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in token)
        parts.append(token)
    text = parts[0]
    for part in parts[1:]:
        text += draw(separators) + part
    lead = draw(st.one_of(st.just(""), separators))
    trail = draw(st.sampled_from(["", ";", " ;", "; -- done\n", "/* end */"]))
    return lead + text + trail


def plain(tokens: list[str]) -> str:
    return " ".join(tokens)


# --- properties ------------------------------------------------------------------------------


@BOUNDED
@given(sql=st.text(max_size=200), dialect=dialects, actions=st.lists(st.text(max_size=12), max_size=3))
def test_any_text_gets_a_verdict_and_a_reason_never_an_exception(sql, dialect, actions):
    result = classify(sql, dialect=dialect, actions=actions)
    assert result.kind in (READ, WRITE, UNKNOWN)
    assert isinstance(result.reason, str) and result.reason


sql_fragments = st.sampled_from(
    ["SELECT", "FROM", "t", "*", ";", "'", "''", '"', "$$", "/*", "*/", "--", "\n", "(", ")", ",", "DELETE", "WITH", "AS",
     "INSERT", "INTO", "EXPLAIN", "ANALYZE", "PRAGMA", "=", "1", "nextval", "x", " ", "E'", "\\", "[", "]", "`"]
)


@BOUNDED
@given(parts=st.lists(sql_fragments, max_size=30), dialect=dialects)
def test_sql_shaped_garbage_gets_a_verdict_never_an_exception(parts, dialect):
    # Unbalanced quotes, comments and parentheses are where tokenizers throw.
    result = classify("".join(parts), dialect=dialect, actions=["issue_credit"])
    assert result.kind in (READ, WRITE, UNKNOWN)


@BOUNDED
@given(data=st.data(), dialect=dialects)
def test_generated_selects_are_reads(data, dialect):
    tokens = data.draw(reads())
    result = classify(plain(tokens), dialect=dialect, actions=["issue_credit"])
    assert result.kind == READ, (plain(tokens), result.reason)
    assert len(result.statements) == 1 and result.statements[0].returns_rows


@BOUNDED
@given(data=st.data(), dialect=dialects)
def test_comments_whitespace_and_case_do_not_change_a_read(data, dialect):
    sql = data.draw(disguised(data.draw(reads())))
    result = classify(sql, dialect=dialect, actions=[])
    assert result.kind == READ, (sql, result.reason)


@pytest.mark.parametrize(("dialect", "build"), [(d, b) for d, _, b in FORM_CASES], ids=[f"{d}-{n}" for d, n, _ in FORM_CASES])
@PER_FORM
@given(data=st.data())
def test_every_write_form_is_a_write_plain_disguised_and_between_reads(dialect, build, data):
    # Each form on its own, so none of them can go untested by chance.
    tokens, actions = data.draw(writes(dialect, build))
    result = classify(plain(tokens), dialect=dialect, actions=actions)
    assert result.kind == WRITE, (plain(tokens), result.reason)
    sql = data.draw(disguised(tokens))
    assert classify(sql, dialect=dialect, actions=actions).kind != READ, sql
    script = ";\n".join([plain(data.draw(reads())), sql.rstrip(";"), plain(data.draw(reads()))])
    assert classify(script, dialect=dialect, actions=actions).kind != READ, script


@SCRIPTS
@given(data=st.data(), dialect=dialects)
def test_a_write_anywhere_in_a_script_of_reads_makes_it_not_a_read(data, dialect):
    before = data.draw(st.lists(reads(), min_size=1, max_size=3))
    after = data.draw(st.lists(reads(), max_size=2))
    write, actions = data.draw(writes(dialect))
    statements = [data.draw(disguised(tokens)).rstrip(";") for tokens in [*before, write, *after]]
    sql = ";\n".join(statements)
    result = classify(sql, dialect=dialect, actions=actions)
    assert result.kind != READ, (sql, result.reason)
    if result.kind == WRITE:
        assert result.reason.startswith(f"statement {len(before) + 1} of {len(statements)}"), result.reason


@SCRIPTS
@given(data=st.data(), dialect=dialects)
def test_scripts_of_reads_split_into_their_statements(data, dialect):
    # A ';' inside a literal or a comment must not cut a statement in two (or hide a second one).
    scripts = data.draw(st.lists(reads(), min_size=1, max_size=4))
    sql = "; ".join(plain(tokens) for tokens in scripts)
    result = classify(sql, dialect=dialect, actions=[])
    assert result.kind == READ, (sql, result.reason)
    assert len(result.statements) == len(scripts)


@BOUNDED
@given(name=action_names, schema=st.one_of(st.none(), identifiers), quoted=st.booleans(), rnd=st.randoms(use_true_random=False),
       dialect=dialects)
def test_declared_actions_are_writes_however_they_are_spelt(name, schema, quoted, rnd, dialect):
    called = "".join(c.upper() if rnd.random() < 0.5 else c for c in name)
    if quoted:
        called = f'"{name}"'  # a quoted name keeps its case in SQL, so quote only the declared spelling
    if schema and dialect == "postgresql":
        called = f"{schema}.{called}"
    sql = f"SELECT {called}(1, 'x') AS result"
    declared = [name.upper() if rnd.random() < 0.5 else name]
    assert classify(sql, dialect=dialect, actions=declared).kind == WRITE, sql
    # The same call is a read when nobody declared it: the name, not the shape, makes it a write.
    assert classify(sql, dialect=dialect, actions=[]).kind == READ, sql


# --- the gate: anything not a read waits for a human ----------------------------------------


def unreachable_source(dialect: str) -> DataSource:
    """A data source nothing can connect to: if run_sql tried to run the text, it would fail with an
    SqlError instead of asking for confirmation."""
    url = "postgresql://nobody@127.0.0.1:1/none" if dialect == "postgresql" else "sqlite:////nonexistent-querent/none.sqlite3"
    return DataSource(name="unreachable", engine=dialect, connection_url=url, actions=["issue_credit"])


class WrongApproval:
    """Approves one text only; the engine passes the APPROVED Confirmation in the same way."""

    def __init__(self, sql: str):
        self.sql = sql

    def approves(self, sql: str) -> bool:
        return sql == self.sql


gate_inputs = st.one_of(
    st.text(min_size=1, max_size=120),
    st.lists(sql_fragments, min_size=1, max_size=20).map("".join),
)


@BOUNDED
@given(sql=gate_inputs, dialect=dialects)
def test_run_sql_asks_for_everything_the_guard_does_not_call_a_read(sql, dialect):
    assume(sql.strip())
    result = classify(sql, dialect=dialect, actions=["issue_credit"])
    assume(result.kind != READ)  # unknown and write alike
    source = unreachable_source(dialect)
    for approval in (None, WrongApproval(sql + " "), WrongApproval(sql.strip() + ";")):
        if approval is not None and approval.sql == sql:
            continue
        try:
            run_sql(source, sql, approval=approval)
        except NeedsConfirmation as exc:
            assert exc.sql == sql
        else:
            raise AssertionError(f"{result.kind} statement ran without confirmation: {sql!r}")


@BOUNDED
@given(data=st.data(), dialect=dialects)
def test_run_sql_asks_for_every_generated_write(data, dialect):
    tokens, actions = data.draw(writes(dialect))
    sql = data.draw(disguised(tokens))
    source = unreachable_source(dialect)
    source.actions = actions
    try:
        run_sql(source, sql)
    except NeedsConfirmation as exc:
        assert exc.sql == sql and exc.reason
    else:
        raise AssertionError(f"write ran without confirmation: {sql!r}")
