"""What each kind of job asks, how it reads the answers, and where the results go.

A handler has four parts, called by :class:`judges.runner.JobRunner`:
``contexts`` (bulk-load the inputs of claimed items), ``plan`` (the calls of an item's
current step), ``absorb`` (read the step's answers; return True when another step
follows) and ``write`` (bulk-write finished items into the analysis tables, inside the
runner's transaction).

Self-consistency (``samples`` > 1): every sample is its own cached call (the sample
index is part of the cache key); the item's value is the majority vote of the samples
that parsed, a tie going to the lowest value (see ``parsing.majority_vote``). The item
is ``invalid`` when no sample parsed but at least one was answered, ``failed`` when no
sample was answered at all.
"""
from __future__ import annotations

from typing import Any

from analysis.importers.naming import reasons_label_parts
from analysis.judgments import JudgmentRow, judgments_write
from analysis.models import Generation, PairwisePreference, Passage, Query, Reason, ReasonProposal
from judges import parsing
from judges.models import JobKind, LLMJob, LLMJobItem, RelabelDecision, TrainingExample
from judges.prompts import render
from judges.job_state import ItemState, JobContext, PlannedCall


def split_pair(key: str) -> tuple[str, str]:
    qid, docid = key.split("\t", 1)
    return qid, docid


class Handler:
    def contexts(self, runner: JobContext, items: list[LLMJobItem]) -> dict[int, dict[str, Any]]:
        raise NotImplementedError

    def plan(self, runner: JobContext, state: ItemState) -> list[PlannedCall]:
        raise NotImplementedError

    def absorb(self, runner: JobContext, state: ItemState) -> bool:
        raise NotImplementedError

    def write(self, runner: JobContext, finished: list[ItemState]) -> None:
        raise NotImplementedError

    # shared helpers
    def _queries(self, runner: JobContext, qids: set[str]) -> dict[str, Query]:
        return {q.qid: q for q in Query.objects.filter(collection_id=runner.job.collection_id, qid__in=qids)}

    def _passages(self, runner: JobContext, docids: set[str]) -> dict[str, Passage]:
        return {p.docid: p for p in Passage.objects.filter(collection_id=runner.job.collection_id, docid__in=docids)}

    def _calls(self, runner: JobContext, inputs: dict[str, Any], parser, *, stage: int = 1, endpoint=None) -> list[PlannedCall]:
        template = runner.job.template
        values = {"examples": template.examples, **inputs}
        prompt = render(template.content, values)
        return [
            PlannedCall(
                endpoint=endpoint or runner.job.endpoint, stage=stage, sample=i, prompt=prompt,
                inputs=inputs, parser=parser, system=template.system,
            )
            for i in range(max(1, runner.job.samples))
        ]

    def _vote(self, state: ItemState) -> None:
        """Majority vote over the step's samples; sets the item's status and result."""
        valid = [c.parsed.value for c in state.calls if c.parsed is not None and c.parsed.valid]
        answered = [c for c in state.calls if c.content is not None]
        raw = answered[0].content if answered else ""
        samples = [c.parsed.value if c.parsed and c.parsed.valid else None for c in state.calls]
        if valid:
            state.finish(LLMJobItem.DONE, result={"value": parsing.majority_vote(valid), "samples": samples, "raw": raw})
        elif answered:
            errors = "; ".join(sorted({c.parsed.error for c in answered if c.parsed}))
            state.finish(LLMJobItem.INVALID, result={"value": None, "samples": samples, "raw": raw}, error=errors)
        else:
            state.finish(LLMJobItem.FAILED, error="; ".join(sorted({c.error for c in state.calls})))


