"""The admin's Runs and Confirmations lists are readable at 1280 px: no column is cut (the results
table fits the page), thread names take one line (truncated, the full name on hover) and dates
are short."""

from datetime import timedelta

import pytest
from django.utils import timezone

from threads.models import Confirmation, Run, Thread

from .conftest import DESKTOP
from .test_admin_pages import admin_sign_in, admin_user  # noqa: F401 - `admin_user` is a fixture

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LONG_NAME = "Who are my top customers by total spending in every country, and how did that change from 2007 to 2011?"

FITS_JS = """() => {
  const table = document.querySelector('#result_list');
  const rows = [...table.querySelectorAll('tbody tr')];
  const lineHeight = parseFloat(getComputedStyle(table.querySelector('tbody td')).lineHeight) || 20;
  const links = [...table.querySelectorAll('tbody a[title]')];
  return {
    page: [document.documentElement.scrollWidth, innerWidth],
    table: [Math.round(table.getBoundingClientRect().right), Math.round(table.parentElement.getBoundingClientRect().right)],
    tallestRow: Math.max(...rows.map((r) => r.getBoundingClientRect().height)),
    lineHeight,
    titles: links.map((a) => a.title),
    shown: links.map((a) => a.innerText),
  };
}"""


@pytest.fixture
def long_named_rows():
    thread = Thread(name=LONG_NAME)
    thread.tenant, thread.owner = "default", "someone"
    thread.save()
    now = timezone.now()
    run = Run.objects.create(thread=thread, status=Run.Status.COMPLETED, usage={"total_tokens": 1234, "cost_usd": 0.0012},
                             steps=3, attempts=1, finished_at=now)
    Confirmation.objects.create(
        thread=thread, run=run, message="SELECT issue_credit(5, 20.00) AS credit_id", status=Confirmation.Status.APPROVED,
        decided_by="someone@default", expires_at=now + timedelta(minutes=5), decided_at=now,
    )
    return thread


@pytest.mark.parametrize("path", ["/admin/threads/run/", "/admin/threads/confirmation/"], ids=["runs", "confirmations"])
def test_list_fits_1280px_with_one_line_thread_names(stack, admin_user, long_named_rows, new_page, screenshot, path):
    page = new_page(DESKTOP)
    admin_sign_in(page, stack.base_url, admin_user, next_path=path)
    page.wait_for_selector("#result_list tbody tr")
    found = page.evaluate(FITS_JS)
    assert found["page"][0] <= found["page"][1], found  # nothing cut or scrolled sideways
    assert found["table"][0] <= found["table"][1] + 1, found  # no column cut off by the list's own scroller
    assert LONG_NAME in found["titles"], found  # the full name on hover
    assert all(len(text) <= 25 for text in found["shown"]), found
    assert found["tallestRow"] < 3 * found["lineHeight"], found  # one line of text per row, not 3-4
    screenshot(page, "admin-" + path.strip("/").split("/")[-1] + "-list")
