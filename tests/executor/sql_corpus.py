"""Statements the SQL guard must judge, shared by the tests and bench/sql_guard.py.

Reads are valid on the Chinook demo and deterministic unless marked. Writes include disguised
ones; `execute=False` marks statements that must never run, even approved, in a test (they would
reach outside the throw-away database: host programs, cluster-wide settings, roles).
"""

from dataclasses import dataclass

CANARY_DIR = "/tmp"
CANARY_PROGRAM = f"{CANARY_DIR}/querent-guard-canary-program"
CANARY_COPY = f"{CANARY_DIR}/querent-guard-canary-copy"
CANARY_LO = f"{CANARY_DIR}/querent-guard-canary-lo"
CANARY_ATTACH = f"{CANARY_DIR}/querent-guard-canary-attach.db"
CANARY_VACUUM = f"{CANARY_DIR}/querent-guard-canary-vacuum.db"
CANARIES = [CANARY_PROGRAM, CANARY_COPY, CANARY_LO, CANARY_ATTACH, CANARY_VACUUM]


@dataclass(frozen=True)
class Case:
    sql: str
    compare: bool = True  # reads: compare with a direct query
    execute: bool = True  # writes: may run when approved, in a throw-away copy


PG_READS = [
    Case("SELECT count(*) AS n FROM track"),
    Case("select name from artist where id <= 5 order by id"),
    Case("SELECT a.title, ar.name FROM album a JOIN artist ar ON ar.id = a.artist_id ORDER BY a.id LIMIT 10"),
    Case(
        "WITH top AS (SELECT customer_id, sum(total) AS spent FROM invoice GROUP BY customer_id) "
        "SELECT c.first_name, c.last_name, t.spent FROM top t JOIN customer c ON c.id = t.customer_id "
        "ORDER BY t.spent DESC, c.id LIMIT 5"
    ),
    Case("SELECT g.name, count(*) AS tracks FROM track t JOIN genre g ON g.id = t.genre_id GROUP BY g.name ORDER BY 2 DESC, 1"),
    Case("SELECT billing_country, round(sum(total), 2) AS revenue FROM invoice GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"),
    Case("SELECT id FROM artist WHERE id < 3 UNION SELECT id FROM genre WHERE id < 5 ORDER BY 1"),
    Case("VALUES (1, 'a'), (2, 'b')"),
    Case("SELECT * FROM media_type ORDER BY id"),
    Case("SeLeCt   NaMe FrOm genre WhErE id = 1 -- trailing comment"),
    Case("/* leading comment */ SELECT title FROM album WHERE id = 1"),
    Case("SELECT 'DELETE FROM track; DROP TABLE track' AS harmless_text"),
    Case("SELECT $$; DROP TABLE artist; $$ AS dollar_quoted"),
    Case("SELECT 1 /* ; DROP TABLE artist; */ AS one"),
    Case("SELECT 1 /* nested /* ; DROP TABLE artist; */ still comment */ AS nested"),
    Case("SELECT E'it\\'s; DROP TABLE artist' AS escaped"),
    Case("SELECT date_trunc('month', invoice_date) AS month, count(*) FROM invoice GROUP BY 1 ORDER BY 1 LIMIT 3"),
    Case("SELECT invoice_date, total FROM invoice ORDER BY id LIMIT 3"),
    Case("SELECT e.first_name, m.first_name AS manager FROM employee e LEFT JOIN employee m ON m.id = e.reports_to ORDER BY e.id"),
    Case("SELECT count(*) FROM playlist_track pt JOIN playlist p ON p.id = pt.playlist_id WHERE p.name = 'Music'"),
    Case("EXPLAIN SELECT * FROM track WHERE id = 1"),
    Case("EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM genre", compare=False),
    Case("SHOW search_path"),
    Case("SELECT 5 % 2 AS m, '%s' AS not_a_placeholder"),
    Case("SELECT (SELECT max(milliseconds) FROM track) AS longest"),
    Case("SELECT name FROM track WHERE name ILIKE '%love%' ORDER BY id LIMIT 5"),
    Case("SELECT count(*) FROM credit"),
    Case("SELECT 1 AS first; SELECT 2 AS second"),
    Case("SELECT id FROM customer WHERE country IN ('Brazil', 'Canada') ORDER BY id"),
    Case("SELECT count(*) FROM invoice_line WHERE unit_price > 0.99"),
    Case("SELECT id, unit_price FROM track ORDER BY id LIMIT 3"),
    Case("SELECT a.id, b.id FROM artist a JOIN album b ON b.artist_id = a.id ORDER BY b.id LIMIT 3"),
    Case("(SELECT name FROM genre ORDER BY id LIMIT 2)"),
    Case("SELECT name FROM genre ORDER BY id LIMIT 2 OFFSET 3;"),
    Case("SELECT current_setting('transaction_read_only') AS ro", compare=False),  # 'on' here, by design
    Case("SELECT count(*) FROM track WHERE composer IS NULL"),
    Case("SELECT pg_sleep(0.01) IS NULL AS slept"),
    Case("TABLE media_type"),
]