class JudgeHandler(Handler):
    """Relevance judging of (query, passage) pairs, graded 0..3 or binary.

    Each judgment gets the judge's grade probabilities when they are known (index =
    grade, 4 graded, 2 binary): with ``samples`` > 1 the vote shares of the samples that
    parsed; with one sample the softmax of the endpoint's top_logprobs at the grade
    token over the grades among them (``parsing.grade_probabilities``). An endpoint that
    sends no logprobs leaves them empty.
    """

    def __init__(self, job: LLMJob) -> None:
        binary = job.template.kind == "binary"
        self.parser = parsing.parse_binary if binary else parsing.parse_graded
        self.token_grade = parsing.binary_token_grade if binary else parsing.graded_token_grade
        self.n_grades = 2 if binary else 4

    def contexts(self, runner, items):
        pairs = {item.pk: split_pair(item.key) for item in items}
        queries = self._queries(runner, {q for q, _ in pairs.values()})
        passages = self._passages(runner, {d for _, d in pairs.values()})
        return {pk: {"query": queries.get(q), "passage": passages.get(d)} for pk, (q, d) in pairs.items()}

    def plan(self, runner, state):
        query, passage = state.context.get("query"), state.context.get("passage")
        if query is None or passage is None or passage.text is None:
            state.finish(LLMJobItem.FAILED, error="query or passage text unknown")
            return []
        calls = self._calls(runner, {"query": query.text, "passage": passage.text}, self.parser)
        for call in calls:
            call.token_grade = self.token_grade
        return calls

    def absorb(self, runner, state):
        self._vote(state)
        if state.status == LLMJobItem.DONE:
            state.result["probabilities"] = self.probabilities(state)
        return False

    def probabilities(self, state: ItemState) -> list[float] | None:
        """The item's grade probabilities: vote shares of several samples, else the logprobs'."""
        valid = [c for c in state.calls if c.parsed is not None and c.parsed.valid]
        if len(state.calls) > 1:
            return parsing.vote_shares([c.parsed.value for c in valid if c.parsed], n_grades=self.n_grades)
        return parsing.grade_probabilities(
            valid[0].alternatives if valid else None, n_grades=self.n_grades, token_grade=self.token_grade
        )

    def write(self, runner, finished):
        rows = [
            JudgmentRow(
                query_id=state.context["query"].pk, passage_id=state.context["passage"].pk,
                grade=state.result.get("value"), valid=state.status == LLMJobItem.DONE,
                raw_response=state.result.get("raw") or "", probabilities=state.result.get("probabilities"),
            )
            # a failed item has no answer: its reason stays on the item
            for state in finished
            if state.status in (LLMJobItem.DONE, LLMJobItem.INVALID)
        ]
        if rows:
            judgments_write(assessor=runner.job.assessor, rows=rows)


class GenerateHandler(Handler):
    """A passage per query (the H2G input); the think block is removed from ``text``."""

    def contexts(self, runner, items):
        queries = self._queries(runner, {item.key for item in items})
        return {item.pk: {"query": queries.get(item.key)} for item in items}

    def plan(self, runner, state):
        query = state.context.get("query")
        if query is None:
            state.finish(LLMJobItem.FAILED, error="query unknown")
            return []
        calls = self._calls(runner, {"query": query.text}, parsing.parse_generation)[:1]
        state.context["prompt"] = calls[0].prompt
        return calls

    def absorb(self, runner, state):
        self._vote_text(state)
        return False

    def _vote_text(self, state):
        call = state.calls[0]
        if call.content is None:
            state.finish(LLMJobItem.FAILED, error=call.error)
        elif call.parsed and call.parsed.valid:
            state.finish(LLMJobItem.DONE, result={"value": call.parsed.value, "raw": call.content})
        else:
            state.finish(LLMJobItem.INVALID, result={"raw": call.content}, error=call.parsed.error if call.parsed else "")

    def write(self, runner, finished):
        rows = [
            Generation(
                query=s.context["query"], generator_id=runner.job.assessor_id,
                setting=runner.job.item_spec.get("setting", Generation.ZERO_SHOT), prompt=s.context.get("prompt", ""),
                response=s.result["raw"], text=s.result["value"],
            )
            for s in finished
            if s.status == LLMJobItem.DONE
        ]
        if rows:
            Generation.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["query", "generator", "setting"],
                update_fields=["prompt", "response", "text"], batch_size=500,
            )


