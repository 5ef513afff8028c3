"""Julep agents, users and sessions over HTTP on the live stack (shapes of seed 004 / julep SDK 0.3.9)."""

import json
import uuid

import pytest

from tests.fakes.llm_server import error, text
from tests.support.principals import api_user, headers

from .conftest import Api

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SITUATION = "You are Sara, a relationship coach. Be warm and brief."


def julep(stack, user=None) -> Api:
    user = user or api_user(tenant="julep")
    return Api(stack.base_url, headers(user)["Authorization"].removeprefix("Bearer "))


def ok(response, status=200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def make_agent(api: Api, **fields) -> str:
    body = {"name": "Sara", "about": "A coach", "instructions": ["Be kind.", "Be brief."], "model": "julep-ai/samantha-1-turbo",
            "default_settings": {"temperature": 0.7}, "metadata": {"team": "care"}, "tools": [], "docs": [], **fields}
    return ok(api.post("/api/agents", json=body), 201)["id"]


def test_agents_users_sessions_crud_shapes(stack, shared_demo):
    api = julep(stack)
    created = ok(api.post("/api/agents", json={"name": "Sara", "about": "A coach", "instructions": ["Be kind.", "Be brief."],
                                               "model": "julep-ai/samantha-1-turbo", "default_settings": {"temperature": 0.7},
                                               "metadata": {"team": "care"}}), 201)
    assert set(created) == {"id", "created_at"} and created["created_at"].endswith("Z")
    agent_id = created["id"]
    assert uuid.UUID(agent_id).version == 4
    agent = ok(api.get(f"/api/agents/{agent_id}"))
    assert agent["instructions"] == ["Be kind.", "Be brief."] and agent["model"] == "julep-ai/samantha-1-turbo"
    assert agent["metadata"] == {"team": "care"} and agent["default_settings"] == {"temperature": 0.7}
    assert agent["data_source_id"] == str(shared_demo.id)  # agents start on the first usable data source
    # The agent is an assistant of the engine: the OpenGPTs view sees the same row.
    assert ok(api.get(f"/assistants/{agent_id}"))["name"] == "Sara"
    ok(api.patch(f"/api/agents/{agent_id}", json={"data_source_id": None}))
    assert ok(api.get(f"/api/agents/{agent_id}"))["data_source_id"] == str(shared_demo.id)  # PATCH null: unchanged
    no_data = ok(api.post("/api/agents", json={"name": "Talker", "data_source_id": None}), 201)["id"]
    assert ok(api.get(f"/api/agents/{no_data}"))["data_source_id"] is None

    updated = ok(api.put(f"/api/agents/{agent_id}", json={"name": "Sara 2", "about": "Coach", "instructions": "One line."}))
    assert set(updated) == {"id", "updated_at"} and updated["id"] == agent_id
    agent = ok(api.get(f"/api/agents/{agent_id}"))
    assert (agent["name"], agent["instructions"], agent["metadata"], agent["default_settings"]) == ("Sara 2", "One line.", {}, {})
    ok(api.patch(f"/api/agents/{agent_id}", json={"about": None, "name": None, "metadata": {"team": "ops"}, "model": "gpt-4o-mini"}))
    agent = ok(api.get(f"/api/agents/{agent_id}"))
    assert (agent["name"], agent["about"], agent["metadata"], agent["model"]) == ("Sara 2", "Coach", {"team": "ops"}, "gpt-4o-mini")

    user = ok(api.post("/api/users", json={"name": "Anon", "about": "Curious", "docs": [], "metadata": {"plan": "pro"}}), 201)
    user_id = user["id"]
    assert ok(api.get(f"/api/users/{user_id}")) | {"created_at": None, "updated_at": None} == {
        "id": user_id, "name": "Anon", "about": "Curious", "metadata": {"plan": "pro"}, "created_at": None, "updated_at": None}
    ok(api.patch(f"/api/users/{user_id}", json={"name": "Anon 2"}))
    assert ok(api.get(f"/api/users/{user_id}"))["about"] == "Curious"
    ok(api.put(f"/api/users/{user_id}", json={"name": "A", "about": "B"}))
    assert ok(api.get(f"/api/users/{user_id}"))["metadata"] == {}

    session = ok(api.post("/api/sessions", json={"agent_id": agent_id, "user_id": user_id, "situation": SITUATION,
                                                 "metadata": {"db_uuid": "1234"}, "render_templates": False,
                                                 "token_budget": None, "context_overflow": None}), 201)
    session_id = session["id"]
    got = ok(api.get(f"/api/sessions/{session_id}"))
    assert set(got) == {"id", "user_id", "agent_id", "situation", "summary", "created_at", "updated_at", "metadata",
                        "render_templates", "token_budget", "context_overflow"}
    assert (got["user_id"], got["agent_id"], got["situation"], got["summary"], got["metadata"], got["render_templates"]) == (
        user_id, agent_id, SITUATION, None, {"db_uuid": "1234"}, False)

    # As Julep: null leaves a field as it is; PATCH merges metadata, PUT replaces the situation and
    # the metadata when given (a situation-only PUT, as the SDK's sessions.update sends it, keeps it).
    ok(api.patch(f"/api/sessions/{session_id}", json={"situation": "New situation", "metadata": None, "token_budget": None}))
    got = ok(api.get(f"/api/sessions/{session_id}"))
    assert got["situation"] == "New situation" and got["metadata"] == {"db_uuid": "1234"}
    ok(api.patch(f"/api/sessions/{session_id}", json={"metadata": {"tier": "gold"}}))
    assert ok(api.get(f"/api/sessions/{session_id}"))["metadata"] == {"db_uuid": "1234", "tier": "gold"}
    ok(api.put(f"/api/sessions/{session_id}", json={"situation": "Replaced", "agent_id": agent_id, "metadata": None,
                                                     "token_budget": None, "context_overflow": None}))
    got = ok(api.get(f"/api/sessions/{session_id}"))
    assert got["situation"] == "Replaced" and got["metadata"] == {"db_uuid": "1234", "tier": "gold"} and got["user_id"] == user_id
    ok(api.put(f"/api/sessions/{session_id}", json={"situation": "Replaced", "metadata": {"only": 1}}))
    assert ok(api.get(f"/api/sessions/{session_id}"))["metadata"] == {"only": 1}
    other_agent = make_agent(api)
    for method in (api.put, api.patch):
        refused = method(f"/api/sessions/{session_id}", json={"situation": "x", "agent_id": other_agent})
        assert refused.status_code == 409 and refused.json()["detail"].startswith("agent_id:"), refused.text
        refused = method(f"/api/sessions/{session_id}", json={"situation": "x", "user_id": str(uuid.uuid4())})
        assert refused.status_code == 409 and refused.json()["detail"].startswith("user_id:"), refused.text
    assert ok(api.get(f"/api/sessions/{session_id}"))["agent_id"] == agent_id

    # Deleting: 202, then gone; deleting a user takes their sessions.
    extra = ok(api.post("/api/sessions", json={"agent_id": agent_id}), 201)["id"]
    assert ok(api.get(f"/api/sessions/{extra}"))["user_id"] is None
    deleted = ok(api.delete(f"/api/sessions/{extra}"), 202)
    assert deleted["id"] == extra and "deleted_at" in deleted
    assert api.get(f"/api/sessions/{extra}").status_code == 404
    ok(api.delete(f"/api/users/{user_id}"), 202)
    assert api.get(f"/api/sessions/{session_id}").status_code == 404
    ok(api.delete(f"/api/agents/{other_agent}"), 202)
    assert api.get(f"/api/agents/{other_agent}").status_code == 404


def test_lists_page_and_filter_by_metadata(stack, shared_demo):
    api = julep(stack)
    agents = [make_agent(api, name=f"agent-{i}", metadata={"group": "a" if i % 2 else "b", "n": i}) for i in range(5)]
    listed = ok(api.get("/api/agents", params={"limit": 100}))["items"]
    assert [a["id"] for a in listed] == agents[::-1]  # newest first
    page = ok(api.get("/api/agents", params={"limit": 2, "offset": 1}))["items"]
    assert [a["id"] for a in page] == agents[::-1][1:3]
    oldest_first = ok(api.get("/api/agents", params={"order": "asc", "limit": 2}))["items"]
    assert [a["id"] for a in oldest_first] == agents[:2]
    group_a = ok(api.get("/api/agents", params={"metadata_filter": json.dumps({"group": "a"})}))["items"]
    assert sorted(a["id"] for a in group_a) == sorted([agents[1], agents[3]])
    exact = ok(api.get("/api/agents", params={"metadata_filter": json.dumps({"group": "a", "n": 3})}))["items"]
    assert [a["id"] for a in exact] == [agents[3]]
    assert ok(api.get("/api/agents", params={"metadata_filter": "{}"}))["items"] != []

    user_ids = [ok(api.post("/api/users", json={"name": f"u{i}", "about": "", "metadata": {"tier": i}}), 201)["id"] for i in range(3)]
    assert [u["id"] for u in ok(api.get("/api/users", params={"metadata_filter": '{"tier": 2}'}))["items"]] == [user_ids[2]]
    sessions = [ok(api.post("/api/sessions", json={"agent_id": agents[0], "metadata": {"db_uuid": str(i)}}), 201)["id"] for i in range(3)]
    found = ok(api.get("/api/sessions/", params={"metadata_filter": '{"db_uuid": "1"}'}))["items"]
    assert [s["id"] for s in found] == [sessions[1]]

    for params, needle in [
        ({"metadata_filter": "{not json"}, "metadata_filter"), ({"metadata_filter": "[1, 2]"}, "metadata_filter"),
        ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"limit": "ten"}, "limit"), ({"offset": -1}, "offset"),
        ({"order": "sideways"}, "order"),
    ]:
        response = api.get("/api/sessions", params=params)
        assert response.status_code == 400 and response.json()["detail"].startswith(needle), (params, response.text)

    # Another principal sees none of it, and cannot reach any of it by id.
    stranger = julep(stack, api_user(tenant="julep"))
    assert ok(stranger.get("/api/agents"))["items"] == []
    assert ok(stranger.get("/api/sessions"))["items"] == []
    for path in (f"/api/agents/{agents[0]}", f"/api/users/{user_ids[0]}", f"/api/sessions/{sessions[0]}"):
        for method, body in (("GET", None), ("PATCH", {"metadata": {"x": 1}}), ("DELETE", None)):
            assert stranger.request(method, path, json=body).status_code == 404, (method, path)
    for tail in ("chat", "history", "suggestions"):
        response = stranger.request("POST" if tail == "chat" else "GET", f"/api/sessions/{sessions[0]}/{tail}",
                                    json={"messages": [{"role": "user", "content": "hi"}]} if tail == "chat" else None)
        assert response.status_code == 404, tail
    refused = stranger.post("/api/sessions", json={"agent_id": agents[0]})
    assert refused.status_code == 404 and refused.json()["detail"].startswith("agent_id:")


