"""The LLM client against the scripted OpenAI-compatible server, through the real `openai` SDK over HTTP."""

import json
import logging
import socket
import time

import pytest

from assistants.llm import (
    Completion,
    LLMConfig,
    LLMError,
    Retrying,
    TextDelta,
    complete,
    list_models,
    stream_chat,
)
from assistants.tools import EXECUTE_PYTHON
from tests.fakes.llm_server import (
    error,
    hang,
    malformed_tool_call,
    non_streamed,
    raw_stream,
    text,
    tool_call,
    tool_calls,
)

SECRET = "sk-test-0123456789abcdefSECRET"
QUESTION = [{"role": "user", "content": "Who are my top customers?"}]


def config_for(server, **overrides) -> LLMConfig:
    values = dict(
        base_url=server.base_url,
        api_key=SECRET,
        model="gpt-4o-mini",
        timeout=5.0,
        max_retries=2,
        backoff_base=0.01,
        backoff_max=0.05,
        retry_after_max=2.0,
    )
    values.update(overrides)
    return LLMConfig(**values)


def collect(server, messages=QUESTION, **kwargs):
    config = kwargs.pop("config", None) or config_for(server)
    return list(stream_chat(messages, config=config, **kwargs))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- streaming -------------------------------------------------------------------------------


def test_text_deltas_arrive_in_order_and_as_they_are_sent(llm):
    pieces = ["Your top", " customer", " is", " Helena."]
    llm.script([text("".join(pieces), chunks=pieces, token_delay=0.1)])

    arrivals = []
    for event in stream_chat(QUESTION, config=config_for(llm)):
        arrivals.append((time.monotonic(), event))
    events = [event for _, event in arrivals]

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == pieces
    assert isinstance(events[-1], Completion) and sum(isinstance(e, Completion) for e in events) == 1
    assert events[-1].text == "".join(deltas)
    assert events[-1].finish_reason == "stop" and events[-1].tool_calls == []
    # Streamed, not buffered: the first delta is seen well before the last one is sent.
    delta_times = [t for t, e in arrivals if isinstance(e, TextDelta)]
    assert delta_times[-1] - delta_times[0] >= 0.25


def test_request_asks_for_a_stream_with_usage_and_tools(llm):
    llm.script([text("ok")])
    complete(QUESTION, tools=[EXECUTE_PYTHON], config=config_for(llm))

    body = llm.requests[0]
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == QUESTION
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["tools"][0]["function"]["name"] == "execute_python"
    assert llm.request_headers[0]["authorization"] == f"Bearer {SECRET}"


def test_no_tools_key_when_no_tools(llm):
    llm.script([text("ok")])
    complete(QUESTION, config=config_for(llm))
    assert "tools" not in llm.requests[0]


def test_tool_call_is_assembled_from_fragmented_deltas(llm):
    code = "rows = await executor.run_sql('SELECT 1 AS one')\nexecutor.print(rows)"
    reply = tool_call(code, call_id="call_abc", text="Let me check.")
    assert len(reply.calls[0].arguments) > 20 and reply.calls[0].fragments >= 3  # really split across chunks
    llm.script([reply])

    result = complete(QUESTION, tools=[EXECUTE_PYTHON], config=config_for(llm))

    assert result.text == "Let me check."
    assert result.finish_reason == "tool_calls"
    [call] = result.tool_calls
    assert (call.id, call.name) == ("call_abc", "execute_python")
    assert call.parsed() == {"python_code": code}
    assert result.to_message()["tool_calls"][0]["function"]["arguments"] == call.arguments


def test_several_tool_calls_in_one_reply(llm):
    llm.script([tool_calls([tool_call("executor.print(1)", call_id="c1"), tool_call("executor.print(2)", call_id="c2")])])

    result = complete(QUESTION, tools=[EXECUTE_PYTHON], config=config_for(llm))

    assert result.text is None
    assert [c.id for c in result.tool_calls] == ["c1", "c2"]
    assert [c.parsed()["python_code"] for c in result.tool_calls] == ["executor.print(1)", "executor.print(2)"]


def test_provider_that_ignores_stream_and_sends_json(llm):
    llm.script([non_streamed(tool_call("executor.print('hi')", call_id="c9", text="Running it."))])

    events = collect(llm, tools=[EXECUTE_PYTHON])

    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Running it."]
    result = events[-1]
    assert result.text == "Running it." and result.tool_calls[0].id == "c9"
    assert result.tool_calls[0].parsed() == {"python_code": "executor.print('hi')"}
    assert result.usage.estimated is False and result.usage.total_tokens > 0


