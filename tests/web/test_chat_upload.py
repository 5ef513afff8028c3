"""Uploading a data file from the chat page, in a real browser against real daphne + Celery worker
with no LLM configured (the offline demo model): the file is loaded with progress, becomes the
chosen data source, and questions about it are answered with tables and a chart from its rows."""

import uuid

import httpx
import pytest

from executor.models import DataSource

from .chat import ask, sign_in_with_password, wait_finished

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def demo_stack(stack_factory, tmp_path_factory):
    """A stack without a model (the offline demo model answers), its uploads in a folder of its own,
    a general body limit of 64 kB and an upload limit of 2 MB."""
    data = tmp_path_factory.mktemp("upload-data")
    return stack_factory({"QUERENT_SQLITE_DATA_SOURCE_DIRS": str(data), "QUERENT_MAX_BODY_BYTES": str(64 * 1024),
                          "QUERENT_UPLOAD_MAX_BYTES": str(2 * 1024 * 1024)})


@pytest.fixture
def person(django_user_model):
    username = f"upl-{uuid.uuid4().hex[:6]}"
    django_user_model.objects.create_user(username, password=PASSWORD)
    return username


def sales_csv(path, rows=5000):
    regions = ["North", "South", "East", "West"]
    with path.open("w") as fh:
        fh.write("order_id,region,product,amount\n")
        for i in range(rows):
            fh.write(f"{i},{regions[i % 4]},P{i % 7},{(i % 13) * 1.5}\n")
    return path


def test_upload_then_ask_about_the_file(demo_stack, person, new_page, screenshot, tmp_path):
    page = new_page()
    sign_in_with_password(page, demo_stack.base_url, person, PASSWORD)
    csv_path = sales_csv(tmp_path / "sales.csv")  # ~70 kB: over the general body limit, under the upload one
    assert csv_path.stat().st_size > 64 * 1024
    page.set_input_files("#upload-input", str(csv_path))
    page.locator("#upload-status", has_text="Ready:").wait_for()
    assert "sales (5,000 rows)" in page.inner_text("#upload-status")
    source = DataSource.objects.get(name="sales.csv", owner=person)
    assert page.eval_on_selector("#data-source-select", "(s) => s.value") == str(source.pk)
    screenshot(page, "upload-01-ready")

    ask(page, "What's in this file?")
    wait_finished(page)
    final = page.locator(".step.assistant").last
    assert "Table sales: 5000 rows" in final.inner_text()
    tables = final.locator(".artifact-table")
    tables.first.wait_for()
    assert "order_id" in tables.first.inner_text() and "5000" in tables.first.inner_text()

    ask(page, "Chart the top 4 region by amount")
    wait_finished(page, count=2)
    expected = max(("North", "South", "East", "West"),
                   key=lambda r: sum((i % 13) * 1.5 for i in range(5000) if ["North", "South", "East", "West"][i % 4] == r))
    answer = page.locator(".step.assistant").last
    assert f"Highest: {expected}" in answer.inner_text()
    assert answer.locator(".artifact-table").count() >= 1 and answer.locator("[data-artifact=file_chart]").count() == 1
    screenshot(page, "upload-02-answered")


def test_a_malformed_file_is_reported_on_the_page(demo_stack, person, new_page, tmp_path):
    page = new_page()
    sign_in_with_password(page, demo_stack.base_url, person, PASSWORD)
    bad = tmp_path / "broken.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n")
    page.set_input_files("#upload-input", str(bad))
    page.locator("#upload-status.error-text", has_text="line 3").wait_for()
    assert not DataSource.objects.filter(owner=person).exists()


def test_the_web_process_refuses_an_oversized_upload_before_reading_it(demo_stack, person):
    from tests.support.principals import api_user, headers

    import json
    import socket
    from urllib.parse import urlsplit

    user = api_user()
    declared = 3 * 1024 * 1024
    address = urlsplit(demo_stack.base_url)
    auth = headers(user)["Authorization"]
    with socket.create_connection((address.hostname, address.port), timeout=20) as sock:
        sock.sendall((f"POST /api/v1/data-sources/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
                      f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {declared}\r\n\r\n--x\r\n").encode())
        answer = b""
        while chunk := sock.recv(65536):  # the server answers and closes without waiting for the body
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and json.loads(body)["code"] == "request_too_large"
    other = httpx.post(f"{demo_stack.base_url}/api/v1/me", headers={**headers(user), "Content-Type": "application/json"},
                       content=b"{" + b" " * (100 * 1024) + b"}", timeout=20)
    assert other.status_code == 413  # the general limit still holds elsewhere
