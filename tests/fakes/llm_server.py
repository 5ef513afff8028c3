"""A scripted OpenAI-compatible chat-completions server, for tests and benchmarks.

Tests queue replies; each `POST /v1/chat/completions` pops the next one and sends it in the same
shape OpenAI does (SSE chunks when the request streams, one JSON body otherwise). The app under
test reaches it through the real `openai` SDK over HTTP, so nothing in Querent is mocked.

    server = ScriptedLLMServer().start()
    server.script([tool_call("rows = await executor.run_sql('SELECT 1')"), text("Done.")])
    server.script([text("Other answer")], match="revenue")   # own queue for questions containing "revenue"
    ...
    server.requests      # every request body, in order
    server.exhausted     # request bodies that found no scripted reply (answered with HTTP 500)

Standalone (benchmarks, manual runs):
    python -m tests.fakes.llm_server --port 8765 [--mode agent|echo|strict] [--token-delay 0.01]
`agent` (the default, zero latency) answers a conversation's first turn with a fixed tool call and a
tool result with a final text; `echo` repeats the question; `strict` answers only queued replies.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

# --- replies ---------------------------------------------------------------------------------


class Reply:
    def respond(self, out: _Writer, body: dict, server: ScriptedLLMServer) -> None:
        raise NotImplementedError


@dataclass
class ScriptedCall:
    id: str
    name: str
    arguments: str
    fragments: int = 4  # how many argument pieces the stream splits it into


@dataclass
class Message(Reply):
    content: str | None = None
    calls: list[ScriptedCall] = field(default_factory=list)
    chunks: int | list[str] | None = None  # content pieces: a count, explicit pieces, or None for per-word
    usage: dict | bool | None = None  # None: computed; dict: sent as is; False: never sent
    stream: bool | None = None  # None follows the request; False forces one JSON body
    model: str | None = None  # None echoes the requested model
    finish_reason: str | None = None
    token_delay: float | None = None  # seconds between content chunks; None uses the server's

    def respond(self, out, body, server):
        model = self.model or body.get("model") or "scripted-model"
        streaming = body.get("stream", False) if self.stream is None else self.stream
        finish = self.finish_reason or ("tool_calls" if self.calls else "stop")
        usage = self._usage(body)
        if not streaming:
            out.json(200, self._json_body(model, finish, usage))
            return
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        delay = server.token_delay if self.token_delay is None else self.token_delay
        chunks = _ChunkMaker(model, want_usage)
        out.start_sse()
        out.event(chunks.make({"role": "assistant", "content": "" if self.content is not None else None}))
        for piece in _split_text(self.content or "", self.chunks):
            if delay:
                time.sleep(delay)
            out.event(chunks.make({"content": piece}))
        for index, call in enumerate(self.calls):
            head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            out.event(chunks.make({"tool_calls": [head]}))
            for piece in _split_even(call.arguments, call.fragments):
                out.event(chunks.make({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        out.event(chunks.make({}, finish_reason=finish))
        if want_usage and usage:
            out.event(chunks.usage(usage))
        out.done()

    def _usage(self, body: dict) -> dict | None:
        if self.usage is False:
            return None
        if isinstance(self.usage, dict):
            return self.usage
        prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
        completion = max(1, (len(self.content or "") + sum(len(c.arguments) for c in self.calls)) // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _json_body(self, model: str, finish: str, usage: dict | None) -> dict:
        message: dict = {"role": "assistant", "content": self.content, "refusal": None}
        if self.calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in self.calls
            ]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
            "system_fingerprint": None,
        }


@dataclass
class Error(Reply):
    status: int
    message: str
    headers: dict | None = None
    type: str = "invalid_request_error"
    code: str | None = None

    def respond(self, out, body, server):
        payload = {"error": {"message": self.message, "type": self.type, "param": None, "code": self.code}}
        out.json(self.status, payload, headers=self.headers)


@dataclass
class Hang(Reply):
    """Sends the response head (and `text`, if any) and then stalls: a provider that stops mid-stream."""

    seconds: float
    text: str | None = None

    def respond(self, out, body, server):
        chunks = _ChunkMaker(body.get("model") or "scripted-model", False)
        out.start_sse()
        out.event(chunks.make({"role": "assistant", "content": ""}))
        if self.text:
            out.event(chunks.make({"content": self.text}))
        server.stopping.wait(self.seconds)
        out.abort()  # no terminating chunk: the body ends incomplete, like a dropped connection


@dataclass
class RawStream(Reply):
    """An event stream of the given `data:` payloads as they are, ended by `[DONE]` unless `cut`
    (then the connection drops without the terminating chunk): broken or unusual providers."""

    payloads: list[str]
    cut: bool = False

    def respond(self, out, body, server):
        out.start_sse()
        for payload in self.payloads:
            out._chunk(b"data: " + payload.encode() + b"\n\n")
        if self.cut:
            out.abort()
        else:
            out.done()


@dataclass
class Delay(Reply):
    seconds: float
    then: Reply

    def respond(self, out, body, server):
        server.stopping.wait(self.seconds)
        self.then.respond(out, body, server)


# --- builders --------------------------------------------------------------------------------


def text(content: str, *, chunks: int | list[str] | None = None, usage: dict | bool | None = None, **options) -> Message:
    return Message(content=content, chunks=chunks, usage=usage, **options)


def tool_call(
    python_code: str | None = None,
    *,
    name: str = "execute_python",
    arguments: str | None = None,
    call_id: str | None = None,
    text: str | None = None,
    **options,
) -> Message:
    if arguments is None:
        arguments = json.dumps({"python_code": python_code if python_code is not None else "executor.print('ok')"})
    call = ScriptedCall(id=call_id or f"call_{uuid.uuid4().hex[:24]}", name=name, arguments=arguments)
    return Message(content=text, calls=[call], **options)


def tool_calls(calls: list[Message], *, text: str | None = None, **options) -> Message:
    """One reply carrying several tool calls, e.g. tool_calls([tool_call("a"), tool_call("b")])."""
    return Message(content=text, calls=[c for reply in calls for c in reply.calls], **options)


def malformed_tool_call(*, call_id: str | None = None, **options) -> Message:
    return tool_call(arguments='{"python_code": "executor.print(1)"', call_id=call_id, **options)


def error(status: int, message: str, *, headers: dict | None = None, **options) -> Error:
    return Error(status=status, message=message, headers=headers, **options)


def hang(seconds: float, *, text: str | None = None) -> Hang:
    return Hang(seconds=seconds, text=text)


def raw_stream(payloads: list[str], *, cut: bool = False) -> RawStream:
    return RawStream(payloads, cut)


def delay(seconds: float, then: Reply) -> Delay:
    return Delay(seconds=seconds, then=then)


def non_streamed(reply: Message) -> Message:
    """The same reply sent as one JSON body even when the request asked to stream."""
    return replace(reply, stream=False)


# --- fallbacks for standalone use ------------------------------------------------------------

AGENT_CODE = (
    "rows = await executor.run_sql('SELECT COUNT(*) AS customers FROM customer')\n"
    "executor.print(f\"customers: {rows[0]['customers']}\")"
)


def agent_fallback(code: str = AGENT_CODE, answer: str = "Here is the result.") -> Callable[[dict], Reply]:
    """Zero-latency agent: a tool call on a conversation's first turn, a final text after a tool result."""

    def respond(body: dict) -> Reply:
        messages = body.get("messages") or []
        if messages and messages[-1].get("role") == "tool":
            return text(answer, chunks=1)
        return tool_call(code)

    return respond


