"""The LLM client: stream one chat completion (text + tool calls + usage) from any OpenAI-compatible
endpoint through the `openai` SDK, or from the offline demo model when no endpoint is configured.

`stream_chat` yields `TextDelta` as tokens arrive, `Retrying` before each backoff sleep, and one
`Completion` last; failures raise `LLMError`, whose message is safe to show users.

Retries are done here, not by the SDK (the client is built with max_retries=0): that way we decide
which failures retry, can report each backoff to the user, and never retry a stream that has already
shown text (a retry would show it twice).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx2  # the openai SDK's HTTP client
import openai
from django.conf import settings

log = logging.getLogger("querent.llm")

DEMO_MODEL = "querent-demo"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) need no key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"


# --- configuration ---------------------------------------------------------------------------


@dataclass
class LLMConfig:
    base_url: str | None
    api_key: str | None = field(repr=False)  # never in reprs, so never in logs
    model: str
    timeout: float = 60.0
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 30.0
    stream_max_seconds: float = 600.0

    @classmethod
    def from_settings(cls, model_override: str | None = None) -> LLMConfig:
        return cls(
            base_url=settings.OPENAI_BASE_URL or None,
            api_key=settings.OPENAI_API_KEY or None,
            model=model_override or settings.QUERENT_MODEL,
            timeout=settings.LLM_TIMEOUT,
            max_retries=settings.LLM_MAX_RETRIES,
            backoff_base=getattr(settings, "LLM_BACKOFF_BASE", 0.5),
            backoff_max=getattr(settings, "LLM_BACKOFF_MAX", 8.0),
            retry_after_max=getattr(settings, "LLM_RETRY_AFTER_MAX", 30.0),
            stream_max_seconds=getattr(settings, "LLM_STREAM_MAX_SECONDS", 600.0),
        )

    @property
    def is_demo(self) -> bool:
        # Naming the demo model explicitly selects it even when a provider is configured.
        return (not self.api_key and not self.base_url) or self.model == DEMO_MODEL

    @property
    def host(self) -> str:
        """host[:port] of the endpoint, for messages (never userinfo or path)."""
        parts = urlsplit(self.base_url or DEFAULT_BASE_URL)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


# --- what stream_chat yields -----------------------------------------------------------------


@dataclass
class TextDelta:
    text: str


@dataclass
class Retrying:
    attempt: int  # the retry about to be made: 1 for the first retry
    delay: float  # seconds we sleep before it
    reason: str


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text, exactly as the model wrote it

    def parsed(self) -> dict:
        text = self.arguments.strip() if self.arguments else ""
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            preview = text if len(text) <= 80 else text[:77] + "..."
            raise ValueError(
                f"the arguments of tool call {self.id} ({self.name}) are not valid JSON "
                f"({err.msg} at line {err.lineno}, column {err.colno}): {preview!r}"
            ) from None
        if not isinstance(value, dict):
            raise ValueError(
                f"the arguments of tool call {self.id} ({self.name}) must be a JSON object, "
                f"got {type(value).__name__}"
            )
        return value

    def to_message(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    model: str
    priced: bool  # False: the model is not in LLM_PRICES, so cost_usd is 0 and means "unknown"
    estimated: bool = False  # True: the provider sent no usage, tokens are len/4 estimates

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Completion:
    text: str | None
    tool_calls: list[ToolCall]
    usage: Usage
    finish_reason: str | None
    model: str
    is_demo: bool

    def to_message(self) -> dict:
        """The assistant message to append to the conversation for the next turn."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = [call.to_message() for call in self.tool_calls]
        return message


class LLMError(Exception):
    KINDS = {"auth", "not_found", "rate_limit", "unavailable", "timeout", "bad_request", "bad_response"}

    def __init__(self, kind: str, message: str, *, retryable: bool = False, status: int | None = None):
        if kind not in self.KINDS:
            raise ValueError(f"unknown LLMError kind {kind!r}")
        # args are (kind, message) so the error survives pickling and Celery's exception serialization.
        super().__init__(kind, message)
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.status = status

    def __str__(self) -> str:
        return self.message


