"""Seed 003's curl sequence, read from the seed file and run verbatim with curl against a live stack
under development auth (as `make run` serves it): only the host and the example session id are
replaced. The later curls send no X-Tenant-ID; real credentials still get no such leeway."""

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers

from .conftest import Api
from .test_bi_e2e import BY_GENRE_SQL, run_sql_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A verbatim copy of the seed document (BI chat sessions), kept with the tests so they always run.
SEED = Path(__file__).with_name("data") / "seed_003_bi_sessions.txt"
EXAMPLE_SESSION = "sess-uuid-456"
MONTHLY_SQL = (
    "SELECT date_trunc('month', invoice_date) AS month, SUM(total) AS total_revenue FROM invoice "
    "WHERE invoice_date >= '2010-01-01' AND invoice_date < '2011-01-01' GROUP BY 1 ORDER BY 1"
)


def seed_curls(text_: str) -> list[str]:
    """Each curl command of the seed: its continuation lines joined, and the example response the
    seed prints right after a `-d '...'` body cut off."""
    commands, lines = [], text_.splitlines()
    index = 0
    while index < len(lines):
        if not lines[index].startswith("curl "):
            index += 1
            continue
        parts = []
        while lines[index].endswith("\\"):
            parts.append(lines[index][:-1].strip())
            index += 1
        last = lines[index]
        body = re.search(r"-d '[^']*'", last)
        parts.append(last[: body.end()] if body else last.strip())
        commands.append(" ".join(parts))
        index += 1
    return commands


def test_seed_file_parses_into_the_eight_calls():
    curls = seed_curls(SEED.read_text())
    assert [shlex.split(c)[1:3] for c in curls][:2] == [["-X", "POST"], ["-X", "POST"]]
    assert len(curls) == 8 and curls[-1].startswith("curl -X DELETE")


@pytest.fixture
def dev_stack(stack_factory, scripted_llm):
    return stack_factory({"QUERENT_DEV_AUTH": "1"}, llm_base_url=scripted_llm.base_url)


def run_curl(command: str, base_url: str, session_id: str | None) -> tuple[int, dict]:
    command = command.replace("http://localhost:8000", base_url)
    if session_id:
        command = command.replace(EXAMPLE_SESSION, session_id)
    argv = shlex.split(command) + ["-s", "-w", "\n%{http_code}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    body, _, code = done.stdout.rpartition("\n")
    return int(code), json.loads(body) if body else {}


def test_seed_003_curls_verbatim_under_dev_auth(dev_stack, llm, shared_demo):
    curls = seed_curls(SEED.read_text())
    llm.script([tool_call(run_sql_code(MONTHLY_SQL), text="Querying."), text("Here is the monthly revenue breakdown.")],
               match="Show me monthly revenue for 2024")
    llm.script([tool_call(run_sql_code(BY_GENRE_SQL), text="Refining."), text("Broken down by genre.")],
               match="Break this down by product category")

    code, created = run_curl(curls[0], dev_stack.base_url, None)
    assert code == 201 and created["tenant_id"] == "acme-corp", created
    session_id = created["session_id"]
    answers = [run_curl(c, dev_stack.base_url, session_id) for c in curls[1:]]
    codes = [code for code, _ in answers]
    assert codes == [200] * 7, answers
    message, refine, chart, suggestions, history, listed, deleted = [body for _, body in answers]
    assert message["success"] and message["sql"] == MONTHLY_SQL
    assert refine["sql"] == BY_GENRE_SQL and refine["intent"] == "refine"
    assert chart["visualization"]["type"] == "stacked_bar"  # sent without X-Tenant-ID
    assert suggestions["session_id"] == session_id and suggestions["suggestions"]
    assert [m["role"] for m in history["messages"]] == ["user", "assistant", "user", "assistant"]
    assert [s["session_id"] for s in listed["sessions"]] == [session_id]
    assert deleted == {"success": True, "session_id": session_id}


def test_real_credentials_keep_to_their_tenant(dev_stack, llm, shared_demo):
    """The dev-auth leeway is for dev auth only: an API key (even a service key that may act for any
    tenant) naming no tenant sees only its own tenant's sessions, as before."""
    api = Api(dev_stack.base_url, None)
    session_id = api.post("/api/v1/bi/sessions", json={"user_id": "u"}, headers={"X-Tenant-ID": "acme-corp"}).json()["session_id"]
    member = headers(api_user(tenant="other-corp"))
    from assistants.models import ApiKey

    _, service = ApiKey.issue(name="svc", tenant="service", user_id="svc", can_act_for_any_tenant=True)
    for auth in (member, {"Authorization": f"Bearer {service}"}):
        for path in ("suggestions", "history"):
            assert api.get(f"/api/v1/bi/sessions/{session_id}/{path}", headers=auth).status_code == 404
        assert api.post(f"/api/v1/bi/sessions/{session_id}/visualization", json={"chart_type": "bar"},
                        headers=auth).status_code == 404
    # Naming the tenant is what a service key does; a member of another tenant cannot.
    assert api.get(f"/api/v1/bi/sessions/{session_id}/history", headers={"Authorization": f"Bearer {service}",
                                                                         "X-Tenant-ID": "acme-corp"}).status_code == 200
    assert api.get(f"/api/v1/bi/sessions/{session_id}/history", headers={**member, "X-Tenant-ID": "acme-corp"}).status_code in (401, 403)
