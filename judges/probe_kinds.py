"""The probe job's kind handler: each item is one judged pair asked as it is and modified.

An item's key is ``probe<TAB>qid<TAB>docid``. A passage probe (stuffing, injection,
truncation) asks the assessor's own prompt twice: with the passage as it is (the same
inputs as its judge job, so the answer usually comes from the call cache) and with the
probe's passage (``probe_texts.probe_passage`` with the job's stored probe text). The
position probe asks the pair the pairwise job compared (judged passage 1, generated
passage 2) and the same pair swapped. ``write`` adds each finished batch to the job's
``ProbeResult`` rows, in the runner's transaction, so the figures follow the items
(a resumed or multi-runner job included).
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from statsmodels.stats.proportion import proportion_confint

from analysis.models import Generation, PairwisePreference
from judges import parsing, probe_texts
from judges.job_state import ItemState, JobContext, PlannedCall
from judges.kinds import Handler
from judges.models import LLMJob, LLMJobItem, ProbeResult


def probe_key_split(key: str) -> tuple[str, str, str]:
    probe, qid, docid = key.split("\t", 2)
    return probe, qid, docid


def wilson(flipped: int, n: int) -> tuple[float | None, float | None, float | None]:
    """The flip rate and its 95% Wilson interval (None when nothing was probed)."""
    if n <= 0:
        return None, None, None
    low, high = proportion_confint(flipped, n, alpha=0.05, method="wilson")
    return flipped / n, float(low), float(high)


class ProbeHandler(Handler):
    def __init__(self, job: LLMJob) -> None:
        kind = job.template.kind
        self.pairwise = kind == "pairwise"
        self.parser = parsing.parse_pairwise if self.pairwise else (
            parsing.parse_binary if kind == "binary" else parsing.parse_graded
        )
        self.token_grade = None if self.pairwise else (
            parsing.binary_token_grade if kind == "binary" else parsing.graded_token_grade
        )
        self.top = 1 if kind == "binary" else 3

    def contexts(self, runner: JobContext, items: list[LLMJobItem]) -> dict[int, dict[str, Any]]:
        keys = {item.pk: probe_key_split(item.key) for item in items}
        queries = self._queries(runner, {q for _, q, _ in keys.values()})
        passages = self._passages(runner, {d for _, _, d in keys.values()})
        generations: dict[tuple[str, str], Generation] = {}
        if any(p == probe_texts.POSITION for p, _, _ in keys.values()):
            for pref in PairwisePreference.objects.select_related("generation", "query", "passage").filter(
                assessor_id=runner.job.assessor_id, query__in=list(queries.values()), generation__isnull=False,
            ):
                assert pref.generation is not None
                generations[(pref.query.qid, pref.passage.docid)] = pref.generation
        return {
            pk: {"probe": p, "query": queries.get(q), "passage": passages.get(d), "generation": generations.get((q, d))}
            for pk, (p, q, d) in keys.items()
        }

    def plan(self, runner: JobContext, state: ItemState) -> list[PlannedCall]:
        c = state.context
        query, passage, probe = c.get("query"), c.get("passage"), c["probe"]
        if query is None or passage is None or not passage.text:
            state.finish(LLMJobItem.FAILED, error="query or passage text unknown")
            return []
        if probe == probe_texts.POSITION:
            generation = c.get("generation")
            if generation is None:
                state.finish(LLMJobItem.FAILED, error="the compared generated passage is unknown")
                return []
            asked = {"query": query.text, "passage_a": passage.text, "passage_b": generation.text}
            swapped = {"query": query.text, "passage_a": generation.text, "passage_b": passage.text}
            return self._calls(runner, asked, self.parser) + self._calls(runner, swapped, self.parser)
        text = runner.job.item_spec["texts"][probe]["content"]
        modified = probe_texts.probe_passage(text, passage=passage.text, query=query.text)
        calls = (self._calls(runner, {"query": query.text, "passage": passage.text}, self.parser)
                 + self._calls(runner, {"query": query.text, "passage": modified}, self.parser))
        for call in calls:
            call.token_grade = self.token_grade
        return calls

    @staticmethod
    def _value(calls: list[PlannedCall]) -> int | None:
        return parsing.majority_vote([c.parsed.value for c in calls if c.parsed is not None and c.parsed.valid])

    def absorb(self, runner: JobContext, state: ItemState) -> bool:
        half = len(state.calls) // 2
        first, second = state.calls[:half], state.calls[half:]
        a, b = self._value(first), self._value(second)
        raws = [next((c.content for c in part if c.content is not None), None) for part in (first, second)]
        result: dict[str, Any] = {
            "probe": state.context["probe"], "original": a, "modified": b, "raw": raws,
            "calls": [[c.key for c in first], [c.key for c in second]],
        }
        if a is None or b is None:
            answered = [c for c in state.calls if c.content is not None]
            if len(answered) and all(any(c.content is not None for c in part) for part in (first, second)):
                errors = "; ".join(sorted({c.parsed.error for c in answered if c.parsed and not c.parsed.valid}))
                state.finish(LLMJobItem.INVALID, result=result, error=errors or "no value")
            else:
                state.finish(LLMJobItem.FAILED, result=result,
                             error="; ".join(sorted({c.error for c in state.calls if c.error})) or "no answer")
            return False
        probe = state.context["probe"]
        if probe == probe_texts.POSITION:
            # a: the preference with the judged passage first; b: with it second. The same
            # position both times means the position decided, not the passage.
            result.update(ceiling=False, flipped=a == b, followed="first" if a == b == 1 else "second" if a == b else "")
        elif probe_texts.RISES[probe]:
            result.update(ceiling=a >= self.top, flipped=b > a)
        else:
            result.update(ceiling=a <= 0, flipped=b < a)
        if result["ceiling"]:
            result["flipped"] = False
        state.finish(LLMJobItem.DONE, result=result)
        return False

    def write(self, runner: JobContext, finished: list[ItemState]) -> None:
        n: Counter[str] = Counter()
        flipped: Counter[str] = Counter()
        ceiling: Counter[str] = Counter()
        for s in finished:
            if s.status != LLMJobItem.DONE:
                continue
            probe = s.result["probe"]
            if s.result["ceiling"]:
                ceiling[probe] += 1
            else:
                n[probe] += 1
                flipped[probe] += int(bool(s.result["flipped"]))
        probes = set(n) | set(ceiling)
        if not probes:
            return
        for result in ProbeResult.objects.select_for_update().filter(job_id=runner.job.pk, probe__in=probes):
            result.n += n[result.probe]
            result.flipped += flipped[result.probe]
            result.at_ceiling += ceiling[result.probe]
            result.flip_rate, result.ci_low, result.ci_high = wilson(result.flipped, result.n)
            result.save(update_fields=["n", "flipped", "at_ceiling", "flip_rate", "ci_low", "ci_high"])
