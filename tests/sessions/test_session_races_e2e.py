"""Two requests on one session sent together, many times, against the live stack: a delete either
happens (and the session is gone) or answers 409 (and it is still there); nothing answers 500."""

import threading
import uuid

import pytest

from tests.fakes.llm_server import echo_fallback
from tests.support.principals import api_user, headers

from .conftest import Api

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRIALS = 12


def together(*calls):
    """Run the calls at the same moment (a barrier), return their responses in order."""
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        out[index] = call()

    workers = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    return out


@pytest.fixture
def echo_llm(llm):
    llm.fallback = echo_fallback
    yield llm
    llm.fallback = None


def check_delete(api, auth, path: str, deleted, ok_codes: tuple[int, ...]):
    assert deleted.status_code in ok_codes, deleted.text
    exists = api.get(path, headers=auth).status_code
    if deleted.status_code in (200, 202):
        assert exists == 404, f"DELETE answered {deleted.status_code} but the session is still there"
    elif deleted.status_code == 409:
        assert exists == 200
    return exists == 200


def julep_session(api, auth, agent_id):
    return api.post("/api/sessions", json={"agent_id": agent_id}, headers=auth).json()["id"]


def chat_body(text_):
    return {"messages": [{"role": "user", "content": text_}]}


@pytest.mark.parametrize("other", ["clear_history", "chat", "put", "patch"])
def test_julep_delete_together_with(stack, echo_llm, shared_demo, other):
    api = Api(stack.base_url, None)
    auth = headers(api_user(tenant=f"race-{uuid.uuid4().hex[:6]}"))
    agent_id = api.post("/api/agents", json={"name": "Racer"}, headers=auth).json()["id"]
    outcomes = set()
    for trial in range(TRIALS):
        session_id = julep_session(api, auth, agent_id)
        path = f"/api/sessions/{session_id}"
        calls = {
            "clear_history": lambda: api.delete(f"{path}/history", headers=auth),
            "chat": lambda: api.post(f"{path}/chat", json=chat_body(f"hello {trial}"), headers=auth),
            "put": lambda: api.put(path, json={"situation": "replaced"}, headers=auth),
            "patch": lambda: api.patch(path, json={"metadata": {"n": trial}}, headers=auth),
        }
        deleted, second = together(lambda: api.delete(path, headers=auth), calls[other])
        allowed = {"clear_history": (202, 404, 409), "chat": (200, 404, 409), "put": (200, 404), "patch": (200, 404)}[other]
        assert second.status_code in allowed, f"{other}: {second.status_code} {second.text}"
        still_there = check_delete(api, auth, path, deleted, (202, 409))
        outcomes.add((deleted.status_code, second.status_code))
        if still_there:  # the delete lost the race to a run: it goes through once the run is over
            assert api.delete(path, headers=auth).status_code in (202, 409)
    assert all(code < 500 for pair in outcomes for code in pair), outcomes


def test_bi_delete_together_with_a_message(stack, echo_llm, shared_demo):
    api = Api(stack.base_url, None)
    auth = headers(api_user(tenant=f"race-{uuid.uuid4().hex[:6]}"))
    for trial in range(TRIALS):
        session_id = api.post("/api/v1/bi/sessions", json={"user_id": "u"}, headers=auth).json()["session_id"]
        path = f"/api/v1/bi/sessions/{session_id}"
        deleted, answered = together(
            lambda: api.delete(path, headers=auth),
            lambda: api.post(f"{path}/messages", json={"message": f"hi there {trial}"}, headers=auth),
        )
        assert answered.status_code in (200, 404, 409), answered.text
        check_delete(api, auth, path, deleted, (200, 409))


def test_julep_chat_together_with_clear_history_and_update(stack, echo_llm, shared_demo):
    """No delete: each pair ends with the session there, its history linear, nothing 500."""
    api = Api(stack.base_url, None)
    auth = headers(api_user(tenant=f"race-{uuid.uuid4().hex[:6]}"))
    agent_id = api.post("/api/agents", json={"name": "Racer"}, headers=auth).json()["id"]
    session_id = julep_session(api, auth, agent_id)
    path = f"/api/sessions/{session_id}"
    for trial in range(TRIALS):
        chat, cleared, updated = together(
            lambda: api.post(f"{path}/chat", json=chat_body(f"ping {trial}"), headers=auth),
            lambda: api.delete(f"{path}/history", headers=auth),
            lambda: api.patch(path, json={"situation": f"s{trial}"}, headers=auth),
        )
        assert chat.status_code in (200, 409), chat.text
        assert cleared.status_code in (202, 409), cleared.text
        assert updated.status_code == 200, updated.text
    history = api.get(f"{path}/history", headers=auth)
    assert history.status_code == 200
    roles = [m["role"] for m in history.json()["items"]]
    assert roles == ["user", "assistant"] * (len(roles) // 2)