class PairwiseHandler(Handler):
    """Preference between a judged passage and the query's generated passage, both orders.

    An item asks the template twice (``item_spec["orders"]`` 2, the default): the judged
    passage in position 1 and the generated one in 2 (forward), then the generated one in
    1 (swapped); each order's samples are voted on their own. Each answer is read as the
    passage it names (1 judged, 2 generated); when the two orders name the same passage
    that is the preference, when they disagree the item is a tie (label 0): an answer that
    follows the position says nothing about the passages. Both answers are kept on the
    ``PairwisePreference``. The item is done only when both orders gave a valid answer,
    failed when an order got no answer at all (a resumed job asks it again), otherwise
    invalid. With ``orders`` 1 only the forward order is asked, and its answer is the label.
    """

    def contexts(self, runner, items):
        pairs = {item.pk: split_pair(item.key) for item in items}
        queries = self._queries(runner, {q for q, _ in pairs.values()})
        passages = self._passages(runner, {d for _, d in pairs.values()})
        generations = {
            g.query.qid: g
            for g in Generation.objects.select_related("query").filter(
                query__in=list(queries.values()), generator_id=runner.job.item_spec.get("generator_id"),
                setting=runner.job.item_spec.get("setting", Generation.ZERO_SHOT),
            )
        }
        return {
            pk: {"query": queries.get(q), "passage": passages.get(d), "generation": generations.get(q)}
            for pk, (q, d) in pairs.items()
        }

    @staticmethod
    def orders(runner: JobContext) -> int:
        return 1 if int(runner.job.item_spec.get("orders", 2)) == 1 else 2

    def plan(self, runner, state):
        c = state.context
        if not c.get("query") or not c.get("passage") or c["passage"].text is None or not c.get("generation"):
            state.finish(LLMJobItem.FAILED, error="query, passage text or generation unknown")
            return []
        judged, generated = c["passage"].text, c["generation"].text
        calls = self._calls(runner, {"query": c["query"].text, "passage_a": judged, "passage_b": generated},
                            parsing.parse_pairwise)
        if self.orders(runner) == 2:
            # The swapped order's calls follow the forward ones (``absorb`` splits them by position).
            calls += self._calls(runner, {"query": c["query"].text, "passage_a": generated, "passage_b": judged},
                                 parsing.parse_pairwise)
        return calls

    def absorb(self, runner, state):
        per_order = len(state.calls) // self.orders(runner)
        forward, swapped = state.calls[:per_order], state.calls[per_order:]
        answers: list[int | None] = []
        raws: list[str] = []
        samples: list[list[int | None]] = []
        for n, calls in enumerate((forward, swapped)[: self.orders(runner)]):
            valid = [c.parsed.value for c in calls if c.parsed is not None and c.parsed.valid]
            position = parsing.majority_vote(valid)
            # The position answered, read as the passage it names: 1 judged, 2 generated.
            answers.append(None if position is None else (position if n == 0 else 3 - position))
            answered = [c for c in calls if c.content is not None]
            raws.append(answered[0].content or "" if answered else "")
            samples.append([c.parsed.value if c.parsed and c.parsed.valid else None for c in calls])
        result = {
            "forward": answers[0], "swapped": answers[1] if len(answers) > 1 else None,
            "raw": raws[0], "raw_swapped": raws[1] if len(raws) > 1 else "", "samples": samples,
        }
        if all(a is not None for a in answers):
            agreed = len(set(answers)) == 1
            result["value"] = answers[0] if agreed else PairwisePreference.TIE
            state.finish(LLMJobItem.DONE, result=result)
        elif any(all(c.content is None for c in calls) for calls in (forward, swapped)[: self.orders(runner)]):
            state.finish(LLMJobItem.FAILED, result=result,
                         error="; ".join(sorted({c.error for c in state.calls if c.content is None and c.error})))
        else:
            state.finish(LLMJobItem.INVALID, result={**result, "value": None},
                         error="; ".join(sorted({c.parsed.error for c in state.calls if c.parsed and not c.parsed.valid})))
        return False

    def write(self, runner, finished):
        rows = [
            PairwisePreference(
                query=s.context["query"], passage=s.context["passage"], assessor_id=runner.job.assessor_id,
                generation=s.context["generation"], label=s.result["value"],
                forward_label=s.result["forward"], swapped_label=s.result["swapped"],
                raw_response=s.result.get("raw") or "", raw_response_swapped=s.result.get("raw_swapped") or "",
            )
            for s in finished
            if s.status == LLMJobItem.DONE
        ]
        if rows:
            PairwisePreference.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["assessor", "query", "passage"],
                update_fields=["label", "generation", "forward_label", "swapped_label", "raw_response",
                               "raw_response_swapped"], batch_size=500,
            )