PG_WRITES = [
    Case("INSERT INTO artist (name) VALUES ('Injected')"),
    Case("UPDATE track SET unit_price = 0"),
    Case("DELETE FROM invoice_line"),
    Case("WITH x AS (DELETE FROM playlist_track RETURNING *) SELECT count(*) FROM x"),
    Case("WITH a AS (SELECT 1), b AS (UPDATE artist SET name = name WHERE false RETURNING 1) SELECT * FROM a"),
    Case("select (select count(*) from genre), (with d as (delete from genre where false returning 1) select count(*) from d)"),
    Case("SELECT nextval(pg_get_serial_sequence('artist', 'id'))"),
    Case("SELECT setval(pg_get_serial_sequence('artist', 'id'), 1000)"),
    Case("SELECT (SELECT nextval('credit_id_seq'))"),
    Case("SELECT * FROM issue_credit(5, 20.00)"),
    Case("SELECT issue_credit(5, 20.00) AS credit_id"),
    Case("SELECT public.ISSUE_CREDIT(5, 20.00)"),
    Case('SELECT "issue_credit"(5, 20.00)'),
    Case("SELECT * FROM (SELECT issue_credit(1, 1.00)) s"),
    Case("SELECT 1 UNION ALL SELECT issue_credit(1, 1)"),
    Case("select 1; drop table artist"),
    Case("SELECT 1 -- comment\n; DELETE FROM genre"),
    Case("/* hidden */ DELETE /* comment */ FROM media_type"),
    Case("SELECT 1 /* /* nested */ */; TRUNCATE playlist_track"),
    Case("SeLeCt * InTo artist_copy FrOm artist"),
    Case("SELECT * INTO TEMP t_copy FROM artist"),
    Case(f"COPY (SELECT 1) TO PROGRAM 'touch {CANARY_PROGRAM}'", execute=False),
    Case("COPY artist TO PROGRAM 'cat > /dev/null'"),
    Case("COPY artist FROM PROGRAM 'echo 9999,x'"),
    Case(f"COPY artist TO '{CANARY_COPY}'", execute=False),
    Case("SELECT pg_read_file('/etc/hostname')"),
    Case("SELECT pg_ls_dir('.')"),
    Case("SELECT pg_stat_file('postgresql.conf')"),
    Case("SET ROLE postgres"),
    Case("RESET ALL"),
    Case("SET search_path TO pg_temp"),
    Case("SET LOCAL statement_timeout = 0"),
    Case("SET TRANSACTION READ WRITE; DELETE FROM credit"),
    Case("PREPARE p AS DELETE FROM artist"),
    Case("EXECUTE p"),
    Case("DEALLOCATE ALL"),
    Case("EXPLAIN ANALYZE DELETE FROM artist"),
    Case("EXPLAIN (ANALYZE, FORMAT JSON) UPDATE artist SET name = 'x'"),
    Case("VACUUM artist"),
    Case("ANALYZE artist"),
    Case("CREATE TEMP TABLE scratch (a int)"),
    Case("CREATE TABLE hacked (a int)"),
    Case("LISTEN chan"),
    Case("NOTIFY chan, 'hi'"),
    Case("UNLISTEN *"),
    Case("SELECT set_config('statement_timeout', '0', false)"),
    Case("select\tpg_catalog.set_config('role', 'postgres', false)"),
    Case("SELECT lo_import('/etc/hostname')"),
    Case(f"SELECT lo_export(1, '{CANARY_LO}')", execute=False),
    Case("SELECT * FROM dblink('dbname=postgres', 'DELETE FROM artist') AS t(x text)"),
    Case("SELECT pg_terminate_backend(0)"),
    Case("SELECT pg_cancel_backend(0)"),
    Case("SELECT pg_advisory_lock(1)"),
    Case("SELECT pg_notify('chan', 'x')"),
    Case("SELECT query_to_xml('DELETE FROM artist RETURNING 1', true, true, '')"),
    Case("SELECT * FROM ts_stat('SELECT to_tsvector(name) FROM artist')"),
    Case("CALL some_procedure()"),
    Case("DO $$ BEGIN DELETE FROM credit; END $$"),
    Case("LOCK TABLE artist IN ACCESS EXCLUSIVE MODE"),
    Case("SELECT * FROM artist FOR UPDATE"),
    Case("SELECT * FROM artist FOR SHARE SKIP LOCKED"),
    Case("BEGIN; DELETE FROM credit; COMMIT"),
    Case("COMMIT; DELETE FROM credit"),
    Case("ROLLBACK"),
    Case("ALTER TABLE artist ADD COLUMN hacked int"),
    Case("DROP TABLE credit"),
    Case("TRUNCATE invoice_line CASCADE"),
    Case("GRANT ALL ON artist TO PUBLIC"),
    Case("COMMENT ON TABLE artist IS 'pwned'"),
    Case("MERGE INTO genre g USING (VALUES (1, 'x')) v(id, name) ON g.id = v.id WHEN MATCHED THEN UPDATE SET name = v.name"),
    Case("DISCARD ALL"),
    Case("REFRESH MATERIALIZED VIEW some_view"),
    Case("SECURITY LABEL ON TABLE artist IS 'x'"),
    Case("REINDEX TABLE artist"),
    Case("CLUSTER artist"),
    Case("CHECKPOINT"),
    Case("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$"),
    Case("ALTER SYSTEM SET work_mem = '1MB'", execute=False),
    Case("CREATE ROLE intruder SUPERUSER LOGIN", execute=False),
    Case("DROP DATABASE postgres", execute=False),
    Case("INSERT INTO credit (customer_id, amount) VALUES (1, 5) RETURNING id"),
    Case("DELETE FROM artist WHERE id IN (SELECT id FROM artist)"),
    Case("SELECT 1; SELECT 2; UPDATE genre SET name = name"),
    Case("not even sql"),
]

