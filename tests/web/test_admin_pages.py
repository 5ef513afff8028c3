"""The admin in a real browser: approving a confirmation unblocks the run a person is watching;
data sources (masked URL, test connection, schema preview); "test this assistant"; the event log."""

import uuid
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from assistants.models import Assistant
from executor.models import DataSource
from tests.fakes.llm_server import text, tool_call
from threads.models import Confirmation, Run, Thread

from .chat import ask, sign_in_with_password, thread_id, wait_finished

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long enough admin password"
REFUND_SQL = "SELECT issue_credit(5, 20.00) AS credit_id"
SECRET = "s3cret-in-the-url"


@pytest.fixture
def admin_user(django_user_model):
    name = f"root-{uuid.uuid4().hex[:6]}"
    django_user_model.objects.create_superuser(name, email="", password=PASSWORD)
    return name


def admin_sign_in(page, base_url, username, next_path="/admin/"):
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


def run_action(page, action: str) -> None:
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def decided_confirmation_newer_than_everything(owner: str) -> Confirmation:
    """An already-approved row created later, which plain newest-first ordering would list on top."""
    thread = Thread(name="older business")
    thread.tenant, thread.owner = "default", owner
    thread.save()
    run = Run.objects.create(thread=thread, status=Run.Status.COMPLETED)
    return Confirmation.objects.create(
        thread=thread, run=run, message="UPDATE customer SET company = 'Acme' WHERE id = 1",
        status=Confirmation.Status.APPROVED, decided_by="someone", created_at=timezone.now() + timedelta(minutes=5),
        expires_at=timezone.now() + timedelta(minutes=10), decided_at=timezone.now(),
    )


def test_admin_approval_unblocks_the_run_on_the_chat_page(
    stack, llm, writable_demo, fresh_demo_pg_url, django_user_model, admin_user, new_page, screenshot
):
    person = f"ben-{uuid.uuid4().hex[:6]}"
    django_user_model.objects.create_user(person, password=PASSWORD)
    decided_confirmation_newer_than_everything(person)
    question = f"Refund customer 5, an admin approves [{uuid.uuid4().hex[:8]}]"
    llm.script([
        tool_call(f'rows = await executor.run_sql("{REFUND_SQL}")\nexecutor.print(rows)', call_id="call_admin"),
        text("An administrator approved it; the credit is issued.", chunks=4),
    ], match=question)
    chat = new_page()
    sign_in_with_password(chat, stack.base_url, person, PASSWORD)
    ask(chat, question)
    chat.locator(".confirm.pending").wait_for()

    admin = new_page()
    admin_sign_in(admin, stack.base_url, admin_user, "/admin/threads/confirmation/")
    rows = admin.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert "PENDING" in rows.nth(0).inner_text() and REFUND_SQL in rows.nth(0).inner_text()  # pending first
    assert "APPROVED" in rows.nth(1).inner_text()
    screenshot(admin, "20-admin-confirmations-pending-first")
    rows.nth(0).locator("input.action-select").check()
    run_action(admin, "approve")
    admin.locator(".messagelist .success", has_text="Approved 1 confirmation").wait_for()

    chat.locator(".confirm .decided-approved").wait_for()
    wait_finished(chat)
    assert "An administrator approved it" in chat.locator(".step.assistant").last.inner_text()
    assert "credit_id" in chat.locator(".tool-result pre.output").last.inner_text()
    with psycopg.connect(fresh_demo_pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM credit WHERE customer_id = 5").fetchone()[0] == 1
    confirmation = Confirmation.objects.get(message=REFUND_SQL)
    assert confirmation.status == "APPROVED" and confirmation.decided_by == f"admin:{admin_user}"
    screenshot(chat, "21-chat-after-admin-approval")

    # Approving again is refused without effect.
    admin.goto(f"{stack.base_url}/admin/threads/confirmation/")
    admin.locator("#result_list tbody tr").nth(0).locator("input.action-select").check()
    run_action(admin, "approve")
    admin.locator(".messagelist .warning", has_text="already decided").wait_for()

    # The thread's read-only event log shows the whole run.
    admin.goto(f"{stack.base_url}/admin/threads/thread/{thread_id(chat)}/change/")
    log = admin.locator("#events-group").inner_text()
    for kind in ["start", "assistant_response_message", "user_confirmation", "confirmation_decided", "tool_response_message", "finish"]:
        assert kind in log
    assert "assistant_delta" not in log and admin.locator("#events-group input:not([type=hidden])").count() == 0
    screenshot(admin, "22-admin-thread-event-log", locator=admin.locator("#events-group"))


def test_admin_data_sources_and_testing_an_assistant(stack, llm, tenant_demo, demo_pg_url, admin_user, new_page, screenshot):
    secret_url = demo_pg_url.replace("postgres@", f"postgres:{SECRET}@", 1)  # trust auth ignores the password
    warehouse = DataSource(name="Warehouse", engine="postgresql", connection_url=secret_url, tenant="acme", owner="alice")
    warehouse.save()
    analyst = Assistant(name="Sales analyst", tenant="acme", owner="alice", data_source=warehouse, instructions="Be brief.")
    analyst.save()

    admin = new_page()
    admin_sign_in(admin, stack.base_url, admin_user, "/admin/executor/datasource/")
    listing = admin.content()
    assert "Warehouse" in listing and "postgres:***@" in listing and SECRET not in listing
    admin.locator("#result_list tr", has_text="Warehouse").locator("input.action-select").check()
    run_action(admin, "test_connections")
    admin.locator(".messagelist .success").wait_for()
    screenshot(admin, "23-admin-data-source-test-connection")
    admin.locator("#result_list a", has_text="Warehouse").click()
    admin.locator(".field-schema_preview").wait_for()
    assert "invoice_line" in admin.locator(".field-schema_preview").inner_text()
    assert SECRET not in admin.content()

    question = f"Which tables can you see? [{uuid.uuid4().hex[:8]}]"
    llm.script([text("I can see album, artist, customer and more.")], match=question)
    admin.goto(f"{stack.base_url}/admin/assistants/assistant/?q=Sales")
    admin.locator("#result_list tr", has_text="Sales analyst").locator("input.action-select").check()
    run_action(admin, "test_assistant")
    admin.fill("textarea[name=question]", question)
    screenshot(admin, "24-admin-test-assistant")
    admin.click("input[type=submit][value='Start test run']")
    message = admin.locator(".messagelist .success", has_text="Started 1 test run")
    message.wait_for()
    message.locator("a", has_text="watch on the chat page").click()
    admin.locator(".msg.user", has_text=question).wait_for()
    wait_finished(admin)
    assert "I can see album, artist" in admin.locator(".step.assistant").last.inner_text()
    thread = Thread.objects.get(pk=thread_id(admin))
    assert thread.assistant_id == analyst.id and thread.owner == admin_user and thread.metadata["admin_test"] is True
    screenshot(admin, "25-assistant-test-on-chat-page")