def test_stop_early_closes_cleanly(llm):
    llm.script([text("one two three four"), text("next")])
    stream = stream_chat(QUESTION, config=config_for(llm))
    assert isinstance(next(stream), TextDelta)
    stream.close()
    assert complete(QUESTION, config=config_for(llm)).text == "next"  # the client is still usable


def test_streamed_calls_reuse_one_kept_alive_connection(llm):
    llm.script([text("one"), tool_call("executor.print(1)"), text("three")])
    config = config_for(llm, base_url=llm.base_url.replace("127.0.0.1", "localhost"))  # a client of its own
    assert [complete(QUESTION, config=config).text for _ in range(3)] == ["one", None, "three"]
    # The body is read to its end, so the SDK's pool keeps the connection for the next call.
    assert llm.connections == 1


def test_comments_and_multi_line_data_in_the_stream_are_understood(llm):
    chunk = {"choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]}
    end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "model": "gpt-4o-mini"}
    pretty = json.dumps(end, indent=1).replace("\n", "\ndata: ")  # one event split over several data lines
    llm.script([raw_stream([json.dumps(chunk) + "\n: keep-alive", pretty])])
    result = complete(QUESTION, config=config_for(llm))
    assert result.text == "Hello" and result.finish_reason == "stop"


def test_an_error_object_in_the_stream_is_a_provider_failure(llm):
    chunk = {"choices": [{"index": 0, "delta": {"content": "Half"}, "finish_reason": None}]}
    llm.script([raw_stream([json.dumps(chunk), json.dumps({"error": {"message": "overloaded, key sk-abcdef123456"}})])])
    events = []
    with pytest.raises(LLMError) as caught:
        for event in stream_chat(QUESTION, config=config_for(llm)):
            events.append(event)
    assert [e.text for e in events] == ["Half"]  # text was shown: not retried, so not shown twice
    assert caught.value.kind == "unavailable" and "failed mid-stream: overloaded" in caught.value.message
    assert "sk-abcdef" not in caught.value.message


def test_a_chunk_that_is_not_json_is_a_bad_response(llm):
    llm.script([raw_stream(["{not json"])])
    with pytest.raises(LLMError) as caught:
        complete(QUESTION, config=config_for(llm))
    assert caught.value.kind == "bad_response" and "not JSON" in caught.value.message


def test_a_connection_dropped_mid_stream_is_unavailable_and_retried_before_any_text(llm):
    role_only = {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    llm.script([raw_stream([json.dumps(role_only)], cut=True), text("second try")])
    events = collect(llm)
    assert [e.reason for e in events if isinstance(e, Retrying)] == [f"could not connect to the LLM provider at 127.0.0.1:{llm.port}"]
    assert events[-1].text == "second try"


# --- usage and cost --------------------------------------------------------------------------


def test_usage_from_the_final_chunk_and_cost_from_the_price_table(llm, settings):
    settings.LLM_PRICES = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00)}
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    llm.script([text("ok", usage=usage), text("ok", usage=usage, model="gpt-4o-mini-2024-07-18")])

    first = complete(QUESTION, config=config_for(llm)).usage
    assert (first.prompt_tokens, first.completion_tokens, first.total_tokens) == (1000, 500, 1500)
    assert first.cost_usd == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert first.priced and not first.estimated and first.model == "gpt-4o-mini"

    dated = complete(QUESTION, config=config_for(llm)).usage  # a dated name is priced as its base model
    assert dated.model == "gpt-4o-mini-2024-07-18"
    assert dated.cost_usd == pytest.approx(first.cost_usd)


def test_unknown_model_costs_zero_and_says_so(llm):
    llm.script([text("ok", usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})])
    usage = complete(QUESTION, config=config_for(llm, model="local-llama")).usage
    assert usage.cost_usd == 0 and usage.priced is False and usage.model == "local-llama"


def test_usage_is_estimated_when_the_provider_sends_none(llm):
    llm.script([text("a reply of some forty characters in all", usage=False)])
    result = complete(QUESTION, config=config_for(llm))
    assert result.usage.estimated is True
    assert result.usage.completion_tokens == len(result.text) // 4
    assert result.usage.prompt_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.usage.as_dict()["estimated"] is True


def test_server_rejecting_stream_options_is_retried_without_them(llm):
    llm.script([error(400, "Unrecognized request argument supplied: stream_options"), text("ok", usage=False)])
    result = complete(QUESTION, config=config_for(llm))
    assert result.text == "ok" and result.usage.estimated
    assert "stream_options" in llm.requests[0] and "stream_options" not in llm.requests[1]