SQLITE_READS = [
    Case("SELECT count(*) AS n FROM track"),
    Case("select name from artist where id <= 5 order by id"),
    Case("SELECT a.title, ar.name FROM album a JOIN artist ar ON ar.id = a.artist_id ORDER BY a.id LIMIT 10"),
    Case(
        "WITH top AS (SELECT customer_id, sum(total) AS spent FROM invoice GROUP BY customer_id) "
        "SELECT c.first_name, c.last_name, round(t.spent, 2) AS spent FROM top t JOIN customer c ON c.id = t.customer_id "
        "ORDER BY t.spent DESC, c.id LIMIT 5"
    ),
    Case("SELECT g.name, count(*) AS tracks FROM track t JOIN genre g ON g.id = t.genre_id GROUP BY g.name ORDER BY 2 DESC, 1"),
    Case("SELECT strftime('%Y-%m', invoice_date) AS month, count(*) FROM invoice GROUP BY 1 ORDER BY 1 LIMIT 3"),
    Case("SELECT id FROM artist WHERE id < 3 UNION SELECT id FROM genre WHERE id < 5 ORDER BY 1"),
    Case("VALUES (1, 'a'), (2, 'b')"),
    Case("SeLeCt NaMe FrOm genre WhErE id = 1 -- trailing comment"),
    Case("/* leading */ SELECT title FROM album WHERE id = 1"),
    Case("SELECT 'DELETE FROM track; DROP TABLE track' AS harmless_text"),
    Case("SELECT 1 /* ; DROP TABLE artist; */ AS one"),
    Case("SELECT \"name\" FROM [genre] WHERE `id` = 2"),
    Case("SELECT invoice_date, total FROM invoice ORDER BY id LIMIT 3"),
    Case("EXPLAIN QUERY PLAN SELECT * FROM track WHERE id = 1", compare=False),
    Case("PRAGMA table_info(track)"),
    Case("PRAGMA foreign_key_list(album)"),
    Case("SELECT * FROM pragma_table_info('genre')"),
    Case("SELECT 1 AS first; SELECT 2 AS second"),
    Case("SELECT count(*) FROM credit"),
    Case("SELECT name FROM track WHERE name LIKE '%love%' ORDER BY id LIMIT 5"),
    Case("SELECT x'DEADBEEF' AS blob"),
]

