"""What the SQL guard must know about MySQL/MariaDB and DuckDB beyond what sqlglot parses.

MySQL runs code the parser does not see as code: executable comments (`/*! ... */`, MariaDB's
`/*M! ... */`) and functions that may be user-defined (a UDF is a shared library on the server and
can do anything). So in the MySQL dialect a function call is a read only when its name, as written,
is a built-in known to compute a value; any other name is unknown (a write until approved).
DuckDB reaches files and the network through table functions and file names used as tables; the
connection refuses them too (enable_external_access=false), the guard names them first.
"""

import re

from sqlglot import exp
from sqlglot.tokens import TokenType

# MariaDB's information_schema.SQL_FUNCTIONS (10.11) and the common MySQL 8 built-ins it does not
# list (keyword-named ones such as IF, LEFT, DATE are tokens of their own and never reach this list),
# without those that reach files, wait on other sessions or change session state.
MYSQL_BUILTINS = frozenset(
    """
    abs acos adddate addtime add_months aes_decrypt aes_encrypt any_value ascii asin atan atan2 avg bin
    bit_and bit_count bit_length bit_or bit_xor cast ceil ceiling char char_length character_length charset chr
    coalesce coercibility collation connection_id current_role column_check column_exists column_json column_list compress concat concat_ws
    conv convert convert_tz cos cot count crc32 crc32c cume_dist curdate current_date current_time
    current_timestamp current_user curtime database date date_add date_format date_sub datediff day dayname
    dayofmonth dayofweek dayofyear decode degrees dense_rank elt encode exp export_set extract extractvalue field
    find_in_set first_value floor format found_rows from_base64 from_days from_unixtime greatest group_concat
    grouping hex hour if ifnull inet6_aton inet6_ntoa inet_aton inet_ntoa instr is_free_lock is_ipv4
    is_ipv4_compat is_ipv4_mapped is_ipv6 is_used_lock isnull json_array json_arrayagg json_array_append
    json_array_insert json_compact json_contains json_contains_path json_depth json_detailed json_equals
    json_exists json_extract json_insert json_keys json_length json_loose json_merge json_merge_patch
    json_merge_preserve json_normalize json_object json_objectagg json_overlaps json_pretty json_query
    json_quote json_remove json_replace json_search json_set json_table json_type json_unquote json_valid
    json_value lag last_day last_value lcase lead least left length lengthb ln localtime localtimestamp locate
    log log10 log2 lower lpad ltrim makedate maketime make_set max md5 median microsecond mid min minute mod
    month monthname natural_sort_key now nth_value ntile nullif nvl nvl2 oct octet_length ord percent_rank
    percentile_cont percentile_disc period_add period_diff pi position pow power quarter quote radians rand
    random_bytes rank regexp_instr regexp_like regexp_replace regexp_substr repeat replace reverse right round
    row_count row_number rpad rtrim schema sec_to_time second session_user sformat sha sha1 sha2 sign sin sleep
    soundex space sqrt std stddev stddev_pop stddev_samp str_to_date strcmp subdate substr substring
    substring_index subtime sum sysdate system_user tan time time_format time_to_sec timediff timestamp
    timestampadd timestampdiff to_base64 to_char to_days to_seconds trim truncate ucase uncompress
    uncompressed_length unhex unix_timestamp upper user utc_date utc_time utc_timestamp uuid uuid_short values
    var_pop var_samp variance version week weekday weekofyear year yearweek
    """.split()
)

# Reach server files or other sessions, or change session state a read-only transaction keeps.
MYSQL_BLOCKED = frozenset(
    {
        "load_file", "benchmark", "get_lock", "release_lock", "release_all_locks", "master_pos_wait",
        "master_gtid_wait", "source_pos_wait", "last_insert_id", "sys_exec", "sys_eval", "binlog_gtid_pos",
        "wsrep_sync_wait_upto_gtid", "nextval", "setval", "lastval",
    }
)

# DuckDB table functions that open files or URLs, and functions that read the environment.
DUCKDB_BLOCKED = frozenset({"glob", "getenv", "sniff_csv", "parquet_scan", "parquet_metadata", "parquet_schema",
                            "parquet_file_metadata", "parquet_kv_metadata", "sqlite_scan", "sqlite_attach",
                            "postgres_scan", "postgres_attach", "mysql_scan", "iceberg_scan", "delta_scan",
                            "query_table", "query"})
DUCKDB_BLOCKED_PREFIXES = ("read_", "csv_", "json_read", "httpfs", "sqlite_", "postgres_", "mysql_")

_EXECUTABLE_COMMENT = re.compile(r"/\*M?!")
_FILE_TARGETS = {"OUTFILE", "DUMPFILE"}

# Statements that only report, in both dialects (DESCRIBE/EXPLAIN of a query is judged by its query).
REPORT_NODES = tuple(getattr(exp, name) for name in ("Show", "Summarize") if hasattr(exp, name))


def mysql_refusal(text: str, tokens: list) -> tuple[str, str] | None:
    """(kind, reason) when a MySQL statement does more than its parse tree shows, else None."""
    if _EXECUTABLE_COMMENT.search(text):
        return "unknown", "executable comments (/*! ... */) run as SQL in MySQL and MariaDB"
    previous = None
    for index, (token, following) in enumerate(zip(tokens, tokens[1:] + [None])):
        word = token.text.upper()
        if previous is not None and previous.token_type == TokenType.INTO and word in _FILE_TARGETS:
            return "write", f"SELECT ... INTO {word} writes a file on the database server"
        if following is not None and following.token_type == TokenType.L_PAREN and token.token_type == TokenType.VAR:
            name = token.text.lower()
            qualified = previous is not None and previous.token_type == TokenType.DOT
            if name in MYSQL_BLOCKED:
                return "write", f"calls {name}, which changes state or reaches outside the database"
            if (qualified or name not in MYSQL_BUILTINS) and not _names_a_column_list(tokens, index):
                return "unknown", (
                    f"calls {name}, which is not a MySQL built-in function: a stored or user-defined function "
                    "may change data or reach outside the database"
                )
        previous = token
    return None


def _names_a_column_list(tokens: list, index: int) -> bool:
    """`INSERT INTO t (a)`, `CREATE TABLE t (`, or a CTE's `t (a, b) AS (`: a name before a column list."""
    if index and tokens[index - 1].token_type in (TokenType.INTO, TokenType.TABLE, TokenType.VIEW):
        return True
    depth = 0
    for position in range(index + 1, len(tokens)):
        kind = tokens[position].token_type
        depth += 1 if kind == TokenType.L_PAREN else -1 if kind == TokenType.R_PAREN else 0
        if depth == 0:
            after = tokens[position + 1 : position + 3]
            return [t.token_type for t in after] == [TokenType.ALIAS, TokenType.L_PAREN]
    return False


def duckdb_refusal(tree: exp.Expr, tokens: list) -> str | None:
    """Why a DuckDB statement reaches outside its database (a file or URL), else None. A string
    used as a table (`FROM '/etc/passwd'`) is a file scan in DuckDB; sqlglot makes it an identifier,
    so the tokens tell it apart from a quoted table name."""
    strings = {t.text for t in tokens if t.token_type == TokenType.STRING}
    for node in tree.walk():
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) and node.this.quoted and node.name in strings:
            return "reads a file or URL named as a table"
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in DUCKDB_BLOCKED or name.startswith(DUCKDB_BLOCKED_PREFIXES):
                return f"calls {name}, which reads files or the network outside the data source"
    return None