def test_chat_history_and_suggestions(stack, llm, shared_demo):
    api = julep(stack)
    agent_id = make_agent(api, instructions=["Answer in one sentence."])
    user_id = ok(api.post("/api/users", json={"name": "Anon", "about": "Works night shifts."}), 201)["id"]
    session_id = ok(api.post("/api/sessions", json={"agent_id": agent_id, "user_id": user_id, "situation": SITUATION}), 201)["id"]
    llm.script([text("Rest is part of the work, Anon.")], match="I feel tired")

    reply = api.post(f"/api/sessions/{session_id}/chat", json={
        "messages": [{"role": "user", "content": "I feel tired", "name": "Anon"}],
        "temperature": 0.5, "max_tokens": 200, "stream": False, "recall": True, "remember": True, "tools": None,
    })
    body = ok(reply)
    assert set(body) == {"id", "finish_reason", "response", "usage", "doc_ids"}
    assert body["finish_reason"] == "stop"
    assert body["doc_ids"] == {"agent_doc_ids": [], "user_doc_ids": []}
    [[message]] = body["response"]
    assert set(message) == {"role", "content", "name", "created_at", "id"}
    assert (message["role"], message["content"]) == ("assistant", "Rest is part of the work, Anon.")
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0
    system = llm.requests[-1]["messages"][0]
    assert system["role"] == "system"
    assert "Answer in one sentence." in system["content"] and SITUATION in system["content"]
    assert "You are talking to Anon. About them: Works night shifts." in system["content"]
    assert llm.requests[-1]["messages"][-1] == {"role": "user", "content": "I feel tired"}

    # The conversation continues on the same thread: the model sees the earlier turn.
    llm.script([text("Try a short walk.")], match="What should I do")
    ok(api.post(f"/api/sessions/{session_id}/chat/", json={"messages": [{"role": "user", "content": [{"type": "text", "text": "What should I do?"}]}]}))
    sent = [m["content"] for m in llm.requests[-1]["messages"][1:]]
    assert sent == ["I feel tired", "Rest is part of the work, Anon.", "What should I do?"]

    history = ok(api.get(f"/api/sessions/{session_id}/history"))["items"]
    assert [(h["role"], h["content"]) for h in history] == [
        ("user", "I feel tired"), ("assistant", "Rest is part of the work, Anon."), ("user", "What should I do?"),
        ("assistant", "Try a short walk."),
    ]
    assert history[1]["id"] == message["id"]
    assert [h["content"] for h in ok(api.get(f"/api/sessions/{session_id}/history", params={"limit": 1, "offset": 1}))["items"]] == [
        "Rest is part of the work, Anon."]

    suggestions = ok(api.get(f"/api/sessions/{session_id}/suggestions"))["items"]
    assert suggestions, "the agent has the demo data source: its schema grounds the suggestions"
    assert {s["target"] for s in suggestions} == {"user"} and {s["session_id"] for s in suggestions} == {session_id}
    assert {s["message_id"] for s in suggestions} == {history[-1]["id"]}

    # Templated situations are rendered with the agent and the user.
    ok(api.patch(f"/api/sessions/{session_id}", json={"situation": "Coach {{ user.name }} as {{ agent.name }}.", "render_templates": True}))
    llm.script([text("ok")], match="template check")
    ok(api.post(f"/api/sessions/{session_id}/chat", json={"messages": [{"role": "user", "content": "template check"}]}))
    assert "Coach Anon as Sara." in llm.requests[-1]["messages"][0]["content"]
    broken = api.patch(f"/api/sessions/{session_id}", json={"situation": "{% if %}"})
    assert broken.status_code == 400 and broken.json()["detail"].startswith("situation:")

    # Forgetting the history starts the conversation over.
    ok(api.delete(f"/api/sessions/{session_id}/history"), 202)
    assert ok(api.get(f"/api/sessions/{session_id}/history"))["items"] == []
    assert ok(api.get(f"/api/sessions/{session_id}/suggestions"))["items"] == []


