"""The client: retries owned by tenacity (429 with Retry-After, 5xx, timeouts, bad bodies), bounded attempts."""
from __future__ import annotations

from types import SimpleNamespace

import httpx2
import openai

from judges.client import CallEngine, CallRequest, EndpointConfig, _Wait
from tests.judges.fake_llm import FakeConfig, FakeLLMServer


def ask(server, *, prompts, max_attempts=5, timeout=5.0, concurrency=4, base_url=None):
    engine = CallEngine(
        [EndpointConfig(key=1, base_url=base_url or server.base_url, model="m", timeout=timeout, max_attempts=max_attempts)],
        concurrency=concurrency, backoff_base=0.01, backoff_max=0.05,
    )
    try:
        futures = [engine.submit(CallRequest(endpoint=1, messages=[{"role": "user", "content": p}], parameters={})) for p in prompts]
        return [f.result(timeout=60) for f in futures]
    finally:
        engine.close()


def test_transient_faults_are_retried_until_answered():
    config = FakeConfig(rate_429=0.25, rate_500=0.25, rate_truncated=0.25, rate_slow=0.25, slow_seconds=1.0, fault_attempts=2)
    with FakeLLMServer(config) as server:
        prompts = [f"Query: q{i}\nPassage: p{i}" for i in range(40)]
        outcomes = ask(server, prompts=prompts, timeout=0.4)
        stats = server.state.stats()
    assert all(o.ok for o in outcomes)
    assert all(o.attempts == 3 for o in outcomes)  # two injected faults each, then the answer
    assert {"429", "500", "truncated", "slow"} == set(stats["faults"])
    assert all(len(o.failed_attempts) == 2 for o in outcomes)


def test_attempts_are_bounded_and_the_error_is_kept():
    with FakeLLMServer(FakeConfig(rate_always_500=1.0)) as server:
        [outcome] = ask(server, prompts=["Query: q\nPassage: p"], max_attempts=3)
        assert server.state.stats()["requests"] == 3
    assert not outcome.ok
    assert outcome.attempts == 3
    assert "500" in outcome.error


def test_client_errors_are_not_retried():
    with FakeLLMServer(FakeConfig()) as server:
        [outcome] = ask(server, prompts=["x"], base_url=f"http://127.0.0.1:{server.port}/nowhere")
    assert outcome.attempts == 1 and "404" in outcome.error


def test_retry_after_is_honoured_over_the_backoff():
    wait = _Wait(base=100.0, maximum=100.0)
    request = httpx2.Request("POST", "http://x")
    response = httpx2.Response(429, headers={"Retry-After": "7"}, request=request)
    error = openai.RateLimitError("slow down", response=response, body=None)
    state = SimpleNamespace(outcome=SimpleNamespace(exception=lambda: error), attempt_number=1)
    assert wait(state) == 7.0
    no_header = openai.InternalServerError("boom", response=httpx2.Response(500, request=request), body=None)
    state = SimpleNamespace(outcome=SimpleNamespace(exception=lambda: no_header), attempt_number=3)
    assert 0 <= wait(state) <= 100.0


def test_the_api_key_is_read_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("HARDQ_LLM_KEY_TEST", "sk-secret")
    assert EndpointConfig(key=1, base_url="http://x", model="m", api_key_env="HARDQ_LLM_KEY_TEST").api_key() == "sk-secret"
    assert EndpointConfig(key=1, base_url="http://x", model="m").api_key() == "not-needed"
    assert "sk-secret" not in repr(EndpointConfig(key=1, base_url="http://x", model="m", api_key_env="HARDQ_LLM_KEY_TEST"))


def test_a_variable_outside_the_operators_list_is_never_read(monkeypatch):
    monkeypatch.setenv("HARDQ_TEST_KEY", "sk-secret")  # set, but not an allowed name
    assert EndpointConfig(key=1, base_url="http://x", model="m", api_key_env="HARDQ_TEST_KEY").api_key() == "not-needed"
