"""Benchmark: the CPU a judge call spends on its logprobs, against the same call without them.

2,000 answers of the fake server of the tests (its four answer styles), each as the body
it sends without logprobs and with ``logprobs.content`` for ``top_logprobs=5``. The
reference reads a body and parses the grade; the measured path also finds the grade
token and turns its alternatives into grade probabilities (``judges.parsing``), as
``judges.runner`` does per call. CPU time (``time.process_time``), so that other work
on the machine weighs less than in a wall-clock figure.

    python bench/judge_logprobs_bench.py [--answers 2000] [--repeats 5]

Last line: ``ratio: X`` (CPU per call with logprobs / without).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from judges import parsing  # noqa: E402
from tests.judges.fake_llm import answer_for, logprobs_content  # noqa: E402


def bodies(n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        prompt = f"Query: benchmark topic {i}\nPassage: passage {i} with some words\n##final score"
        content = answer_for(prompt)
        entries, _ = logprobs_content(prompt, content, top=5, binary=False, grade=parsing.parse_graded(content).value)
        message = {"role": "assistant", "content": content}
        out.append((
            json.dumps({"choices": [{"index": 0, "message": message, "logprobs": None}]}),
            json.dumps({"choices": [{"index": 0, "message": message, "logprobs": {"content": entries}}]}),
        ))
    return out


def per_call_us(answers: list[tuple[str, str]], *, with_logprobs: bool, repeats: int) -> float:
    started = time.process_time()
    for _ in range(repeats):
        for plain, with_lp in answers:
            choice = json.loads(with_lp if with_logprobs else plain)["choices"][0]
            parsed = parsing.parse_graded(choice["message"]["content"])
            if with_logprobs:
                alternatives = parsing.answer_token_alternatives(
                    choice["logprobs"]["content"], value=parsed.value, token_grade=parsing.graded_token_grade
                )
                parsing.grade_probabilities(alternatives, n_grades=4, token_grade=parsing.graded_token_grade)
    return (time.process_time() - started) / (repeats * len(answers)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    answers = bodies(args.answers)
    without = per_call_us(answers, with_logprobs=False, repeats=args.repeats)
    with_lp = per_call_us(answers, with_logprobs=True, repeats=args.repeats)
    print(f"without logprobs: {without:.1f} us of CPU per call (read the body, parse the grade)")
    print(f"with logprobs:    {with_lp:.1f} us of CPU per call (also the grade token and its probabilities)")
    print(f"added: {with_lp - without:.1f} us per call")
    print(f"ratio: {with_lp / without:.2f}")


if __name__ == "__main__":
    main()