def test_chat_input_errors_and_model_failure(stack, llm, shared_demo):
    api = julep(stack)
    session_id = ok(api.post("/api/sessions", json={"agent_id": make_agent(api)}), 201)["id"]
    chat = f"/api/sessions/{session_id}/chat"
    for body, needle in [
        ({}, "messages"), ({"messages": []}, "messages"), ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "system", "content": "only system"}]}, "messages"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages"),
        ({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, "stream"),
        ({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, "temperature"),
        ({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}, "tools"),
    ]:
        response = api.post(chat, json=body)
        assert response.status_code == 400 and response.json()["detail"].startswith(needle), (body, response.text)
    assert api.post(chat, content=b"{oops", headers={"Content-Type": "application/json"}).status_code == 400
    assert api.post(chat, content=b"x" * (3 * 1024 * 1024), headers={"Content-Type": "application/json"}).status_code == 413
    assert api.post(f"/api/sessions/{uuid.uuid4()}/chat", json={"messages": [{"role": "user", "content": "hi"}]}).status_code == 404
    assert llm.requests == []

    for path, body, needle in [
        ("/api/agents", {"about": "no name"}, "name"), ("/api/agents", {"name": 5}, "name"),
        ("/api/agents", {"name": "x", "instructions": [1]}, "instructions"),
        ("/api/agents", {"name": "x", "docs": [{"title": "t", "content": ""}]}, "docs"),
        ("/api/agents", {"name": "x", "metadata": {"julep": 1}}, "metadata"),
        ("/api/agents", {"name": "x", "default_settings": {"temperature": 9}}, "default_settings"),
        ("/api/agents", {"name": "x", "colour": "red"}, "colour"),
        ("/api/sessions", {"agent_id": "not-a-uuid"}, "agent_id"),
        ("/api/sessions", {}, "agent_id"), ("/api/users", {"metadata": "x"}, "metadata"),
    ]:
        response = api.post(path, json=body)
        assert response.status_code == 400 and response.json()["detail"].startswith(needle), (path, body, response.text)
    # A well-formed id that names nothing the caller may use: 404, naming the field.
    for path, body, needle in [("/api/agents", {"name": "x", "data_source_id": str(uuid.uuid4())}, "data_source_id"),
                               ("/api/sessions", {"agent_id": str(uuid.uuid4())}, "agent_id")]:
        response = api.post(path, json=body)
        assert response.status_code == 404 and response.json()["detail"].startswith(needle), (path, body, response.text)
    agent_id = make_agent(api)
    missing_about = api.put(f"/api/agents/{agent_id}", json={"name": "only name"})
    assert missing_about.status_code == 400 and missing_about.json()["detail"].startswith("about")
    assert Api(stack.base_url, None).get("/api/agents").status_code == 401
    assert Api(stack.base_url, "qk_bad_token").get("/api/agents").status_code == 401

    llm.script([error(401, "Incorrect API key provided")], match="fails")
    failed = api.post(chat, json={"messages": [{"role": "user", "content": "this fails"}]})
    assert failed.status_code == 502 and "language model failed" in failed.json()["detail"]