SQLITE_WRITES = [
    Case("INSERT INTO artist (name) VALUES ('Injected')"),
    Case("UPDATE track SET unit_price = 0"),
    Case("DELETE FROM invoice_line"),
    Case("REPLACE INTO genre (id, name) VALUES (1, 'x')"),
    Case("INSERT OR REPLACE INTO genre VALUES (1, 'x')"),
    Case("SELECT issue_credit(5, 20.00) AS credit_id"),
    Case("SELECT * FROM (SELECT issue_credit(1, 1.0))"),
    Case("select 1; drop table artist"),
    Case("SELECT 1 /* /* */ ; DROP TABLE genre; /* */"),
    Case("SELECT 1 -- x\n; DELETE FROM genre"),
    Case(f"ATTACH DATABASE '{CANARY_ATTACH}' AS x", execute=False),
    Case("DETACH x"),
    Case("PRAGMA query_only = OFF"),
    Case("PRAGMA writable_schema = ON"),
    Case("PRAGMA journal_mode = WAL"),
    Case("PRAGMA user_version = 7"),
    Case("VACUUM"),
    Case(f"VACUUM INTO '{CANARY_VACUUM}'", execute=False),
    Case("REINDEX"),
    Case("ANALYZE"),
    Case("CREATE TABLE hacked (a)"),
    Case("CREATE TEMP TABLE scratch (a)"),
    Case("CREATE VIEW v AS SELECT 1"),
    Case("CREATE TRIGGER tr AFTER INSERT ON artist BEGIN DELETE FROM genre; END"),
    Case("DROP INDEX track_album_id_idx"),
    Case("ALTER TABLE artist ADD COLUMN hacked int"),
    Case("BEGIN; DELETE FROM credit; COMMIT"),
    Case("SAVEPOINT a"),
    Case("SELECT load_extension('/tmp/nothing')"),
    Case("WITH x AS (SELECT 1) DELETE FROM credit WHERE id IN (SELECT * FROM x)"),
    Case("INSERT INTO credit (customer_id, amount) SELECT id, 1 FROM customer"),
    Case("UPDATE customer SET email = lower(email) RETURNING id"),
    Case("DELETE FROM credit WHERE id = 1 RETURNING *"),
    Case("EXPLAIN QUERY PLAN DELETE FROM artist"),
    Case("not even sql"),
]
