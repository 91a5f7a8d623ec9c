"""The LLM client: the openai SDK against any OpenAI-compatible base URL.

Calls run on an asyncio loop in one background thread (``CallEngine``) so that the
caller, which owns the database connection, keeps writing results while up to
``concurrency`` calls are in flight. Retries belong to tenacity, not to the SDK
(``max_retries=0``): jittered exponential backoff on 429 (a Retry-After header is
honoured), 5xx, timeouts, connection errors and unreadable (truncated) bodies; at most
``max_attempts`` attempts. Client errors (400, 401, 404 ...) are not retried.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import openai
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from judges import endpoint_policy

# Retry-After values above this are not honoured as is: a job should not sleep for hours.
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class EndpointConfig:
    """What the engine needs of an endpoint (a plain copy, no ORM object across threads)."""

    key: int
    base_url: str
    model: str
    api_key_env: str = ""
    timeout: float = 60.0
    max_attempts: int = 5
    rate_limit: float = 0.0

    def refusal(self) -> str | None:
        """Why the operator's rules forbid calling this endpoint, or None (``judges.endpoint_policy``)."""
        return endpoint_policy.endpoint_refusal(base_url=self.base_url, api_key_env=self.api_key_env)

    def api_key(self) -> str:
        # A variable the operator did not allow is never read, whatever is stored.
        if self.api_key_env and endpoint_policy.key_env_refusal(self.api_key_env) is None:
            key = os.environ.get(self.api_key_env, "")
        else:
            key = ""
        # Local servers (Ollama, vLLM) accept any key; the SDK insists on one.
        return key or "not-needed"


@dataclass
class CallRequest:
    endpoint: int
    messages: list[dict[str, str]]
    parameters: dict[str, Any]


@dataclass
class CallOutcome:
    """The result of one logical call (all its attempts)."""

    content: str | None = None
    # choices[0].logprobs.content when the endpoint sent it: per token, its top_logprobs.
    logprobs: list[dict[str, Any]] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int = 0
    attempts: int = 0
    error: str = ""
    failed_attempts: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.content is not None and not self.error


class TransientBodyError(Exception):
    """A 200 answer whose body is not a usable completion (truncated JSON, no choices)."""


def completion_body(model: str, request: CallRequest) -> dict[str, Any]:
    """The JSON body of a chat completion request: what an online call posts and what a
    batch-mode job writes as a line's ``body`` (``judges.batch``)."""
    return {"model": model, "messages": request.messages, **request.parameters}


def read_completion(body: Any, outcome: CallOutcome) -> None:
    """Read a chat completion body into ``outcome`` (content, logprobs, tokens): the same
    reading for an online answer and a batch output line. Raises TransientBodyError for
    a body that is no usable completion."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (TypeError, KeyError, IndexError):
        raise TransientBodyError(f"unusable completion body: {str(body)[:200]!r}") from None
    if content is None:
        raise TransientBodyError("completion without message content")
    outcome.content = content
    # A server that ignores the logprobs request sends none (or null): not an error.
    logprobs = body["choices"][0].get("logprobs")
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    outcome.logprobs = tokens if isinstance(tokens, list) else None
    usage = (body.get("usage") if isinstance(body, dict) else None) or {}
    outcome.prompt_tokens = int(usage.get("prompt_tokens") or 0)
    outcome.completion_tokens = int(usage.get("completion_tokens") or 0)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, TransientBodyError, json.JSONDecodeError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500 or exc.status_code == 408
    return False


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return None


class _Wait:
    """Jittered exponential backoff, or the server's Retry-After when it sent one."""

    def __init__(self, *, base: float, maximum: float) -> None:
        self.backoff = wait_random_exponential(multiplier=base, max=maximum)

    def __call__(self, retry_state) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hinted = _retry_after(exc)
        if hinted is not None:
            return hinted
        return self.backoff(retry_state)


