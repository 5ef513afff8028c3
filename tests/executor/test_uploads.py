"""Uploading files as a data source through the API: one table per file or sheet, types inferred,
owned by the uploader, a clear 4xx (naming the line) for a bad file and nothing left behind."""

import csv
import io
import json

import duckdb
import pytest
from openpyxl import Workbook

from assistants.models import ApiKey
from executor.models import DataSource
from executor.services import run_sql
from executor.uploads import upload_dir
from config.identity import Principal

URL = "/api/v1/data-sources/uploads"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def data_dir(settings, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    settings.SQLITE_DATA_SOURCE_DIRS = [str(root)]
    settings.UPLOAD_DIR = ""
    return root


def client_for(user_id: str = "alice", tenant: str = "acme"):
    from django.test import Client

    _, token = ApiKey.issue(name="t", tenant=tenant, user_id=user_id, role=ApiKey.Role.MEMBER)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def upload(client, *files, name=None, **extra):
    data = {"file": [_named(content, filename) for filename, content in files]}
    if name is not None:
        data["name"] = name
    return client.post(URL, data, **extra)


def _named(content: bytes, filename: str):
    buffer = io.BytesIO(content)
    buffer.name = filename
    return buffer


def leftovers(data_dir) -> list[str]:
    folder = data_dir / "uploads"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_csv_becomes_a_table_with_inferred_types_owned_by_the_uploader(data_dir):
    body = "id,name,price,sold_on,active\n1,Widget,2.50,2024-01-05,true\n2,Gadget,10,2024-02-01,false\n"
    response = upload(client_for(), ("sales 2024.csv", body.encode()))
    assert response.status_code == 201, response.json()
    out = response.json()
    assert out["engine"] == "duckdb" and out["name"] == "sales 2024.csv"
    assert out["tables"] == [{"name": "sales_2024", "source": "sales 2024.csv", "rows": 2,
                              "columns": ["id", "name", "price", "sold_on", "active"]}]
    data_source = DataSource.objects.get(pk=out["id"])
    assert data_source.owner == "alice" and data_source.tenant == "acme" and not data_source.tenant_wide
    assert DataSource.objects.usable_by(Principal(tenant="acme", user_id="bob")).filter(pk=data_source.pk).count() == 0
    result = run_sql(data_source, "SELECT typeof(id) AS i, typeof(price) AS p, typeof(sold_on) AS d, typeof(active) AS a "
                                  "FROM sales_2024 LIMIT 1")
    assert result.rows == [{"i": "BIGINT", "p": "DOUBLE", "d": "DATE", "a": "BOOLEAN"}]
    assert leftovers(data_dir) == [data_source.connection_url.rsplit("/", 1)[1]]


def test_a_workbook_gives_one_table_per_sheet(data_dir):
    workbook = Workbook()
    first = workbook.active
    first.title = "Customers"
    first.append(["id", "name", "joined"])
    first.append([1, "Ann", "2023-04-01"])
    first.append([2, "Bob", "2023-05-01"])
    orders = workbook.create_sheet("Orders 2024")
    orders.append(["order_id", "customer_id", "total"])
    for i in range(1, 101):
        orders.append([i, 1 + i % 2, i * 1.25])
    notes = workbook.create_sheet("Notes")
    notes.append(["note"])
    notes.append(["=SUM(A1:A3)"])
    notes.append(["+cmd|' /C calc'!A0"])
    notes.append(["@risky"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = upload(client_for(), ("book.xlsx", buffer.getvalue()), name="Shop workbook")
    assert response.status_code == 201, response.json()
    tables = {t["name"]: t for t in response.json()["tables"]}
    assert set(tables) == {"customers", "orders_2024", "notes"}
    assert tables["orders_2024"]["rows"] == 100 and tables["orders_2024"]["source"] == "book.xlsx [Orders 2024]"
    data_source = DataSource.objects.get(pk=response.json()["id"])
    assert run_sql(data_source, "SELECT sum(total) AS t FROM orders_2024").rows == [{"t": 6312.5}]
    # Formula-looking text is stored as written; a formula is its value as last computed by the
    # spreadsheet (this one never was: an empty row), never evaluated here.
    notes_rows = run_sql(data_source, "SELECT note FROM notes").rows
    assert [r["note"] for r in notes_rows] == ["+cmd|' /C calc'!A0", "@risky"]


def test_parquet_and_json_lines_files_in_one_upload(data_dir, tmp_path):
    parquet = tmp_path / "numbers.parquet"
    conn = duckdb.connect()
    conn.execute(f"COPY (SELECT range AS n, range * range AS sq FROM range(1000)) TO '{parquet}' (FORMAT parquet)")
    conn.close()
    jsonl = "\n".join(json.dumps({"kind": k, "count": c}) for k, c in [("view", 3), ("buy", 1)]).encode()
    response = upload(client_for(), ("numbers.parquet", parquet.read_bytes()), ("events.jsonl", jsonl))
    assert response.status_code == 201, response.json()
    data_source = DataSource.objects.get(pk=response.json()["id"])
    assert run_sql(data_source, "SELECT count(*) AS n, max(sq) AS m FROM numbers").rows == [{"n": 1000, "m": 998001}]
    assert run_sql(data_source, "SELECT sum(count) AS c FROM events").rows == [{"c": 4}]


def test_non_utf8_bytes_and_formula_looking_cells_are_kept_as_text(data_dir):
    body = "name,formula,city\nAnn,=1+1,Z\xfcrich\nBob,=HYPERLINK(\"http://x\"),S\xe3o Paulo\n".encode("latin-1")
    response = upload(client_for(), ("people.csv", body))
    assert response.status_code == 201, response.json()
    data_source = DataSource.objects.get(pk=response.json()["id"])
    rows = run_sql(data_source, "SELECT name, formula, city FROM people ORDER BY name").rows
    assert rows == [{"name": "Ann", "formula": "=1+1", "city": "Zürich"},
                    {"name": "Bob", "formula": '=HYPERLINK("http://x")', "city": "São Paulo"}]


def test_a_malformed_csv_is_a_400_naming_the_line_and_leaves_nothing(data_dir):
    rows = ["id,name,amount"] + [f"{i},row{i},{i}.5" for i in range(1, 50)] + ["50,broken,1,2,3,4"] + ["51,ok,1"]
    response = upload(client_for(), ("bad.csv", "\n".join(rows).encode()))
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "malformed_file" and "bad.csv" in body["detail"]
    assert body.get("line") == 51 and "line 51" in body["detail"]
    assert DataSource.objects.count() == 0
    assert leftovers(data_dir) == []


def test_a_failure_in_the_second_file_creates_nothing(data_dir):
    good = b"a,b\n1,2\n"
    bad = b"a,b\n1,2\n3,4,5,6\n"
    response = upload(client_for(), ("good.csv", good), ("bad.csv", bad))
    assert response.status_code == 400 and "bad.csv" in response.json()["detail"]
    assert DataSource.objects.count() == 0 and leftovers(data_dir) == []


def test_unsupported_types_empty_requests_and_unknown_fields_are_refused(data_dir):
    client = client_for()
    response = upload(client, ("notes.exe", b"MZ"))
    assert response.status_code == 415 and response.json()["code"] == "unsupported_file_type"
    response = upload(client, ("fine.csv", b"a\n1\n"), ("notes.exe", b"MZ"))  # the staged first file goes too
    assert response.status_code == 415
    response = client.post(URL, {"name": "nothing"})
    assert response.status_code == 400 and response.json()["code"] == "no_file"
    response = upload(client, ("a.csv", b"a\n1\n"), name="x" * 300)
    assert response.status_code == 400
    response = upload(client, ("a.xlsx", b"not a zip at all"))
    assert response.status_code == 400 and "XLSX" in response.json()["detail"]
    assert DataSource.objects.count() == 0 and leftovers(data_dir) == []


def test_an_oversized_upload_is_refused_from_its_declared_length(data_dir, settings):
    settings.UPLOAD_MAX_BYTES = 4096
    settings.MAX_BODY_BYTES = 1024
    response = upload(client_for(), ("big.csv", b"a,b\n" + b"1,2\n" * 2000))
    assert response.status_code == 413 and "4096" in response.json()["detail"]
    small = upload(client_for(), ("small.csv", b"a,b\n" + b"1,2\n" * 300))  # over the general limit, under the upload one
    assert small.status_code == 201, small.json()
    assert DataSource.objects.count() == 1


def test_progress_streams_as_events_then_done(data_dir):
    body = "n,label\n" + "".join(f"{i},item {i}\n" for i in range(50_000))
    response = upload(client_for(), ("items.csv", body.encode()), HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    text = b"".join(response).decode()
    events = [block.split("\n")[0].removeprefix("event: ") for block in text.strip().split("\n\n")]
    assert events[0] == "progress" and events[-1] == "done"
    done = json.loads(text.strip().split("\n\n")[-1].split("data: ", 1)[1])
    assert done["tables"][0]["rows"] == 50_000


def test_a_malformed_file_streams_an_error_event(data_dir):
    response = upload(client_for(), ("bad.csv", b"a,b\n1,2\n3,4,5\n"), HTTP_ACCEPT="text/event-stream")
    text = b"".join(response).decode()
    last = text.strip().split("\n\n")[-1]
    assert last.startswith("event: error")
    error = json.loads(last.split("data: ", 1)[1])
    assert error["status"] == 400 and error["line"] == 3
    assert DataSource.objects.count() == 0


@pytest.mark.backend_independent  # the rows are DuckDB's work; the app database stores one data source either way
def test_a_million_row_csv(data_dir, tmp_path):
    path = tmp_path / "million.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "customer", "amount", "day"])
        for i in range(1_000_000):
            writer.writerow([i, f"c{i % 1000}", i % 997, f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"])
    with path.open("rb") as fh:
        response = client_for().post(URL, {"file": fh})
    assert response.status_code == 201, response.json()
    assert response.json()["tables"][0]["rows"] == 1_000_000
    data_source = DataSource.objects.get(pk=response.json()["id"])
    top = run_sql(data_source, "SELECT customer, sum(amount) AS total FROM million GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3")
    assert len(top.rows) == 3 and top.rows[0]["total"] >= top.rows[1]["total"]


def test_deleting_an_uploaded_source_removes_its_file(data_dir):
    from executor.services import data_source_delete

    response = upload(client_for(), ("a.csv", b"a\n1\n"))
    data_source = DataSource.objects.get(pk=response.json()["id"])
    assert len(leftovers(data_dir)) == 1
    data_source_delete(data_source, principal=Principal(tenant="acme", user_id="alice", is_tenant_admin=True))
    assert leftovers(data_dir) == []
    assert upload_dir().is_dir()


def test_an_uploaded_source_is_usable_in_every_dialect(data_dir):
    client = client_for("carol")
    source_id = upload(client, ("sales.csv", b"region,amount\nNorth,1\nSouth,2\n")).json()["id"]
    stranger = client_for("dave")

    options = client.get("/ui/options").json()["data_sources"]
    assert {"id": source_id, "name": "sales.csv", "engine": "duckdb", "shared": False} in options
    assert source_id not in [d["id"] for d in stranger.get("/ui/options").json()["data_sources"]]

    connections = client.get("/api/v1/database-connections").json()
    assert source_id in [c["id"] for c in connections]
    assert source_id not in [c["id"] for c in stranger.get("/api/v1/database-connections").json()]

    assistant = client.post("/assistants", {"name": "Files", "config": {"configurable": {"data_source_id": source_id}}},
                            content_type="application/json")
    assert assistant.status_code == 200, assistant.json()
    refused = stranger.post("/assistants", {"name": "Files", "config": {"configurable": {"data_source_id": source_id}}},
                            content_type="application/json")
    assert refused.status_code == 400

    agent = client.post("/api/agents", {"name": "Files agent", "data_source_id": source_id}, content_type="application/json")
    assert agent.status_code in (200, 201), agent.json()
    session = client.post("/api/v1/bi/sessions", {"user_id": "carol", "agent_id": agent.json()["id"]}, content_type="application/json")
    assert session.status_code == 201, session.json()
    assert stranger.post("/api/agents", {"name": "x", "data_source_id": source_id}, content_type="application/json").status_code == 404