def echo_fallback(body: dict) -> Reply:
    return text(f"You said: {last_user_text(body)}")


def last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            return content or ""
    return ""


# --- the server ------------------------------------------------------------------------------


class ScriptedLLMServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, token_delay: float = 0.0, fallback=None,
                 models: tuple[str, ...] = ("scripted-model", "gpt-4o-mini")):
        self.host, self.port = host, port
        self.default_token_delay = token_delay
        self.token_delay = token_delay
        self.fallback: Callable[[dict], Reply] | None = fallback
        self.models = list(models)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # scripting
    def script(self, responses: list[Reply] | Reply, match: str | None = None) -> ScriptedLLMServer:
        if isinstance(responses, Reply):
            responses = [responses]
        with self._lock:
            self._queues.setdefault(match, deque()).extend(responses)
        return self

    def reset(self) -> None:
        with self._lock:
            self._queues: dict[str | None, deque] = {None: deque()}
            self.requests: list[dict] = []
            self.request_headers: list[dict] = []
            self.exhausted: list[dict] = []
            self.embedding_requests: list[dict] = []
            self.connections = 0  # TCP connections accepted: kept-alive ones count once
            self.token_delay = self.default_token_delay

    def pending(self, match: str | None = None) -> int:
        with self._lock:
            return len(self._queues.get(match, ()))

    def _next_reply(self, body: dict, headers: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(headers)
            key = self._route(body)
            queue = self._queues.get(key)
            if queue:
                return queue.popleft()
            if self.fallback is not None:
                return self.fallback(body)
            self.exhausted.append(body)
        where = "the default queue" if key is None else f"the queue for match {key!r}"
        # x-should-retry: false makes well-behaved clients fail at once instead of backing off.
        return error(500, f"no scripted response left in {where}", headers={"x-should-retry": "false"},
                     type="scripted_server_error")

    def _route(self, body: dict) -> str | None:
        question = last_user_text(body)
        for match in self._queues:
            if match is not None and match in question:
                return match
        return None

    # lifecycle
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> ScriptedLLMServer:
        self.stopping.clear()
        self._httpd = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.scripted = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes hanging and delayed replies
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- HTTP plumbing ---------------------------------------------------------------------------


class _Writer:
    """Writes JSON bodies and chunked SSE streams; a client that went away is not an error."""

    def __init__(self, handler: BaseHTTPRequestHandler):
        self.handler = handler

    def _send(self, data: bytes) -> None:
        self.handler.wfile.write(data)
        self.handler.wfile.flush()

    def json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            h.send_header(name, str(value))
        h.end_headers()
        self._send(data)

    def start_sse(self) -> None:
        h = self.handler
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        self.handler.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self._send(b"%x\r\n%s\r\n" % (len(data), data))

    def event(self, payload: dict) -> None:
        self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def done(self) -> None:
        self._chunk(b"data: [DONE]\n\n")
        self._send(b"0\r\n\r\n")

    def abort(self) -> None:
        self.handler.close_connection = True


class _ChunkMaker:
    def __init__(self, model: str, with_usage_field: bool):
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model
        self.with_usage_field = with_usage_field

    def _base(self, choices: list) -> dict:
        chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                 "system_fingerprint": None, "choices": choices}
        if self.with_usage_field:
            chunk["usage"] = None  # OpenAI sends usage: null on every chunk but the last
        return chunk

    def make(self, delta: dict, finish_reason: str | None = None) -> dict:
        return self._base([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])

    def usage(self, usage: dict) -> dict:
        chunk = self._base([])
        chunk["usage"] = usage
        return chunk