class _RateLimiter:
    """Spaces call starts of one endpoint at least 1/rate seconds apart."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_slot = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            now = time.monotonic()
            delay = self.next_slot - now
            self.next_slot = max(now, self.next_slot) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


class CallEngine:
    """Runs chat completions concurrently on a private event loop thread.

    ``submit`` is thread-safe and returns a ``concurrent.futures.Future`` of a
    :class:`CallOutcome`; it never raises for a failed call, the outcome carries the error.
    """

    def __init__(
        self,
        endpoints: list[EndpointConfig],
        *,
        concurrency: int,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
    ) -> None:
        self.endpoints = {e.key: e for e in endpoints}
        self.concurrency = max(1, concurrency)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.loop = _new_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="hardq-llm-engine", daemon=True)
        self.thread.start()
        self._ready = asyncio.run_coroutine_threadsafe(self._setup(), self.loop)
        self._ready.result()

    async def _setup(self) -> None:
        self.semaphore = asyncio.Semaphore(self.concurrency)
        self.clients = {
            key: openai.AsyncOpenAI(
                base_url=e.base_url, api_key=e.api_key(), timeout=e.timeout, max_retries=0,
                http_client=_http_client(e.timeout),
            )
            for key, e in self.endpoints.items()
        }
        self.limiters = {key: _RateLimiter(e.rate_limit) for key, e in self.endpoints.items()}
        # Checked again here, not only when the endpoint was saved: an endpoint stored
        # before the operator tightened the rules must not be called either.
        self.refusals = {key: e.refusal() for key, e in self.endpoints.items()}

    def submit(self, request: CallRequest) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(self._call(request), self.loop)

    async def _once(self, request: CallRequest, outcome: CallOutcome) -> None:
        endpoint = self.endpoints[request.endpoint]
        if refusal := self.refusals[request.endpoint]:
            raise endpoint_policy.EndpointRefused(refusal)
        await self.limiters[request.endpoint].wait()
        started = time.perf_counter()
        outcome.attempts += 1
        try:
            # The SDK's typed ``chat.completions.create`` spends milliseconds of CPU per
            # call transforming and validating models, which caps a job's throughput;
            # its generic ``post`` keeps the SDK's transport, auth and error mapping
            # (RateLimitError, InternalServerError ...) and returns the JSON as is.
            body: Any = await self.clients[request.endpoint].post(
                "/chat/completions", body=completion_body(endpoint.model, request), cast_to=object,
            )
            read_completion(body, outcome)
        except Exception as exc:
            outcome.failed_attempts.append((_describe(exc), int((time.perf_counter() - started) * 1000)))
            raise
        outcome.latency_ms = int((time.perf_counter() - started) * 1000)

    async def _call(self, request: CallRequest) -> CallOutcome:
        outcome = CallOutcome()
        endpoint = self.endpoints[request.endpoint]
        async with self.semaphore:
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(max(1, endpoint.max_attempts)),
                    wait=_Wait(base=self.backoff_base, maximum=self.backoff_max),
                    retry=retry_if_exception(_retryable),
                    reraise=True,
                ):
                    with attempt:
                        await self._once(request, outcome)
            except Exception as exc:  # the outcome records the failure; the job goes on
                outcome.error = _describe(exc)
                outcome.content = None
        # The last failed attempt is the outcome's error itself, not an extra audit row.
        if outcome.error and outcome.failed_attempts:
            outcome.failed_attempts.pop()
        return outcome

    def close(self) -> None:
        async def shutdown() -> None:
            for client in self.clients.values():
                await client.close()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: its event loop costs less CPU per call than asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _http_client(timeout: float):
    """The SDK's aiohttp transport when aiohttp is installed (less CPU per call than
    the default one, which matters at hundreds of calls per second), else its default."""
    if os.environ.get("HARDQ_LLM_HTTP", "aiohttp") == "aiohttp":
        try:
            return openai.DefaultAioHttpClient(timeout=timeout)
        except RuntimeError:  # the SDK's aiohttp extra is not installed
            pass
    return None


def describe_error(exc: BaseException) -> str:
    """An exception as the one line an LLMCall's error keeps (\"APIStatusError 500: ...\")."""
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    text = str(exc)[:300]
    return f"{name} {status}: {text}" if status else f"{name}: {text}"