# --- retries and errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, expected_delay",
    [({"Retry-After": "0.2"}, 0.2), ({"retry-after-ms": "150"}, 0.15), ({"Retry-After": "30"}, 0.3)],
    ids=["retry-after", "retry-after-ms", "capped"],
)
def test_rate_limit_then_success_honours_retry_after(llm, headers, expected_delay):
    llm.script([error(429, "Rate limit reached", headers=headers, type="requests"), text("ok")])

    started = time.monotonic()
    events = collect(llm, config=config_for(llm, retry_after_max=0.3))
    elapsed = time.monotonic() - started

    [retrying] = [e for e in events if isinstance(e, Retrying)]
    assert retrying.attempt == 1
    assert retrying.delay == pytest.approx(expected_delay)
    assert "rate limited" in retrying.reason and "127.0.0.1" in retrying.reason
    assert events[-1].text == "ok"
    assert expected_delay <= elapsed < expected_delay + 2
    assert len(llm.requests) == 2


def test_server_errors_are_retried_with_backoff_then_unavailable(llm):
    llm.script([error(500, "boom"), error(502, "bad gateway"), error(503, "overloaded")])
    events = []
    with pytest.raises(LLMError) as caught:
        for event in stream_chat(QUESTION, config=config_for(llm, max_retries=2, backoff_base=0.05, backoff_max=1)):
            events.append(event)

    retries = [e for e in events if isinstance(e, Retrying)]
    assert [r.attempt for r in retries] == [1, 2]
    # Equal jitter: each delay lies in [half, all] of the exponential step (0.05, then 0.1).
    assert 0.025 <= retries[0].delay <= 0.05 and 0.05 <= retries[1].delay <= 0.1
    assert caught.value.kind == "unavailable" and caught.value.retryable
    assert "HTTP 503" in caught.value.message and "3 attempts" in caught.value.message
    assert len(llm.requests) == 3


def test_wrong_key_is_an_auth_error_that_never_shows_the_key(llm, caplog):
    caplog.set_level(logging.DEBUG)
    llm.script([error(401, f"Incorrect API key provided: {SECRET}.", type="invalid_request_error", code="invalid_api_key")])

    with pytest.raises(LLMError) as caught:
        complete(QUESTION, config=config_for(llm))

    err = caught.value
    assert err.kind == "auth" and not err.retryable and err.status == 401
    assert err.message == f"the API key was rejected by 127.0.0.1:{llm.port} (HTTP 401)"
    for text_seen in (str(err), repr(err), err.message, repr(config_for(llm)), caplog.text):
        assert SECRET not in text_seen and SECRET[:12] not in text_seen
    assert err.__cause__ is None and err.__suppress_context__  # the SDK error (with the body) is not chained
    assert len(llm.requests) == 1  # not retried


def test_forbidden_is_an_auth_error(llm):
    llm.script([error(403, "Project does not have access")])
    with pytest.raises(LLMError) as caught:
        complete(QUESTION, config=config_for(llm))
    assert caught.value.kind == "auth"


def test_unknown_model_is_not_found(llm):
    llm.script([error(404, "The model `gpt-9` does not exist or you do not have access to it.", code="model_not_found")])
    with pytest.raises(LLMError) as caught:
        complete(QUESTION, config=config_for(llm, model="gpt-9"))
    assert caught.value.kind == "not_found"
    assert "model 'gpt-9' not found" in caught.value.message
    assert len(llm.requests) == 1


def test_bad_request_carries_the_provider_message_with_keys_redacted(llm):
    llm.script([error(400, f"This model's maximum context length is 128000 tokens (key {SECRET} sk-othersecret99)")])
    with pytest.raises(LLMError) as caught:
        complete(QUESTION, config=config_for(llm))
    err = caught.value
    assert err.kind == "bad_request" and not err.retryable
    assert "maximum context length is 128000 tokens" in err.message
    assert SECRET not in err.message and "sk-othersecret99" not in err.message
    assert len(llm.requests) == 1


def test_unreachable_endpoint_is_unavailable_after_retries():
    config = LLMConfig(
        base_url=f"http://127.0.0.1:{closed_port()}/v1", api_key=SECRET, model="gpt-4o-mini",
        timeout=2.0, max_retries=2, backoff_base=0.01, backoff_max=0.02,
    )
    events = []
    with pytest.raises(LLMError) as caught:
        for event in stream_chat(QUESTION, config=config):
            events.append(event)
    assert caught.value.kind == "unavailable"
    assert "could not connect" in caught.value.message
    assert len([e for e in events if isinstance(e, Retrying)]) == 2


def test_provider_that_hangs_after_the_head_times_out(llm):
    llm.script([hang(30)])
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        complete(QUESTION, config=config_for(llm, timeout=0.5, max_retries=0))
    assert caught.value.kind == "timeout" and "0.5 s" in caught.value.message
    assert time.monotonic() - started < 3