class ReasonsHandler(Handler):
    """One list of failure reasons per query and task, with optional refinement rounds.

    Each query's prompt is built from that query alone: round r > 1 shows the list of
    round r - 1 of the SAME query. (The reference script carried the previous query's
    list into the next prompt, so reasons leaked across queries.)
    """

    def contexts(self, runner, items):
        queries = self._queries(runner, {item.key for item in items})
        contexts = runner.job.item_spec.get("contexts", {})
        return {item.pk: {"query": queries.get(item.key), "context": contexts.get(item.key, "")} for item in items}

    def plan(self, runner, state):
        query = state.context.get("query")
        if query is None:
            state.finish(LLMJobItem.FAILED, error="query unknown")
            return []
        previous = state.history[-1] if state.history else None
        inputs = {
            "query": query.text,
            "context": state.context.get("context", ""),
            "previous_reasons": repr(previous) if previous else "",
        }
        return self._calls(runner, inputs, parsing.parse_list)[:1]

    def absorb(self, runner, state):
        call = state.calls[0]
        rounds = max(1, int(runner.job.item_spec.get("rounds", 1)))
        if call.content is None:
            state.finish(LLMJobItem.FAILED, error=call.error)
            return False
        if call.parsed and call.parsed.valid and call.parsed.value:
            state.history.append(call.parsed.value)
            state.result = {"value": call.parsed.value, "raw": call.content, "rounds": len(state.history)}
            if len(state.history) < rounds:
                return True
            state.finish(LLMJobItem.DONE, result=state.result)
            return False
        if state.history:  # a later round failed to parse: keep the last good list
            state.finish(LLMJobItem.DONE, result=state.result, error=call.parsed.error if call.parsed else "")
        else:
            state.finish(LLMJobItem.INVALID, result={"raw": call.content}, error=call.parsed.error if call.parsed else "empty list")
        return False

    def write(self, runner, finished):
        task = runner.job.item_spec.get("task", "h2r")
        label = runner.job.item_spec.get("label", "")
        parts = reasons_label_parts(label)
        done = [s for s in finished if s.status == LLMJobItem.DONE]
        if not done:
            return
        ReasonProposal.objects.bulk_create(
            [
                ReasonProposal(query=s.context["query"], task=task, assessor_id=runner.job.assessor_id, label=label,
                               label_collection=parts.collection, subject=parts.subject, settings=parts.settings,
                               quantile=parts.quantile, raw_response=s.result["raw"])
                for s in done
            ],
            update_conflicts=True, unique_fields=["query", "task", "assessor", "label"], update_fields=["raw_response"],
        )
        proposals = {
            p.query_id: p
            for p in ReasonProposal.objects.filter(
                query__in=[s.context["query"] for s in done], task=task, assessor_id=runner.job.assessor_id, label=label
            )
        }
        Reason.objects.filter(proposal__in=list(proposals.values())).delete()
        Reason.objects.bulk_create(
            [
                Reason(proposal=proposals[s.context["query"].pk], position=i, text=text)
                for s in done
                for i, text in enumerate(s.result["value"], start=1)
            ]
        )


