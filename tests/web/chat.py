"""Driving the chat page like a person, and reading back what it shows.

The page's Content-Security-Policy has no 'unsafe-eval': Playwright's wait_for_function evaluates a
bare expression string with eval() inside the page, which the policy refuses, so every predicate is
written as a function ("() => ...").
"""

# Every rendered event carries data-seq; streamed deltas are listed on the message they built.
RENDERED_SEQS_JS = """() => {
  const seqs = [...document.querySelectorAll('#conversation [data-seq]')].map((e) => Number(e.dataset.seq));
  const deltas = [...document.querySelectorAll('#conversation [data-delta-seqs]')]
    .flatMap((e) => e.dataset.deltaSeqs ? e.dataset.deltaSeqs.split(',').map(Number) : []);
  return {seqs, deltas};
}"""


def sign_in_with_password(page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/")
    page.wait_for_selector("#signin:not([hidden])")
    form = page.locator("#signin form").first
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#app:not([hidden])")


def sign_in_with_api_key(page, base_url: str, token: str) -> None:
    page.goto(base_url + "/")
    page.wait_for_selector("#signin:not([hidden])")
    page.fill("#apikey", token)
    page.click("#apikey-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


def ask(page, question: str) -> None:
    page.fill("#question", question)
    page.click("#send")
    page.locator(".msg.user", has_text=question).wait_for()


def thread_id(page) -> str:
    return page.evaluate("window.querent.threadId")


def wait_finished(page, count: int = 1, timeout: float = 60) -> None:
    """Wait until `count` turns have ended (with `finish` or `error`)."""
    page.wait_for_function(
        "(count) => document.querySelectorAll('#conversation .turn-end, #conversation .run-error').length >= count",
        arg=count, timeout=timeout * 1000,
    )


def rendered_seqs(page) -> tuple[list[int], list[int]]:
    found = page.evaluate(RENDERED_SEQS_JS)
    return found["seqs"], found["deltas"]


def server_seqs(page, base_url: str, thread: str) -> list[int]:
    """The thread's event log, read with the page's own cookies."""
    response = page.request.get(f"{base_url}/threads/{thread}/events?after=0&events=all")
    assert response.ok, response.text()
    return [event["id"] for event in response.json()["events"]]


def assert_each_event_rendered_once(page, base_url: str, thread: str) -> list[int]:
    seqs, deltas = rendered_seqs(page)
    logged = server_seqs(page, base_url, thread)
    rendered = seqs + deltas
    assert len(rendered) == len(set(rendered)), f"an event is on screen twice: {sorted(rendered)}"
    assert sorted(rendered) == logged, f"screen {sorted(rendered)} != log {logged}"
    return logged



def column(table, name: str) -> list[str]:
    """The cells of one column of a rendered table, found by its header."""
    return table.evaluate(
        """(root, name) => {
          const headers = [...root.querySelectorAll('table.data thead th')].map((th) => th.innerText.replace(/ [▲▼]$/, ''));
          const index = headers.indexOf(name);
          if (index < 0) throw new Error(`no column ${name} in ${headers}`);
          return [...root.querySelectorAll('table.data tbody tr')].map((tr) => tr.children[index].innerText);
        }""",
        name,
    )
