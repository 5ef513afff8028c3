"""The chat page's layout with wide and long results, at 1280 px and at phone width: a 12-column
table scrolls inside its card, text wraps, the question bubble and the table's CSV/Chart buttons
stay on screen, the conversation never scrolls sideways, and the browser logs no errors (the
sign-in page included: it asks nothing that would answer 401)."""

import pytest

from tests.fakes.llm_server import text, tool_call

from .chat import ask, sign_in_with_password, wait_finished
from .conftest import DESKTOP, PHONE
from .test_chat_page import PASSWORD, open_chat, person, unique  # noqa: F401 - `person` is a fixture

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDE_CODE = """rows = executor.run_sql(
    "SELECT id, first_name, last_name, company, address, city, state, country, postal_code, phone, fax, email "
    "FROM customer ORDER BY id LIMIT 40")
executor.store_artifact('wide_customers', 'Customers with every contact column', 'table', rows)
executor.print(f"{len(rows)} customers, {len(rows[0])} columns")
executor.print("x" * 400)"""

LONG_WORD = "Supercalifragilistic" * 12
MARKDOWN_TABLE = "| " + " | ".join(f"column_number_{i}" for i in range(12)) + " |\n|" + "---|" * 12 + "\n| " + " | ".join(
    f"value_{i}_wide_wide" for i in range(12)) + " |"
ANSWER = (f"Here they are, with every contact column.\n\n<artifact identifier='wide_customers' />\n\n"
          f"A long word that must wrap: {LONG_WORD}\n\n{MARKDOWN_TABLE}")

LAYOUT_JS = """() => {
  const within = (e) => { const b = e.getBoundingClientRect(); return b.left >= -1 && b.right <= innerWidth + 1; };
  const conversation = document.querySelector('#conversation');
  const scroller = document.querySelector('.scroll-area');
  // the answer's table card, not the copy folded under the tool call
  const card = [...document.querySelectorAll('.artifact')].find((e) => e.offsetParent !== null && e.querySelector('table.data'));
  const table = card.querySelector('.table-scroll');
  return {
    conversation: [conversation.scrollWidth, conversation.clientWidth],
    scrollArea: [scroller.scrollWidth, scroller.clientWidth],
    tableScrolls: table.scrollWidth > table.clientWidth,
    columns: card.querySelectorAll('table.data thead th').length,
    questionVisible: [...document.querySelectorAll('.msg.user')].every(within),
    buttonsVisible: [...card.querySelectorAll('.table-tools button')].every(within),
    buttons: [...card.querySelectorAll('.table-tools button')].map((b) => b.textContent.trim()),
    bubblesWithin: [...document.querySelectorAll('.bubble')].every(within),
  };
}"""


def console_errors(page) -> list[str]:
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "phone"])
def test_wide_results_scroll_inside_their_card(stack, llm, tenant_demo, person, new_page, screenshot, viewport):
    question = unique("Show every contact column of the first customers")
    llm.script([tool_call(WIDE_CODE, text="Let me fetch those."), text(ANSWER)], match=question)
    page = new_page(viewport)
    errors = console_errors(page)
    sign_in_with_password(page, stack.base_url, person, PASSWORD)
    ask(page, question)
    wait_finished(page)
    page.locator(".artifact table.data >> visible=true").first.wait_for()
    layout = page.evaluate(LAYOUT_JS)
    assert layout["columns"] == 12
    assert layout["conversation"][0] <= layout["conversation"][1], layout
    assert layout["scrollArea"][0] <= layout["scrollArea"][1], layout
    assert layout["tableScrolls"], layout  # the table scrolls inside its card, not the page
    assert layout["questionVisible"] and layout["bubblesWithin"], layout
    assert {"CSV", "Chart"} <= set(layout["buttons"]) and layout["buttonsVisible"], layout
    screenshot(page, f"layout-wide-table-{viewport['width']}")
    assert errors == [], errors


def test_sign_in_page_logs_no_errors(stack, new_page):
    page = new_page()
    errors = console_errors(page)
    page.goto(stack.base_url + "/")
    page.wait_for_selector("#signin:not([hidden])")
    page.wait_for_timeout(500)  # anything the page would fetch after showing the form
    assert errors == [], errors


def test_sidebar_lists_sessions_apart_and_the_footer_has_no_dangling_separator(stack, tenant_demo, person, new_page):
    from config.identity import Principal
    from sessions.models import Session
    from threads import services

    owner = Principal("default", person)
    chat = services.create_thread(owner, name="A plain chat")
    session_thread = services.create_thread(owner, name="Quarterly review session")
    Session.objects.create(tenant="default", owner=person, dialect=Session.Dialect.JULEP, agent=session_thread.assistant,
                           thread=session_thread)
    page = open_chat(new_page, stack, person)
    page.wait_for_selector(".thread-group")
    groups = page.evaluate("""() => [...document.querySelectorAll('#thread-list > *')].map((e) =>
        e.classList.contains('thread-group') ? '# ' + e.innerText.trim() : e.querySelector('.thread-name').innerText)""")
    assert groups.index("# CHATS") < groups.index(chat.name) < groups.index("# BI AND JULEP SESSIONS") < groups.index(session_thread.name)
    footer = page.inner_text(".sidebar-foot .links").strip()
    assert footer.endswith("Sign out") and not footer.startswith("·"), footer  # signed in with a password
    # Under development auth the page hides sign-out with its separator (app.js hides #sign-out-item).
    page.evaluate("() => { document.getElementById('sign-out-item').hidden = true; }")
    assert page.inner_text(".sidebar-foot .links").strip() == "Admin · API docs"