class RelabelHandler(Handler):
    """The RLHN cascade over training examples: a cheap stage 1, a strong stage 2.

    Stage 1 sees every hard negative of the example and names those that answer the
    query; only when it names any does stage 2 see those (and only those). A negative
    stage 1 did not flag is kept (decided by stage 1); a flagged one is relabeled by
    the policy (``move`` to positives or ``remove``) when stage 2 agrees, else kept
    (decided by stage 2).
    """

    def contexts(self, runner, items):
        examples = {str(e.pk): e for e in TrainingExample.objects.filter(pk__in=[int(i.key) for i in items])}
        return {item.pk: {"example": examples.get(item.key)} for item in items}

    @staticmethod
    def _numbered(passages: list[dict]) -> str:
        return "\n".join(f"[{i}] {p.get('title', '')} {p.get('text', '')}".replace("  ", " ") for i, p in enumerate(passages, 1))

    def plan(self, runner, state):
        example = state.context.get("example")
        if example is None:
            state.finish(LLMJobItem.FAILED, error="training example unknown")
            return []
        if state.step == 0:
            negatives = example.negatives
            if not negatives:
                state.finish(LLMJobItem.DONE, result={"stage1": [], "stage2": None, "relabeled": []})
                return []
            inputs = {"query": example.query_text, "candidates": self._numbered(negatives)}
            count = len(negatives)
            return self._calls(runner, inputs, lambda raw: parsing.parse_indices(raw, count=count), stage=1)[:1]
        flagged = [example.negatives[i - 1] for i in state.history[0]]
        inputs = {"query": example.query_text, "candidates": self._numbered(flagged)}
        count = len(flagged)
        return self._calls(
            runner, inputs, lambda raw: parsing.parse_indices(raw, count=count), stage=2, endpoint=runner.job.endpoint2
        )[:1]

    def absorb(self, runner, state):
        call = state.calls[0]
        if call.content is None:
            state.finish(LLMJobItem.FAILED, error=f"stage {call.stage}: {call.error}")
            return False
        if not (call.parsed and call.parsed.valid):
            state.finish(LLMJobItem.INVALID, result={"raw": call.content}, error=f"stage {call.stage}: {call.parsed.error}")
            return False
        state.history.append(call.parsed.value)
        if state.step == 0 and call.parsed.value and runner.job.endpoint2_id:
            return True
        negatives = state.context["example"].negatives
        stage1 = state.history[0]
        confirmed = []
        if len(state.history) > 1:
            confirmed = [stage1[i - 1] for i in state.history[1]]
        state.finish(LLMJobItem.DONE, result={
            "stage1": [negatives[i - 1]["docid"] for i in stage1],
            "stage2": [negatives[i - 1]["docid"] for i in confirmed] if len(state.history) > 1 else None,
            "relabeled": [negatives[i - 1]["docid"] for i in confirmed],
        })
        return False

    def write(self, runner, finished):
        policy = runner.job.item_spec.get("policy", "move")
        action = RelabelDecision.MOVED if policy == "move" else RelabelDecision.REMOVED
        rows = []
        for s in finished:
            if s.status != LLMJobItem.DONE:
                continue
            example = s.context["example"]
            flagged, stage2 = set(s.result["stage1"]), s.result["stage2"]
            for passage in example.negatives:
                docid = str(passage["docid"])
                if docid not in flagged:
                    rows.append(RelabelDecision(job=runner.job, example=example, docid=docid, stage1_flag=False,
                                                decided_stage=1, action=RelabelDecision.KEPT))
                else:
                    confirmed = docid in (stage2 or [])
                    rows.append(RelabelDecision(job=runner.job, example=example, docid=docid, stage1_flag=True,
                                                stage2_flag=confirmed, decided_stage=2,
                                                action=action if confirmed else RelabelDecision.KEPT))
        if rows:
            RelabelDecision.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)


def handler_for(job: LLMJob) -> Handler:
    if job.kind == JobKind.JUDGE:
        return JudgeHandler(job)
    return {
        JobKind.GENERATE: GenerateHandler,
        JobKind.PAIRWISE: PairwiseHandler,
        JobKind.REASONS: ReasonsHandler,
        JobKind.RELABEL: RelabelHandler,
    }[job.kind]()