# --- public entry points ---------------------------------------------------------------------


def stream_chat(
    messages: list[dict], *, tools: list[dict] | None = None, config: LLMConfig | None = None
) -> Iterator[TextDelta | Retrying | Completion]:
    config = config or LLMConfig.from_settings()
    if config.is_demo:
        from . import demo_model  # imported late: it builds on the dataclasses above

        yield from demo_model.stream(messages)
        return
    yield from _stream_with_retries(messages, tools, config)


def complete(messages: list[dict], *, tools: list[dict] | None = None, config: LLMConfig | None = None) -> Completion:
    for event in stream_chat(messages, tools=tools, config=config):
        if isinstance(event, Completion):
            return event
    raise LLMError("bad_response", "the model stream ended without a completion")


def list_models(config: LLMConfig | None = None) -> list[str]:
    """Model ids the endpoint offers: a cheap check that the endpoint and key work."""
    config = config or LLMConfig.from_settings()
    if config.is_demo:
        return [DEMO_MODEL]
    try:
        return [model.id for model in _client(config).models.list()]
    except openai.OpenAIError as err:
        raise _classify(err, config)[0] from None


# --- retries ---------------------------------------------------------------------------------


def _stream_with_retries(messages, tools, config: LLMConfig):
    request: dict[str, Any] = {
        "model": config.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tools:  # some providers reject an empty tools list
        request["tools"] = tools
    retries = 0
    while True:
        shown_text = False
        try:
            for event in _one_attempt(request, messages, tools, config):
                shown_text = shown_text or isinstance(event, TextDelta)
                yield event
            return
        except (openai.OpenAIError, LLMError) as err:
            error, retry_after = _classify(err, config)
        if _rejects_stream_options(error, request):
            # An older OpenAI-compatible server; usage will be estimated instead.
            log.info("llm provider %s rejected stream_options; retrying without it", config.host)
            del request["stream_options"]
            continue
        if not error.retryable or shown_text or retries >= config.max_retries:
            if retries and error.retryable:
                error.message = f"{error.message} (gave up after {retries + 1} attempts)"
                error.args = (error.kind, error.message)
            log.warning("llm request to %s failed: %s: %s", config.host, error.kind, error.message)
            raise error from None
        retries += 1
        delay = _backoff_delay(config, retries, retry_after)
        log.info("llm %s at %s, retry %d in %.2fs", error.kind, config.host, retries, delay)
        yield Retrying(attempt=retries, delay=delay, reason=error.message)
        time.sleep(delay)


def _backoff_delay(config: LLMConfig, retry: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return max(0.0, min(retry_after, config.retry_after_max))
    ceiling = min(config.backoff_max, config.backoff_base * 2 ** (retry - 1))
    # "Equal jitter": at least half the backoff, so retries from many workers spread out but never bunch at 0.
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _rejects_stream_options(error: LLMError, request: dict) -> bool:
    return error.kind == "bad_request" and "stream_options" in request and "stream_options" in error.message


# --- one HTTP attempt ------------------------------------------------------------------------


def _one_attempt(request: dict, messages, tools, config: LLMConfig):
    started = time.monotonic()
    # The SDK's documented streaming response (`with_streaming_response`), read here to the end of
    # the body: the SDK's own Stream (openai 3.54.0) closes the response at `[DONE]`, before the
    # chunked body's last bytes, which throws the kept-alive connection away (a new TCP, or TLS,
    # connection per model call). Reading to the end hands it back to the pool; the chunks are plain
    # JSON, fed to the assembler without building models. Measured against the SDK's Stream: 1.2 ms
    # less CPU per model call on a local endpoint, before any TLS handshake (docs/decisions.md).
    with _client(config).chat.completions.with_streaming_response.create(**request) as response:
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            # The provider ignored stream=True and sent one JSON body.
            try:
                body = response.read()
            except httpx2.RequestError as err:  # timeouts included
                raise _sdk_error(err, response) from err
            yield from _from_json_body(body, messages, tools, config)
            return
        assembler = _Assembler()
        for chunk in _stream_chunks(response, config):
            # The read timeout is per chunk; this bounds a stream that trickles forever.
            if time.monotonic() - started > config.stream_max_seconds:
                raise LLMError(
                    "timeout",
                    f"the LLM provider at {config.host} was still streaming after {config.stream_max_seconds:g} s",
                    retryable=True,
                )
            text = assembler.add_chunk(chunk)
            if text:
                yield TextDelta(text)
        yield assembler.completion(messages, tools, config)


def _sdk_error(err: Exception, response) -> openai.APIConnectionError:
    """A transport error while reading the body, as the SDK itself raises it."""
    request = response.http_response.request
    if isinstance(err, httpx2.TimeoutException):
        return openai.APITimeoutError(request=request)
    return openai.APIConnectionError(request=request)


def _stream_chunks(response, config: LLMConfig) -> Iterator[dict]:
    """The JSON chunks of a chat-completions event stream, up to `[DONE]`; the body is read to
    its end. An `error` object in the stream raises like the SDK does."""
    lines = response.iter_lines()
    done = False
    event, data = None, []
    while True:
        try:
            line = next(lines, None)
        except httpx2.RequestError as err:  # timeouts included
            if done:
                return  # the answer was complete: a provider that never ends the body is not an error
            raise _sdk_error(err, response) from err
        if line is None or line == "":
            if data and not done:
                payload = "\n".join(data)
                if payload.startswith("[DONE]"):
                    done = True
                else:
                    yield _chunk(payload, event, response, config)
            event, data = None, []
            if line is None:
                return
        elif not line.startswith(":"):  # ":" starts a comment (keep-alive)
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "event":
                event = value


def _chunk(payload: str, event: str | None, response, config: LLMConfig) -> dict:
    try:
        chunk = json.loads(payload)
    except ValueError:
        raise LLMError("bad_response", f"the LLM provider at {config.host} sent a stream chunk that is not JSON") from None
    if not isinstance(chunk, dict):
        raise LLMError("bad_response", f"the LLM provider at {config.host} sent a stream chunk that is not an object")
    if chunk.get("error") or event == "error":
        error = chunk.get("error") if isinstance(chunk.get("error"), dict) else chunk
        message = error.get("message") if isinstance(error.get("message"), str) else "An error occurred during streaming"
        raise openai.APIError(message, request=response.http_response.request, body=error)
    return chunk


def _from_json_body(body: bytes, messages, tools, config: LLMConfig):
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise LLMError("bad_response", f"the LLM provider at {config.host} sent a reply that is not a chat completion")
    assembler = _Assembler()
    assembler.model = data.get("model")
    assembler.usage = data.get("usage")
    assembler.finish_reason = choice.get("finish_reason")
    for index, call in enumerate(message.get("tool_calls") or []):
        assembler.add_tool_delta({**call, "index": index})
    text = message.get("content") or ""
    if text:
        assembler.text_parts.append(text)
        yield TextDelta(text)
    yield assembler.completion(messages, tools, config)


def _get(obj: Any, name: str) -> Any:
    """Attribute or key: SDK models and raw dicts (providers vary) read the same way."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


class _Assembler:
    """Builds the full reply from streamed chunks; tool calls are keyed by their delta index."""

    def __init__(self):
        self.text_parts: list[str] = []
        self.calls: dict[int, dict] = {}
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.model: str | None = None

    def add_chunk(self, chunk) -> str:
        self.model = _get(chunk, "model") or self.model
        self.usage = _get(chunk, "usage") or self.usage
        parts = []
        for choice in _get(chunk, "choices") or []:
            if (_get(choice, "index") or 0) != 0:
                continue  # we ask for one choice; ignore any others
            delta = _get(choice, "delta")
            content = _get(delta, "content")
            if isinstance(content, str) and content:
                parts.append(content)
            for call in _get(delta, "tool_calls") or []:
                self.add_tool_delta(call)
            self.finish_reason = _get(choice, "finish_reason") or self.finish_reason
        text = "".join(parts)
        if text:
            self.text_parts.append(text)
        return text

    def add_tool_delta(self, delta) -> None:
        index = _get(delta, "index")
        call_id = _get(delta, "id")
        if index is None:
            # Some providers omit the index: a new id starts a new call, anything else continues the last.
            last = max(self.calls) if self.calls else None
            starts_new = last is None or (call_id and self.calls[last]["id"] not in (None, call_id))
            index = (last + 1 if last is not None else 0) if starts_new else last
        slot = self.calls.setdefault(index, {"id": None, "name": "", "arguments": []})
        if call_id:
            slot["id"] = call_id
        function = _get(delta, "function")
        name = _get(function, "name")
        if name and name != slot["name"]:
            slot["name"] += name  # OpenAI sends the name once; a repeat of the full name is ignored
        arguments = _get(function, "arguments")
        if arguments is not None:
            slot["arguments"].append(arguments if isinstance(arguments, str) else json.dumps(arguments))

    def tool_calls(self) -> list[ToolCall]:
        return [
            ToolCall(id=slot["id"] or f"call_{uuid.uuid4().hex[:24]}", name=slot["name"], arguments="".join(slot["arguments"]))
            for _, slot in sorted(self.calls.items())
        ]

    def completion(self, messages, tools, config: LLMConfig) -> Completion:
        text = "".join(self.text_parts) or None
        calls = self.tool_calls()
        model = self.model or config.model
        usage = build_usage(self.usage, model, config.model, messages, tools, text, calls)
        return Completion(text=text, tool_calls=calls, usage=usage, finish_reason=self.finish_reason, model=model, is_demo=False)


# --- usage and cost --------------------------------------------------------------------------


def estimate_tokens(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return max(1, len(text) // 4) if text else 0


def build_usage(raw, model: str, configured_model: str, messages, tools, text, calls) -> Usage:
    if raw is not None and _get(raw, "prompt_tokens") is not None:
        prompt = int(_get(raw, "prompt_tokens") or 0)
        completion = int(_get(raw, "completion_tokens") or 0)
        total = int(_get(raw, "total_tokens") or prompt + completion)
        estimated = False
    else:
        prompt = estimate_tokens(messages) + (estimate_tokens(tools) if tools else 0)
        completion = estimate_tokens(text or "") + sum(estimate_tokens(c.name + c.arguments) for c in calls)
        total = prompt + completion
        estimated = True
    price = price_for(model) or price_for(configured_model)
    cost = (prompt * price[0] + completion * price[1]) / 1_000_000 if price else 0.0
    return Usage(prompt, completion, total, round(cost, 8), model, price is not None, estimated)


def price_for(model: str) -> tuple[float, float] | None:
    """(prompt, completion) USD per million tokens; dated or provider-prefixed names match their base."""
    prices = settings.LLM_PRICES
    name = model.rsplit("/", 1)[-1]  # "openai/gpt-4o" on routers
    if name in prices:
        return prices[name]
    # "gpt-4o-mini-2024-07-18" → the longest listed prefix, so it is priced as gpt-4o-mini, not gpt-4o.
    prefixes = [key for key in prices if name.startswith(key + "-")]
    return prices[max(prefixes, key=len)] if prefixes else None


# --- errors ----------------------------------------------------------------------------------

_SECRET_PATTERNS = [
    re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-*.]{6,}"),
    re.compile(r"(?i)bearer\s+\S+"),
]


def redact(text: str, api_key: str | None) -> str:
    if api_key and len(api_key) >= 4:
        text = text.replace(api_key, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


def _provider_detail(err: openai.APIError, config: LLMConfig) -> str:
    body = err.body
    message = body.get("message") if isinstance(body, dict) else body
    if not isinstance(message, str) or not message:
        message = err.message if isinstance(err.message, str) else ""
    message = redact(" ".join(message.split()), config.api_key)
    return message[:500]


def _retry_after(headers) -> float | None:
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, OverflowError):
        return None


def _classify(err: Exception, config: LLMConfig) -> tuple[LLMError, float | None]:
    """Map an SDK error to an LLMError and an optional Retry-After in seconds."""
    host = config.host
    if isinstance(err, LLMError):
        return err, None
    if isinstance(err, openai.APITimeoutError):
        return LLMError("timeout", f"the LLM provider at {host} did not respond within {config.timeout:g} s", retryable=True), None
    if isinstance(err, openai.APIConnectionError):
        return LLMError("unavailable", f"could not connect to the LLM provider at {host}", retryable=True), None
    if isinstance(err, openai.APIStatusError):
        return _classify_status(err, config)
    if isinstance(err, openai.APIResponseValidationError):
        return LLMError("bad_response", f"the LLM provider at {host} sent a reply that could not be read"), None
    if isinstance(err, openai.APIError):
        # An error event in the middle of a stream: usually the provider failing while generating.
        detail = _provider_detail(err, config)
        return LLMError("unavailable", f"the LLM provider at {host} failed mid-stream: {detail}", retryable=True), None
    return LLMError("bad_response", f"the LLM provider at {host} sent an unexpected reply ({type(err).__name__})"), None


def _classify_status(err: openai.APIStatusError, config: LLMConfig) -> tuple[LLMError, float | None]:
    host, status = config.host, err.status_code
    detail = _provider_detail(err, config)
    suffix = f": {detail}" if detail else ""
    # The provider may say explicitly whether a retry can help (OpenAI's x-should-retry).
    should_retry = err.response.headers.get("x-should-retry")
    if status in (401, 403):
        # The provider's text is dropped here: it often quotes part of the key.
        return LLMError("auth", f"the API key was rejected by {host} (HTTP {status})", status=status), None
    if status == 404:
        message = f"model '{config.model}' not found at {host} (check QUERENT_MODEL and OPENAI_BASE_URL){suffix}"
        return LLMError("not_found", message, status=status), None
    if status == 429:
        retryable = should_retry != "false"
        return LLMError("rate_limit", f"rate limited by {host} (HTTP 429){suffix}", retryable=retryable, status=status), _retry_after(err.response.headers)
    if status >= 500 or status in (408, 409):
        retryable = should_retry != "false"
        return LLMError("unavailable", f"the LLM provider at {host} failed (HTTP {status}){suffix}", retryable=retryable, status=status), _retry_after(err.response.headers)
    return LLMError("bad_request", f"the LLM provider at {host} rejected the request (HTTP {status}){suffix}", status=status), None


# --- SDK clients -----------------------------------------------------------------------------

_clients: dict[tuple, openai.OpenAI] = {}
_clients_lock = threading.Lock()


def _client(config: LLMConfig) -> openai.OpenAI:
    # One client per endpoint keeps HTTP connections alive between turns; the pid in the key keeps
    # a client (and its sockets) from being shared across a fork.
    key = (os.getpid(), config.base_url, config.api_key, config.timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if len(_clients) >= 32:
                _clients.clear()
            client = openai.OpenAI(
                base_url=config.base_url or DEFAULT_BASE_URL,
                api_key=config.api_key or PLACEHOLDER_KEY,
                timeout=openai.Timeout(config.timeout, connect=min(config.timeout, 10.0)),
                max_retries=0,
            )
            _clients[key] = client
        return client