def _split_text(content: str, chunks: int | list[str] | None) -> list[str]:
    if not content:
        return []
    if isinstance(chunks, list):
        return chunks
    if isinstance(chunks, int):
        return _split_even(content, chunks)
    words = content.split(" ")  # like a tokenizer: each piece keeps its leading space
    return [words[0]] + [" " + w for w in words[1:]] if len(words) > 1 else _split_even(content, 2)


def _split_even(value: str, parts: int) -> list[str]:
    if not value:
        return []
    parts = max(1, min(parts, len(value)))
    size = -(-len(value) // parts)
    return [value[i:i + size] for i in range(0, len(value), size)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    disable_nagle_algorithm = True  # as production servers do: a small last chunk is not held back

    def log_message(self, format, *args):  # quiet: tests assert on recorded requests instead
        pass

    def handle(self):
        with self.scripted._lock:
            self.scripted.connections += 1
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass  # the client dropped a kept-alive connection (the SDK closes streams without draining)

    @property
    def scripted(self) -> ScriptedLLMServer:
        return self.server.scripted

    def do_GET(self):
        out = _Writer(self)
        if self.path.split("?")[0].rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "querent-tests"} for m in self.scripted.models]
            out.json(200, {"object": "list", "data": data})
        else:
            out.json(404, {"error": {"message": f"no route for GET {self.path}", "type": "not_found"}})

    def do_POST(self):
        out = _Writer(self)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.split("?")[0].rstrip("/").endswith("/embeddings"):
            self._embeddings(out, raw)
            return
        if not self.path.split("?")[0].rstrip("/").endswith("/chat/completions"):
            out.json(404, {"error": {"message": f"no route for POST {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            out.json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}})
            return
        reply = self.scripted._next_reply(body, {k.lower(): v for k, v in self.headers.items()})
        try:
            reply.respond(out, body, self.scripted)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its read timeout); nothing to do


    def _embeddings(self, out, raw: bytes) -> None:
        """OpenAI's /embeddings with deterministic vectors: character trigrams hashed into
        EMBEDDING_DIMENSIONS buckets, so texts that share letter sequences are close even when
        they share no whole word. Requests are recorded in `embedding_requests`."""
        body = json.loads(raw or b"{}")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            out.json(400, {"error": {"message": "input must be a string or a list of strings", "type": "invalid_request_error"}})
            return
        with self.scripted._lock:
            self.scripted.embedding_requests.append(body)
        data = [{"object": "embedding", "index": i, "embedding": trigram_vector(t)} for i, t in enumerate(texts)]
        out.json(200, {"object": "list", "data": data, "model": body.get("model", ""),
                       "usage": {"prompt_tokens": sum(len(t.split()) for t in texts), "total_tokens": sum(len(t.split()) for t in texts)}})


EMBEDDING_DIMENSIONS = 64


def trigram_vector(text: str) -> list[float]:
    import hashlib

    letters = "".join(ch for ch in text.lower() if ch.isalnum())
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for i in range(len(letters) - 2):
        bucket = int.from_bytes(hashlib.blake2s(letters[i:i + 3].encode(), digest_size=2).digest(), "big") % EMBEDDING_DIMENSIONS
        vector[bucket] += 1.0
    return vector


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible chat-completions server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--mode", choices=["agent", "echo", "strict"], default="agent",
                        help="agent: zero-latency tool call then answer; echo: repeat the question; strict: queued replies only")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between streamed content chunks")
    parser.add_argument("--code", default=AGENT_CODE, help="python_code of the agent mode's tool call")
    args = parser.parse_args(argv)
    fallback = {"agent": agent_fallback(args.code), "echo": echo_fallback, "strict": None}[args.mode]
    server = ScriptedLLMServer(args.host, args.port, token_delay=args.token_delay, fallback=fallback).start()
    print(f"scripted LLM server ({args.mode}) at {server.base_url}", flush=True)
    try:
        server.stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