def test_hang_before_any_text_is_retried(llm):
    llm.script([hang(30), text("ok")])
    events = collect(llm, config=config_for(llm, timeout=0.5, max_retries=1))
    assert [e.reason for e in events if isinstance(e, Retrying)] == [
        f"the LLM provider at 127.0.0.1:{llm.port} did not respond within 0.5 s"
    ]
    assert events[-1].text == "ok"


def test_hang_after_text_times_out_without_retrying(llm):
    llm.script([hang(30, text="Partial answer"), text("should not be requested")])
    events = []
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        for event in stream_chat(QUESTION, config=config_for(llm, timeout=0.5, max_retries=3)):
            events.append(event)
    # Retrying would show the text twice, so the error goes to the caller instead.
    assert [e.text for e in events] == ["Partial answer"]
    assert caught.value.kind == "timeout" and caught.value.retryable
    assert len(llm.requests) == 1 and time.monotonic() - started < 3


def test_stream_that_trickles_past_the_total_bound_times_out(llm):
    llm.script([text("a b c d e f g h", token_delay=0.2)])
    with pytest.raises(LLMError) as caught:
        complete(QUESTION, config=config_for(llm, stream_max_seconds=0.5))
    assert caught.value.kind == "timeout" and "still streaming" in caught.value.message


def test_exhausted_script_fails_fast_with_a_clear_message(llm):
    with pytest.raises(LLMError) as caught:
        complete(QUESTION, config=config_for(llm))
    assert "no scripted response left" in caught.value.message
    assert len(llm.exhausted) == 1 and len(llm.requests) == 1  # x-should-retry: false is honoured


def test_malformed_tool_call_arguments_raise_a_clear_value_error(llm):
    llm.script([malformed_tool_call(call_id="call_bad")])
    [call] = complete(QUESTION, tools=[EXECUTE_PYTHON], config=config_for(llm)).tool_calls
    assert call.arguments == '{"python_code": "executor.print(1)"'
    with pytest.raises(ValueError, match=r"tool call call_bad \(execute_python\) are not valid JSON"):
        call.parsed()


def test_tool_call_arguments_must_be_an_object(llm):
    llm.script([tool_call(arguments=json.dumps(["not", "an", "object"]))])
    [call] = complete(QUESTION, config=config_for(llm)).tool_calls
    with pytest.raises(ValueError, match="must be a JSON object"):
        call.parsed()


# --- configuration ---------------------------------------------------------------------------


def test_config_from_settings(settings):
    settings.OPENAI_BASE_URL = "http://llm.internal:11434/v1"
    settings.OPENAI_API_KEY = SECRET
    settings.QUERENT_MODEL = "gpt-4o-mini"
    settings.LLM_TIMEOUT = 12.5
    settings.LLM_MAX_RETRIES = 4
    config = LLMConfig.from_settings()
    assert (config.base_url, config.api_key, config.model, config.timeout, config.max_retries) == (
        "http://llm.internal:11434/v1", SECRET, "gpt-4o-mini", 12.5, 4,
    )
    assert config.host == "llm.internal:11434" and not config.is_demo
    assert LLMConfig.from_settings(model_override="gpt-4o").model == "gpt-4o"
    assert SECRET not in repr(config)


def test_demo_when_nothing_is_configured(settings):
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = ""
    config = LLMConfig.from_settings()
    assert config.is_demo and config.base_url is None and config.api_key is None
    assert LLMConfig(base_url="http://x/v1", api_key=None, model="querent-demo", timeout=1, max_retries=0).is_demo
    # A local endpoint without a key is a real provider, not the demo.
    assert not LLMConfig(base_url="http://x/v1", api_key=None, model="llama3", timeout=1, max_retries=0).is_demo

    result = complete(QUESTION, config=config)
    assert result.is_demo and result.model == "querent-demo" and result.usage.cost_usd == 0
    assert list_models(config) == ["querent-demo"]


def test_local_endpoint_without_a_key_works(llm):
    llm.script([text("ok")])
    assert complete(QUESTION, config=config_for(llm, api_key=None)).text == "ok"


def test_list_models(llm):
    assert "gpt-4o-mini" in list_models(config_for(llm))
    with pytest.raises(LLMError) as caught:
        list_models(config_for(llm, base_url=f"http://127.0.0.1:{closed_port()}/v1"))
    assert caught.value.kind == "unavailable"


def test_llm_error_survives_pickling():
    import pickle

    error = LLMError("rate_limit", "rate limited by example.com (HTTP 429)", retryable=True, status=429)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.message, copy.retryable, copy.status, str(copy)) == (
        "rate_limit", error.message, True, 429, error.message,
    )
