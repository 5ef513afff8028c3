"""OpenGPTs clients against real processes: seed 002 step by step with `requests`, streaming, JWT, isolation."""

import json
import re
import time
import uuid

import jwt
import pytest
import requests

from tests.fakes.llm_server import text, tool_call
from tests.fakes.oidc_provider import OidcProvider
from tests.support.principals import api_user, headers
from tests.support.sse import sse_frames

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def dev_stack(stack_factory, scripted_llm):
    """OpenGPTs' examples authenticate with the `opengpts_user_id` cookie: development auth on."""
    return stack_factory({"QUERENT_DEV_AUTH": "1"}, llm_base_url=scripted_llm.base_url)


def wait_for_state(base, thread_id, cookies, count, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values = requests.get(f"{base}/threads/{thread_id}/state", cookies=cookies, timeout=10).json()["values"]
        if len(values) >= count:
            return values
        time.sleep(0.1)
    raise AssertionError(f"thread never reached {count} messages: {values}")


def test_seed_002_step_by_step(dev_stack, llm, tenant_demo):
    base = dev_stack.base_url
    user = f"foo-{uuid.uuid4().hex[:6]}"
    cookies = {"opengpts_user_id": user}

    # Create an assistant.
    created = requests.post(f"{base}/assistants", json={"name": "bar", "config": {"configurable": {}}, "public": True}, cookies=cookies).json()
    assert set(created) >= {"assistant_id", "name", "config", "updated_at", "public", "user_id"}
    assert created["name"] == "bar" and created["public"] is True and created["user_id"] == user
    assert created["config"] == {"configurable": {}}
    assistant_id = created["assistant_id"]

    configured = requests.post(f"{base}/assistants", cookies=cookies, json={
        "name": "bar",
        "config": {"configurable": {
            "type": "agent", "type==agent/agent_type": "GPT 3.5 Turbo",
            "type==agent/system_message": "You are a helpful assistant", "type==agent/tools": ["Wikipedia"],
        }},
        "public": True,
    }).json()
    assert configured["config"]["configurable"]["type==agent/system_message"] == "You are a helpful assistant"

    # Create a thread.
    thread = requests.post(f"{base}/threads", cookies=cookies, json={"name": "hi", "assistant_id": assistant_id}).json()
    assert set(thread) >= {"thread_id", "assistant_id", "name", "updated_at", "user_id"}
    assert thread["name"] == "hi" and thread["assistant_id"] == assistant_id and thread["user_id"] == user
    thread_id = thread["thread_id"]

    # The thread is empty.
    assert requests.get(f"{base}/threads/{thread_id}/state", cookies=cookies).json() == {"values": [], "next": []}

    # Add a message.
    requests.post(f"{base}/threads/{thread_id}/state", cookies=cookies, json={"values": [{"content": "hi! my name is bob", "type": "human"}]})
    values = requests.get(f"{base}/threads/{thread_id}/state", cookies=cookies).json()["values"]
    assert len(values) == 1
    assert {k: values[0][k] for k in ("content", "additional_kwargs", "type", "example")} == {
        "content": "hi! my name is bob", "additional_kwargs": {}, "type": "human", "example": False,
    }

    # Run the assistant on that thread with no new input.
    llm.script([text("Hello, Bob! How can I assist you today?")], match="hi! my name is bob")
    run = requests.post(f"{base}/runs", cookies=cookies, json={"assistant_id": assistant_id, "thread_id": thread_id, "input": {"messages": []}}).json()
    assert set(run) >= {"run_id", "status"}
    values = wait_for_state(base, thread_id, cookies, 2)
    assert values[1]["type"] == "ai" and values[1]["content"] == "Hello, Bob! How can I assist you today?"
    assert values[1]["additional_kwargs"] == {"agent": {  # as seed 002 shows it
        "return_values": {"output": "Hello, Bob! How can I assist you today?"}, "log": "Hello, Bob! How can I assist you today?", "type": "AgentFinish"}}
    assert llm.requests[-1]["messages"][0]["content"].startswith("You are a helpful assistant") is False  # first assistant has no prompt

    # Run with new messages.
    llm.script([text("Tu nombre es Bob.")], match="whats my name? respond in spanish")
    requests.post(f"{base}/runs", cookies=cookies, json={
        "assistant_id": assistant_id, "thread_id": thread_id,
        "input": {"messages": [{"content": "whats my name? respond in spanish", "type": "human"}]},
    })
    values = wait_for_state(base, thread_id, cookies, 4)
    assert [(v["type"], v["content"]) for v in values] == [
        ("human", "hi! my name is bob"), ("ai", "Hello, Bob! How can I assist you today?"),
        ("human", "whats my name? respond in spanish"), ("ai", "Tu nombre es Bob."),
    ]
    # The model saw the history.
    assert [m["role"] for m in llm.requests[-1]["messages"]][1:] == ["user", "assistant", "user"]

    # Stream tokens.
    llm.script([text("You too! If you have any other questions, feel free to ask.", chunks=12)], match="have a good day!")
    response = requests.post(f"{base}/runs/stream", cookies=cookies, json={
        "assistant_id": assistant_id, "thread_id": thread_id,
        "input": {"messages": [{"content": "have a good day!", "type": "human"}]},
    }, stream=True)
    assert response.status_code == 200
    events = list(sse_frames(response))
    assert events[0][0] == "metadata" and "run_id" in json.loads(events[0][1])
    data_events = [json.loads(d) for e, d in events if e == "data"]
    assert events[-1] == ("end", "")
    contents = [batch[-1]["content"] for batch in data_events]
    assert len(contents) >= 2, contents  # it grew as tokens arrived
    assert all(contents[i + 1].startswith(contents[i]) for i in range(len(contents) - 1))
    assert contents[-1] == "You too! If you have any other questions, feel free to ask."
    assert len({batch[-1]["id"] for batch in data_events}) == 1  # the same message, growing
    # Frames end with CRLF like OpenGPTs'.
    llm.script([text("Bye.")], match="bye now")
    raw = requests.post(f"{base}/runs/stream", cookies=cookies, json={
        "thread_id": thread_id, "input": {"messages": [{"content": "bye now", "type": "human"}]},
    }).content
    assert raw.startswith(b"event: metadata\r\ndata: {") and raw.endswith(b"event: end\r\n\r\n")  # no data line, like sse-starlette
    # Compact JSON, as upstream's orjson writes it.
    assert re.match(rb'event: metadata\r\ndata: \{"run_id":"[0-9a-f-]{36}"\}\r\n\r\nevent: data\r\ndata: \[\{"content":', raw), raw[:300]
    assert b'"type":"ai","name":null,' in raw and b'"content":"Bye."' in raw

    # History: one state per finished run, newest first.
    history = requests.get(f"{base}/threads/{thread_id}/history", cookies=cookies).json()
    assert len(history) == 4 and len(history[0]["values"]) == 8 and len(history[-1]["values"]) == 2

    # List, public, get, config schema, health, ok.
    assert assistant_id in [a["assistant_id"] for a in requests.get(f"{base}/assistants/", cookies=cookies).json()]
    assert assistant_id in [a["assistant_id"] for a in requests.get(f"{base}/assistants/public", cookies=cookies).json()]
    assert requests.get(f"{base}/assistants/{assistant_id}", cookies=cookies).json()["name"] == "bar"
    assert thread_id in [t["thread_id"] for t in requests.get(f"{base}/threads/", cookies=cookies).json()]
    assert "configurable" in requests.get(f"{base}/runs/config_schema", cookies=cookies).json()["properties"]
    assert requests.get(f"{base}/ok").json() == {"ok": True}


def test_stream_with_tool_use_on_demo_data(stack, llm, tenant_demo):
    user = api_user()
    h = headers(user)
    base = stack.base_url
    assistant = requests.post(f"{base}/assistants", headers=h, json={
        "name": "analyst", "config": {"configurable": {"type==agent/system_message": "Be brief.", "data_source_id": str(tenant_demo.id)}},
    }).json()
    assert assistant["data_source_id"] == str(tenant_demo.id)
    thread = requests.post(f"{base}/threads/", headers=h, json={"name": "t", "assistant_id": assistant["assistant_id"]}).json()
    question = f"how many tracks {uuid.uuid4().hex[:6]}"
    llm.script([tool_call("executor.print(executor.run_sql('SELECT COUNT(*) AS n FROM track')[0]['n'])", call_id="call_tracks"),
                text("There are 3503 tracks.", chunks=4)], match=question)
    response = requests.post(f"{base}/runs/stream", headers=h, stream=True, json={
        "assistant_id": assistant["assistant_id"], "thread_id": thread["thread_id"],
        "input": [{"content": question, "type": "human"}],
    })
    events = list(sse_frames(response))
    final = json.loads([d for e, d in events if e == "data"][-1])
    assert [m["type"] for m in final] == ["ai", "tool", "ai"]
    assert final[0]["tool_calls"][0]["id"] == "call_tracks" and final[0]["tool_calls"][0]["name"] == "execute_python"
    assert final[1]["tool_call_id"] == "call_tracks" and json.loads(final[1]["content"])["output"].endswith("3503\n")
    assert final[2]["content"] == "There are 3503 tracks."
    assert events[-1][0] == "end"
    assert llm.requests[0]["messages"][0]["content"].startswith("Be brief.")
    state = requests.get(f"{base}/threads/{thread['thread_id']}/state", headers=h).json()["values"]
    assert [m["type"] for m in state] == ["human", "ai", "tool", "ai"]
    assert state[1]["id"] == final[0]["id"] and state[3]["usage_metadata"]["total_tokens"] > 0


def test_stream_error_event(stack, llm, tenant_demo):
    from tests.fakes.llm_server import error

    h = headers(api_user())
    base = stack.base_url
    assistant = requests.post(f"{base}/assistants", headers=h, json={"name": "a", "config": {}}).json()
    thread = requests.post(f"{base}/threads", headers=h, json={"name": "t", "assistant_id": assistant["assistant_id"]}).json()
    question = f"break {uuid.uuid4().hex[:6]}"
    llm.script([error(404, "The model `nope` does not exist")], match=question)
    response = requests.post(f"{base}/runs/stream", headers=h, stream=True, json={"thread_id": thread["thread_id"], "input": [{"content": question, "type": "human"}]})
    events = list(sse_frames(response))
    assert [e for e, _ in events] == ["metadata", "error"]
    body = json.loads(events[1][1])
    assert body["status_code"] == 500 and "not found" in body["message"]


def test_jwt_auth(stack, llm, tenant_demo):
    base = stack.base_url
    token = jwt.encode({"sub": "jwt-user", "exp": int(time.time()) + 60}, "e2e-jwt-secret-long-enough-for-hs256-keys", algorithm="HS256")
    h = {"Authorization": f"Bearer {token}"}
    created = requests.post(f"{base}/assistants", headers=h, json={"name": "mine", "config": {}}).json()
    assert created["user_id"] == "jwt-user"
    expired = jwt.encode({"sub": "jwt-user", "exp": int(time.time()) - 5}, "e2e-jwt-secret-long-enough-for-hs256-keys", algorithm="HS256")
    assert requests.get(f"{base}/assistants", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    forged = jwt.encode({"sub": "jwt-user", "exp": int(time.time()) + 60}, "not-the-secret-at-all-but-long-enough", algorithm="HS256")
    assert requests.get(f"{base}/assistants", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    # Cookies are not credentials outside development mode.
    assert requests.get(f"{base}/assistants", cookies={"opengpts_user_id": "jwt-user"}).status_code == 401


def test_oidc_auth(stack_factory, scripted_llm, llm):
    """OIDC as OpenGPTs' `jwt_oidc`: only the issuer and audience are configured; the keys come from discovery."""
    provider = OidcProvider().start()
    try:
        oidc_stack = stack_factory({"QUERENT_JWT_SECRET": "", "QUERENT_JWT_ISSUER": provider.issuer,
                                    "QUERENT_JWT_AUDIENCE": "querent"}, llm_base_url=scripted_llm.base_url)
        base = oidc_stack.base_url
        alice = {"Authorization": f"Bearer {provider.token('alice', audience='querent')}"}
        bob = {"Authorization": f"Bearer {provider.token('bob', audience='querent')}"}
        assistant = requests.post(f"{base}/assistants", headers=alice, json={"name": "mine", "config": {}}).json()
        assert assistant["user_id"] == "alice"
        thread = requests.post(f"{base}/threads", headers=alice, json={"name": "t", "assistant_id": assistant["assistant_id"]}).json()
        question = f"hello oidc {uuid.uuid4().hex[:6]}"
        llm.script([text("Hi Alice.", chunks=2)], match=question)
        response = requests.post(f"{base}/runs/stream", headers=alice, stream=True, json={
            "thread_id": thread["thread_id"], "input": [{"content": question, "type": "human"}]})
        events = list(sse_frames(response))
        assert events[-1][0] == "end" and json.loads(events[-2][1])[-1]["content"] == "Hi Alice."
        assert requests.get(f"{base}/threads/{thread['thread_id']}", headers=bob).status_code == 404
        assert requests.get(f"{base}/assistants", headers=bob).json() == []
        for token in (provider.token("alice", audience="other-app"), provider.token("alice", audience="querent", exp_in=-5),
                      provider.token("alice", audience="querent", issuer="https://evil.example")):
            refused = requests.get(f"{base}/assistants", headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401 and refused.headers["content-type"].startswith("application/json")
        assert provider.discovery_fetches == 1  # once per process, not per request
    finally:
        provider.stop()


def test_isolation_matrix(stack, llm, tenant_demo):
    """User B can neither read, change, delete nor take over user A's assistants and threads."""
    base = stack.base_url
    user_a, user_b = api_user(user_id=f"a-{uuid.uuid4().hex[:6]}"), api_user(user_id=f"b-{uuid.uuid4().hex[:6]}")
    a, b = headers(user_a), headers(user_b)
    private = requests.post(f"{base}/assistants", headers=a, json={"name": "private", "config": {}}).json()
    public = requests.post(f"{base}/assistants", headers=a, json={"name": "public", "config": {}, "public": True}).json()
    thread = requests.post(f"{base}/threads", headers=a, json={"name": "secret", "assistant_id": private["assistant_id"]}).json()
    pid, qid, tid = private["assistant_id"], public["assistant_id"], thread["thread_id"]
    body = {"name": "stolen", "config": {}, "public": True}

    cases = [
        ("GET", f"/assistants/{pid}", None, 404),
        ("PUT", f"/assistants/{pid}", body, 404),
        ("DELETE", f"/assistants/{pid}", None, 404),
        ("GET", f"/assistants/{qid}", None, 200),  # public: readable
        ("PUT", f"/assistants/{qid}", body, 404),  # but not changeable
        ("DELETE", f"/assistants/{qid}", None, 404),
        ("GET", f"/threads/{tid}", None, 404),
        ("PUT", f"/threads/{tid}", {"name": "stolen", "assistant_id": qid}, 404),
        ("DELETE", f"/threads/{tid}", None, 404),
        ("GET", f"/threads/{tid}/state", None, 404),
        ("POST", f"/threads/{tid}/state", {"values": [{"content": "x", "type": "human"}]}, 404),
        ("GET", f"/threads/{tid}/history", None, 404),
        ("POST", "/runs", {"thread_id": tid, "input": [{"content": "x", "type": "human"}]}, 404),
        ("POST", "/runs/stream", {"thread_id": tid, "input": [{"content": "x", "type": "human"}]}, 404),
        ("POST", "/threads", {"name": "x", "assistant_id": pid}, 404),  # a private assistant of someone else
    ]
    for method, path, payload, expected in cases:
        response = requests.request(method, f"{base}{path}", headers=b, json=payload)
        assert response.status_code == expected, (method, path, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
    # Nothing changed for A.
    assert requests.get(f"{base}/assistants/{pid}", headers=a).json()["name"] == "private"
    assert requests.get(f"{base}/assistants/{qid}", headers=a).json()["name"] == "public"
    assert requests.get(f"{base}/threads/{tid}", headers=a).json()["name"] == "secret"
    assert requests.get(f"{base}/threads/{tid}/state", headers=a).json()["values"] == []
    assert pid not in [x["assistant_id"] for x in requests.get(f"{base}/assistants", headers=b).json()]
    # Missing objects are 404 too; PUT of a fresh id creates it for the caller.
    fresh = str(uuid.uuid4())
    assert requests.delete(f"{base}/assistants/{fresh}", headers=b).status_code == 404
    assert requests.put(f"{base}/assistants/{fresh}", headers=b, json=body).json()["user_id"] == user_b["_user_id"]


@pytest.mark.parametrize("method,path,payload,status,needle", [
    ("POST", "/assistants", {"config": {}}, 400, "name"),
    ("POST", "/assistants", {"name": "x", "config": "nope"}, 400, "config"),
    ("POST", "/assistants", {"name": "x", "config": {}, "public": "yes"}, 400, "public"),
    ("POST", "/assistants", {"name": "x", "config": {"configurable": {"type==agent/tools": "x"}}}, 400, "tools"),
    ("POST", "/threads", {"name": "x"}, 400, "assistant_id"),
    ("POST", "/threads", {"name": "x", "assistant_id": "nope"}, 400, "assistant_id"),
    ("POST", "/runs", {"input": []}, 400, "thread_id"),
    ("POST", "/runs/stream", {"thread_id": "nope"}, 400, "thread_id"),
])
def test_bad_input_is_4xx(stack, method, path, payload, status, needle):
    h = headers(api_user())
    response = requests.request(method, f"{stack.base_url}{path}", headers=h, json=payload)
    assert response.status_code == status, response.text
    assert needle in response.json()["detail"]
