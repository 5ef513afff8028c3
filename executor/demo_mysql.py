"""The Chinook demo in a MySQL / MariaDB database, with `issue_credit` as a stored function."""

from urllib.parse import unquote, urlsplit

import pymysql

from .demo import TABLE_NAMES, TABLES, _create_tables_sql, demo_data, expected_counts

MYSQL_ISSUE_CREDIT = """
CREATE FUNCTION issue_credit(p_customer_id INTEGER, p_amount DECIMAL(10,2)) RETURNS INTEGER
MODIFIES SQL DATA NOT DETERMINISTIC
COMMENT 'Gives a customer store credit; returns the new credit id.'
BEGIN
    INSERT INTO credit (customer_id, amount) VALUES (p_customer_id, p_amount);
    RETURN LAST_INSERT_ID();
END
"""


def _connect(url: str):
    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname, port=parts.port or 3306, user=unquote(parts.username or ""),
        password=unquote(parts.password or ""), database=unquote(parts.path.lstrip("/")), charset="utf8mb4",
        connect_timeout=10, autocommit=False, local_infile=False,
    )


def _is_complete(cur) -> bool:
    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
    present = {row[0] for row in cur.fetchall()}
    if not set(TABLE_NAMES) <= present:
        return False
    for table, count in expected_counts().items():
        cur.execute(f"SELECT count(*) FROM `{table}`")
        if cur.fetchone()[0] != count:
            return False
    cur.execute("SELECT 1 FROM information_schema.routines WHERE routine_schema = DATABASE() AND routine_name = 'issue_credit'")
    return cur.fetchone() is not None


def load_mysql(url: str, *, force: bool = False) -> None:
    """Build Chinook in the (existing, dedicated) database the URL names. Idempotent unless `force`."""
    data = demo_data()
    conn = _connect(url)
    try:
        with conn.cursor() as cur:
            if not force and _is_complete(cur):
                return
            cur.execute("SET FOREIGN_KEY_CHECKS = 0")  # rows arrive table by table, keys checked at the end by the data itself
            cur.execute("DROP FUNCTION IF EXISTS issue_credit")
            cur.execute("DROP TABLE IF EXISTS " + ", ".join(f"`{t}`" for t in reversed(TABLE_NAMES)))
            for statement in _create_tables_sql("mysql"):
                cur.execute(statement)
            for table, _, _, _ in TABLES:
                names = data[table]["columns"]
                placeholders = ", ".join(["%s"] * len(names))
                cur.executemany(f"INSERT INTO `{table}` ({', '.join(names)}) VALUES ({placeholders})", data[table]["rows"])
            cur.execute("SET FOREIGN_KEY_CHECKS = 1")
            cur.execute(MYSQL_ISSUE_CREDIT)
            cur.execute("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in TABLE_NAMES))
            cur.fetchall()
        conn.commit()
    finally:
        conn.close()
