"""An LLM job's items in flight: the calls an item needs and what was learnt from them.

Shared by the runner (which claims, asks and writes) and the kind handlers
(``judges.kinds``, which say what to ask and how to read it); it imports neither,
so the two depend on it and not on each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from judges.models import Endpoint, LLMJob, LLMJobItem
from judges.parsing import Parsed


class JobContext(Protocol):
    """What a kind handler sees of the runner that calls it: the job being run."""

    job: LLMJob


@dataclass
class PlannedCall:
    """One call an item needs: where, what, and how its answer is read."""

    endpoint: Endpoint
    stage: int
    sample: int
    prompt: str
    inputs: dict[str, Any]
    parser: Callable[[str], Parsed]
    system: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    item_id: int = 0
    # Judge calls: what grade a token of the answer spells. Set, the call asks the endpoint
    # for logprobs (when it supports them) and keeps the grade token's alternatives.
    token_grade: Callable[[str], int | None] | None = None
    # filled in when answered
    content: str | None = None
    parsed: Parsed | None = None
    error: str = ""
    cached: bool = False
    alternatives: list[dict[str, Any]] | None = None  # top_logprobs at the grade token

    def messages(self) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": self.prompt}]


@dataclass
class ItemState:
    """An item in flight: its inputs, its current step's calls, and what was learnt."""

    item: LLMJobItem
    context: dict[str, Any]
    step: int = 0
    calls: list[PlannedCall] = field(default_factory=list)
    history: list[Any] = field(default_factory=list)
    status: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    attempts: int = 0

    def answered(self) -> bool:
        return all(c.content is not None or c.error for c in self.calls)

    def finish(self, status: str, *, result: dict | None = None, error: str = "") -> None:
        self.status = status
        self.result = result or {}
        self.error = error
