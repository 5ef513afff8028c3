"""The scripted LLM server itself: wire format, routing, records, and the standalone mode."""

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes.llm_server import delay, text, tool_call

ROOT = Path(__file__).resolve().parents[2]


def sse_payloads(response: httpx.Response) -> list:
    events = [block for block in response.text.split("\n\n") if block.strip()]
    assert all(block.startswith("data: ") for block in events)
    return [block[len("data: "):] for block in events]


def ask(server, question="hi", **extra):
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0, timeout=5)
    return client.chat.completions.create(model="m", messages=[{"role": "user", "content": question}], **extra)


def test_stream_is_shaped_like_openai(llm):
    llm.script([tool_call("executor.print(1)", call_id="c1", text="Hello there")])
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{llm.base_url}/chat/completions", json=body)

    assert response.headers["content-type"].startswith("text/event-stream")
    *chunks, done = sse_payloads(response)
    assert done == "[DONE]"
    chunks = [json.loads(c) for c in chunks]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert [x for x in contents if x] == ["Hello", " there"]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    assert calls[0]["id"] == "c1" and calls[0]["function"]["name"] == "execute_python"
    assert len(calls) > 2 and all("id" not in c for c in calls[1:])  # argument fragments follow the head
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"python_code": "executor.print(1)"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_no_usage_chunk_unless_asked(llm):
    llm.script([text("hi")])
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    chunks = [json.loads(c) for c in sse_payloads(httpx.post(f"{llm.base_url}/chat/completions", json=body))[:-1]]
    assert all("usage" not in c for c in chunks)


def test_non_stream_request_gets_one_json_body(llm):
    llm.script([tool_call("x = 1", call_id="c2", text="ok")])
    completion = ask(llm)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "ok"
    assert completion.choices[0].message.tool_calls[0].id == "c2"
    assert completion.usage.total_tokens > 0


def test_queues_are_routed_by_the_last_user_message(llm):
    llm.script([text("default answer")])
    llm.script([text("revenue answer")], match="revenue")
    llm.script([text("customer answer")], match="customer")

    assert ask(llm, "top customers?").choices[0].message.content == "customer answer"
    assert ask(llm, "hello").choices[0].message.content == "default answer"
    assert ask(llm, "revenue by month").choices[0].message.content == "revenue answer"
    assert len(llm.requests) == 3 and llm.requests[0]["messages"][0]["content"] == "top customers?"


def test_empty_queue_is_a_recorded_500(llm):
    llm.script([text("only one")], match="alpha")
    ask(llm, "alpha")
    with pytest.raises(openai.InternalServerError, match="no scripted response left in the queue for match 'alpha'"):
        ask(llm, "alpha again")
    assert len(llm.exhausted) == 1 and llm.exhausted[0]["messages"][0]["content"] == "alpha again"
    llm.reset()
    assert llm.requests == [] and llm.exhausted == [] and llm.pending() == 0


def test_delay_and_concurrent_requests(llm):
    llm.script([delay(0.3, then=text("slow"))], match="slow")
    llm.script([text("fast")], match="fast")
    answers = {}

    def run(question):
        answers[question] = ask(llm, question).choices[0].message.content

    started = time.monotonic()
    slow = threading.Thread(target=run, args=("slow",))
    slow.start()
    run("fast")
    fast_elapsed = time.monotonic() - started
    slow.join()
    assert answers == {"slow": "slow", "fast": "fast"}
    assert fast_elapsed < 0.3  # the server is threaded: a delayed reply does not block others


def test_models_endpoint(llm):
    client = openai.OpenAI(base_url=llm.base_url, api_key="k", max_retries=0)
    assert [m.id for m in client.models.list()] == ["scripted-model", "gpt-4o-mini"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_standalone_agent_mode():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.llm_server", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert "scripted LLM server (agent) at" in process.stdout.readline()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=5)
        messages = [{"role": "user", "content": "anything"}]
        first = client.chat.completions.create(model="m", messages=messages).choices[0].message
        code = json.loads(first.tool_calls[0].function.arguments)["python_code"]
        assert "executor.run_sql" in code
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [first.tool_calls[0].model_dump()]},
            {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "customers: 59"},
        ]
        final = client.chat.completions.create(model="m", messages=messages, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in final if c.choices) == "Here is the result."
    finally:
        process.terminate()
        process.wait(timeout=5)
