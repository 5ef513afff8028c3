"""OpenGPTs complete, against real processes: /ingest, the three bot types, retrieval (the scripted
model checks it was sent the passage that holds the answer), config_schema in the frontend's shape,
feedback, and seed 002's own streaming client run as written."""

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from tests.fakes.llm_server import text, tool_call
from tests.support.documents import DOOR_PASSAGE, HANDBOOK, SECURITY, docx_bytes, pdf_bytes
from tests.support.principals import api_user, headers
from tests.support.sse import sse_frames

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SEED = next(Path("/work/shared/seeds").glob("002_*.txt")) if Path("/work/shared/seeds").exists() else None


@pytest.fixture(scope="module")
def dev_stack(stack_factory, scripted_llm):
    return stack_factory({"QUERENT_DEV_AUTH": "1"}, llm_base_url=scripted_llm.base_url)


def _assistant(base, h, name, configurable, **kwargs):
    response = requests.post(f"{base}/assistants", headers=h, json={"name": name, "config": {"configurable": configurable}, "public": False}, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()["assistant_id"]


def _thread(base, h, assistant_id, **kwargs):
    return requests.post(f"{base}/threads", headers=h, json={"name": "t", "assistant_id": assistant_id}, **kwargs).json()["thread_id"]


def _ingest(base, h, configurable, files, **kwargs):
    return requests.post(f"{base}/ingest", headers=h, files=[("files", f) for f in files],
                         data={"config": json.dumps({"configurable": configurable})}, **kwargs)


def _stream(base, h, thread_id, message, **kwargs):
    response = requests.post(f"{base}/runs/stream", headers=h, stream=True, timeout=60, json={
        "thread_id": thread_id, "input": {"messages": [{"content": message, "type": "human"}]}}, **kwargs)
    assert response.status_code == 200, response.text
    return list(sse_frames(response))


def _sent(llm, needle):
    """Every message of the model requests whose text holds `needle`."""
    return [m for body in llm.requests for m in body["messages"] if needle in (m.get("content") or "")]


def test_ragbot_answers_from_the_passage_that_holds_the_answer(stack, llm):
    base, h = stack.base_url, headers(api_user())
    assistant_id = _assistant(base, h, "ragbot", {"type": "chat_retrieval", "type==chat_retrieval/system_message": "Answer from the files."})
    uploaded = _ingest(base, h, {"assistant_id": assistant_id}, [
        ("handbook.docx", docx_bytes(HANDBOOK), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("security.pdf", pdf_bytes(SECURITY), "application/pdf"),
    ])
    assert uploaded.status_code == 200, uploaded.text
    assert [(d["title"], d["kind"], d["scope"]) for d in uploaded.json()] == [("handbook.docx", "docx", "assistant"), ("security.pdf", "pdf", "assistant")]
    thread_id = _thread(base, h, assistant_id)
    assert requests.get(f"{base}/threads/{thread_id}/state", headers=h).json() == {"values": {"messages": []}, "next": []}

    llm.script([text("The door code is 4417.", chunks=3)], match="door code")
    frames = _stream(base, h, thread_id, "What is the door code of the Leeds loading dock?")
    request = llm.requests[-1]
    assert "tools" not in request  # a RAGBot answers, it calls nothing
    system = [m["content"] for m in request["messages"] if m["role"] == "system"]
    assert system[0] == "Answer from the files." and any("4417" in s and "security.pdf" in s for s in system[1:])
    assert not any("Holidays must be requested" in s for s in system)  # the unrelated passages stay out
    data = [json.loads(d) for e, d in frames if e == "data"]
    assert all(set(d) == {"messages"} for d in data) and data[-1]["messages"][-1]["content"] == "The door code is 4417."
    assert frames[-1] == ("end", "")
    state = requests.get(f"{base}/threads/{thread_id}/state", headers=h).json()
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]
    agent = state["values"]["messages"][1]["additional_kwargs"]["agent"]
    assert agent == {"return_values": {"output": "The door code is 4417."}, "log": "The door code is 4417.", "type": "AgentFinish"}
    # The passages used are on the run's record.
    events = requests.get(f"{base}/threads/{thread_id}/events", headers=h, params={"after": 0, "events": "all"}).json()["events"]
    [looked_up] = [e["data"] for e in events if e["event"] == "retrieval"]
    assert looked_up["query"] == "What is the door code of the Leeds loading dock?" and "4417" in looked_up["passages"][0]["text"]
    # Seed 002's RAGBot shapes for adding messages and for history.
    added = requests.post(f"{base}/threads/{thread_id}/state", headers=h, json={"values": {"messages": [{"content": "thanks", "type": "human"}]}})
    assert added.status_code == 200 and [m["content"] for m in added.json()["values"]["messages"]][-1] == "thanks"
    history = requests.get(f"{base}/threads/{thread_id}/history", headers=h).json()
    assert [m["type"] for m in history[0]["values"]["messages"]] == ["human", "ai"]


def test_agent_with_retrieval_selected_calls_it_on_a_thread_upload(stack, llm):
    base, h = stack.base_url, headers(api_user())
    tools = [{"id": "r1", "type": "retrieval", "name": "Retrieval", "description": "Look up information in uploaded files.", "config": {}}]
    assistant_id = _assistant(base, h, "agent", {"type": "agent", "type==agent/tools": tools, "type==agent/system_message": "Be brief."})
    thread_id = _thread(base, h, assistant_id)
    response = _ingest(base, h, {"thread_id": thread_id}, [("security.txt", "\n\n".join(SECURITY).encode(), "text/plain")])
    assert response.status_code == 200 and response.json()[0]["scope"] == "thread"

    llm.script([tool_call(name="retrieval", arguments=json.dumps({"query": "loading dock door code"})), text("It is 4417.")], match="code")
    frames = _stream(base, h, thread_id, "Which code opens the loading dock?")
    first, second = llm.requests[-2], llm.requests[-1]
    assert [t["function"]["name"] for t in first["tools"]] == ["retrieval"]  # only what was selected
    tool_message = next(m for m in second["messages"] if m["role"] == "tool")
    assert DOOR_PASSAGE in tool_message["content"]
    messages = [json.loads(d) for e, d in frames if e == "data"][-1]
    assert [m["type"] for m in messages] == ["ai", "tool", "ai"] and messages[1]["name"] == "retrieval"


def test_chatbot_offers_no_tools_and_default_agent_offers_sql(stack, llm):
    base, h = stack.base_url, headers(api_user())
    chatbot = _assistant(base, h, "chatbot", {"type": "chatbot", "type==chatbot/system_message": "You are a pirate."})
    llm.script([text("Arr.")], match="hello pirate")
    _stream(base, h, _thread(base, h, chatbot), "hello pirate")
    assert "tools" not in llm.requests[-1] and llm.requests[-1]["messages"][0]["content"] == "You are a pirate."

    agent = _assistant(base, h, "agent", {})
    llm.script([text("Hi.")], match="hello agent")
    _stream(base, h, _thread(base, h, agent), "hello agent")
    assert [t["function"]["name"] for t in llm.requests[-1]["tools"]] == ["execute_python"]


def test_ingest_errors_are_clear_and_nothing_is_half_stored(stack, llm):
    base, alice, bob = stack.base_url, headers(api_user()), headers(api_user())
    assistant_id = _assistant(base, alice, "a", {"type": "chat_retrieval"})
    ok = ("a.txt", b"alpha", "text/plain")
    cases = [
        (requests.post(f"{base}/ingest", headers=alice, files=[("files", ok)]), 400, "config"),
        (_ingest(base, alice, {}, [ok]), 400, "exactly one"),
        (_ingest(base, alice, {"assistant_id": assistant_id, "thread_id": str(uuid.uuid4())}, [ok]), 400, "exactly one"),
        (_ingest(base, bob, {"assistant_id": assistant_id}, [ok]), 404, "Assistant not found"),
        (_ingest(base, alice, {"thread_id": str(uuid.uuid4())}, [ok]), 404, "Thread not found"),
        (_ingest(base, alice, {"assistant_id": assistant_id}, []), 400, "no files"),
        (_ingest(base, alice, {"assistant_id": assistant_id}, [ok, ("bad.pdf", b"%PDF-1.4 broken", "application/pdf")]), 400, "bad.pdf"),
        (_ingest(base, alice, {"assistant_id": assistant_id}, [("x.bin", b"\x00\x01\x02", "application/octet-stream")]), 415, "binary"),
    ]
    for response, status, needle in cases:
        assert response.status_code == status, (response.status_code, response.text)
        assert needle in response.json()["detail"], response.text
    # The valid a.txt sent beside bad.pdf was not kept: an upload is all or nothing.
    from assistants.models import Document

    assert not Document.objects.filter(assistant_id=assistant_id).exists()


def test_config_schema_in_the_shape_the_frontend_reads(stack):
    h = headers(api_user())
    schema = requests.get(f"{stack.base_url}/runs/config_schema", headers=h).json()
    configurable = schema["properties"]["configurable"]["properties"]
    assert configurable["type"]["enum"] == ["agent", "chatbot", "chat_retrieval"]
    assert {"type==chatbot/system_message", "type==chat_retrieval/system_message", "type==agent/system_message"} <= set(configurable)
    tools = configurable["type==agent/tools"]["items"]["anyOf"]
    # What frontend/src/hooks/useToolsSchemas.ts reads from each entry.
    read = [
        {"name": t["properties"]["name"]["const"], "type": t["properties"]["type"]["default"],
         "description": t["properties"]["description"]["const"], "config": t["properties"]["config"],
         "multiUse": t["properties"]["multi_use"]["const"]}
        for t in tools
    ]
    assert {t["type"] for t in read} == {"execute_python", "retrieval"}
    assert all(t["name"] and t["description"] and isinstance(t["config"], dict) and t["multiUse"] is False for t in read)


def test_feedback_is_stored_and_counted(stack, llm):
    base, alice, bob = stack.base_url, headers(api_user()), headers(api_user())
    thread_id = _thread(base, alice, _assistant(base, alice, "a", {"type": "chatbot"}))
    llm.script([text("Fine.")], match="rate me")
    run_id = json.loads(_stream(base, alice, thread_id, "rate me")[0][1])["run_id"]

    sent = {"run_id": run_id, "key": "user_score", "score": 1, "value": None, "comment": "spot on"}
    assert requests.post(f"{base}/runs/feedback", headers=alice, json=sent).json() == {"status": "ok"}
    assert requests.post(f"{base}/runs/feedback", headers=alice, json={**sent, "score": False, "comment": None}).status_code == 200
    assert requests.post(f"{base}/runs/feedback", headers=bob, json=sent).status_code == 404  # not bob's run
    assert requests.post(f"{base}/runs/feedback", headers=alice, json={**sent, "run_id": str(uuid.uuid4())}).status_code == 404
    bad = requests.post(f"{base}/runs/feedback", headers=alice, json={**sent, "score": "great"})
    assert bad.status_code == 400 and "score" in bad.json()["detail"]
    from threads.models import Feedback

    rows = list(Feedback.objects.filter(run_id=run_id).order_by("created_at").values_list("key", "score", "comment"))
    assert rows == [("user_score", 1.0, "spot on"), ("user_score", 0.0, "")]
    metrics = requests.get(f"{base}/metrics").text
    assert re.search(r'querent_feedback_total\{key="user_score"\} [1-9]', metrics), metrics[-2000:]


@pytest.mark.skipif(SEED is None, reason="seed 002 not available")
def test_seed_002_streaming_client_as_written_prints_the_growing_text(dev_stack, llm):
    """The seed's `requests` code block, unchanged but for its host, ids and message: it parses
    every data line as JSON (so `end` must carry none) and prints the last message as it grows."""
    base, user = dev_stack.base_url, f"foo-{uuid.uuid4().hex[:6]}"
    cookies = {"opengpts_user_id": user}
    assistant_id = _assistant(base, {}, "bar", {"type": "chat_retrieval"}, cookies=cookies)
    thread_id = _thread(base, {}, assistant_id, cookies=cookies)
    seed = SEED.read_text()
    code = seed[seed.index("import requests\nimport json\nresponse = requests.post(\n    'http://127.0.0.1:8100/runs/stream'"):seed.index("This streams the following:")]
    assert 'cookies= {"opengpts_user_id": "foo"}' in code and "json.loads(json_string)" in code
    code = (code.replace("http://127.0.0.1:8100", base).replace('"foo"', json.dumps(user))
            .replace("9c7d7e6e-654b-4eaa-b160-f19f922fc63b", assistant_id).replace("231dc7f3-33ee-4040-98fe-27f6e2aa8b2b", thread_id))
    # Tokens 0.1 s apart: more than the engine's delta flush interval, so each one is its own `data`.
    llm.script([text("You too! If you have any other questions, feel free to ask.", chunks=8, token_delay=0.1)], match="have a good day!")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert len(lines) >= 3 and lines[-1] == "You too! If you have any other questions, feel free to ask."
    assert all(lines[i + 1].startswith(lines[i]) for i in range(len(lines) - 1)), lines


ARTIFACT_CODE = "executor.store_artifact('counts', 'Tracks per genre', 'table', [{'genre': 'Rock', 'tracks': 1297}, {'genre': 'Latin', 'tracks': 579}])"
TAGGED = "Here they are:\n\n<artifact identifier='counts' />"


def test_artifacts_are_tables_in_opengpts_and_julep_and_tags_in_promptql(stack, llm):
    base, user = stack.base_url, api_user()
    h = headers(user)
    thread_id = _thread(base, h, _assistant(base, h, "agent", {}))
    llm.script([tool_call(ARTIFACT_CODE), text(TAGGED, chunks=4)], match="genre counts")
    frames = _stream(base, h, thread_id, "genre counts please")
    final = [json.loads(d) for e, d in frames if e == "data"][-1][-1]["content"]
    assert "<artifact" not in final and "**Tracks per genre**" in final and "| Rock | 1297 |" in final
    state = requests.get(f"{base}/threads/{thread_id}/state", headers=h).json()["values"]
    assert state[-1]["content"] == final
    promptql = requests.get(f"{base}/threads/{thread_id}", headers=h).json()
    assert "<artifact identifier='counts' />" in json.dumps(promptql)  # seed 000 keeps the tag

    agent = requests.post(f"{base}/api/agents", headers=h, json={"name": "Counter", "about": "counts"}).json()["id"]
    session = requests.post(f"{base}/api/sessions", headers=h, json={"agent_id": agent, "situation": "Count things."}).json()["id"]
    llm.script([tool_call(ARTIFACT_CODE), text(TAGGED)], match="julep tally")
    chat = requests.post(f"{base}/api/sessions/{session}/chat", headers=h, json={"messages": [{"role": "user", "content": "julep tally"}]}, timeout=60)
    assert chat.status_code == 200, chat.text
    content = chat.json()["response"][0][0]["content"]
    assert "<artifact" not in content and "| Latin | 579 |" in content
    history = requests.get(f"{base}/api/sessions/{session}/history", headers=h).json()["items"]
    assert history[-1]["content"] == content


def test_upload_progress_is_the_uploaders_own(stack):
    base, alice, bob = stack.base_url, headers(api_user()), headers(api_user())
    thread_id = _thread(base, alice, _assistant(base, alice, "a", {}))
    upload_id = uuid.uuid4().hex
    text_file = ("notes.md", "\n\n".join(f"Paragraph {i}: " + "words " * 150 for i in range(12)).encode(), "text/markdown")
    response = requests.post(f"{base}/ingest", headers=alice, files=[("files", text_file)],
                             data={"config": json.dumps({"configurable": {"thread_id": thread_id}}), "upload_id": upload_id})
    assert response.status_code == 200 and response.json()[0]["chunks"] > 1
    chunks = response.json()[0]["chunks"]
    assert requests.get(f"{base}/ui/uploads/{upload_id}", headers=alice).json() == {"stage": "done", "done": chunks, "total": chunks}
    assert requests.get(f"{base}/ui/uploads/{upload_id}", headers=bob).json()["stage"] == "waiting"  # not bob's upload
    listed = requests.get(f"{base}/ui/threads/{thread_id}/documents", headers=alice).json()
    assert [(d["title"], d["scope"]) for d in listed] == [("notes.md", "thread")]
    assert requests.get(f"{base}/ui/threads/{thread_id}/documents", headers=bob).status_code == 404
    # Deleting the thread deletes its documents.
    assert requests.delete(f"{base}/threads/{thread_id}", headers=alice).status_code == 200
    from assistants.models import Document

    assert not Document.objects.filter(thread_id=thread_id).exists()
