"""Reads for the researcher's view of queries: one query with all its evidence, and the
query list as a table of hard flags.

Both read a fixed number of SQL queries whatever the number of runs, judges,
generators or analyses (listed in each docstring); the per-run, per-judge and
per-generator grouping is done here in Python over those few result sets.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.db.models import Prefetch, Q

from analysis.hardness import h2r
from analysis.models import (
    Assessor,
    BertScore,
    Collection,
    Generation,
    HardnessAnalysis,
    HardnessLabel,
    Judgment,
    PairwisePreference,
    Query,
    Reason,
    ReasonProposal,
    RunRow,
)

TOP_K = 10
TASK_ORDER = {"h2r": 0, "h2g": 1, "h2j": 2}
JUDGED_ONLY = "ndcg_cut_10_judged"
ALL_ROWS = "ndcg_cut_10"
# What a reasoning model writes before its answer; shown folded on the page.
REASONING_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)


# --- one query ---------------------------------------------------------------------
@dataclass
class RankedPassage:
    rank: int
    docid: str
    score: float
    text: str | None
    official: int | None
    llm: list[int | None]  # one grade per judge, in QueryEvidence.judges order


@dataclass
class RunEvidence:
    system: str
    ndcg_judged: float | None
    ndcg_all: float | None
    top: list[RankedPassage]
    retrieved: int


@dataclass
class ScoredReference:
    docid: str
    f1: float
    grade: int | None
    model_id: str


@dataclass
class GenerationEvidence:
    generator: str
    setting: str
    text: str | None
    raw: str | None
    reasoning: list[str]
    references: list[ScoredReference]

    @property
    def mean_f1(self) -> float | None:
        return sum(r.f1 for r in self.references) / len(self.references) if self.references else None

    @property
    def best_f1(self) -> float | None:
        return max((r.f1 for r in self.references), default=None)


@dataclass
class Disagreement:
    docid: str
    text: str | None
    official: int
    llm: int
    difference: int


@dataclass
class JudgeEvidence:
    judge: str
    scale: str
    pairs: int
    disagreements: list[Disagreement]


@dataclass
class QueryEvidence:
    query: Query
    labels: list[HardnessLabel]
    judges: list[Assessor]
    runs: list[RunEvidence]
    generations: list[GenerationEvidence]
    h2j: list[JudgeEvidence]
    reason_lists: list[ReasonProposal]
    preferences: list[PairwisePreference]
    human_grades: list[Judgment]
    official_count: int = 0
    generated_preferred: int = 0
    notes: list[str] = field(default_factory=list)


def _rank_order(rows: list[RunRow]) -> list[RunRow]:
    """trec_eval's order: score descending, ties by docid descending (two stable sorts)."""
    by_docid = sorted(rows, key=lambda r: r.passage.docid, reverse=True)
    return sorted(by_docid, key=lambda r: -r.score)


def query_evidence(*, query: Query) -> QueryEvidence:
    """Everything HardQ holds about one query, grouped for the query page.

    Queries (9, whatever the number of runs, judges and generators; 11 when the reasons
    have human verdicts): hardness labels with their analyses; run rows with passages
    and systems; judgments with passages and assessors (official, LLM and human grades
    in one read); generations with their generators; BERTScore rows with generators and
    passages; reason lists with their assessors; their reasons with categories; the
    human verdicts on them (then their assignments with annotators, and their
    categories); pairwise preferences.
    """
    labels = sorted(
        HardnessLabel.objects.filter(query=query).select_related("analysis"),
        key=lambda lab: (TASK_ORDER.get(lab.analysis.task, 9), lab.analysis.subject, lab.analysis.variant,
                         -lab.analysis.id),
    )
    run_rows = list(
        RunRow.objects.filter(query=query).select_related("run__system", "passage").only(
            "rank", "score", "run__id", "run__system__name", "passage__docid", "passage__text"
        )
    )
    judgments = list(
        Judgment.objects.filter(query=query).select_related("assessor__user", "passage").order_by("passage__docid")
    )
    generations = list(Generation.objects.filter(query=query).select_related("generator"))
    bertscores = list(
        BertScore.objects.filter(query=query).select_related("generator", "passage").only(
            "setting", "f1", "model_id", "origin", "position", "generator__name", "passage__docid"
        )
    )
    # The verdicts belong to the annotation app, which imports this one: they are read
    # through the reverse relation of Reason (no import of annotation here).
    reason_lists = list(
        ReasonProposal.objects.filter(query=query).select_related("assessor").prefetch_related(
            Prefetch("reasons", queryset=Reason.objects.select_related("category").order_by("position")),
            "reasons__verdicts__assignment__user",
            "reasons__verdicts__category",
        )
    )
    reason_lists.sort(key=lambda p: (TASK_ORDER.get(p.task, 9), p.assessor.name, p.label))
    preferences = list(
        PairwisePreference.objects.filter(query=query)
        .select_related("assessor", "passage", "generation__generator")
        .order_by("assessor__name", "passage__docid")
    )

    official = {j.passage.docid: j.grade for j in judgments
                if j.assessor.kind == Assessor.OFFICIAL and j.valid and j.grade is not None}
    judges = sorted({j.assessor.id: j.assessor for j in judgments if j.assessor.kind == Assessor.LLM}.values(),
                    key=lambda a: a.name)
    llm_grade: dict[tuple[int, str], int | None] = {
        (j.assessor_id, j.passage.docid): (j.grade if j.valid else None)
        for j in judgments if j.assessor.kind == Assessor.LLM
    }
    qrels = pd.DataFrame([(query.qid, d, g) for d, g in official.items()], columns=["qid", "docid", "grade"])
    qrels["grade"] = qrels["grade"].astype("int64")

    by_run: dict[str, list[RunRow]] = defaultdict(list)
    for r in run_rows:
        by_run[r.run.system.name].append(r)
    runs = []
    for system in sorted(by_run):
        rows = by_run[system]
        ordered = _rank_order(rows)
        top = [RankedPassage(i + 1, r.passage.docid, r.score, r.passage.text, official.get(r.passage.docid),
                             [llm_grade.get((a.id, r.passage.docid)) for a in judges])
               for i, r in enumerate(ordered[:TOP_K])]
        runs.append(RunEvidence(system, _ndcg_of(rows, query.qid, qrels, JUDGED_ONLY),
                                _ndcg_of(rows, query.qid, qrels, ALL_ROWS), top, len(rows)))

    gens_by_key = {(g.generator.name, g.setting): g for g in generations}
    scores_by_key: dict[tuple[str, str], list[BertScore]] = defaultdict(list)
    for b in bertscores:
        scores_by_key[(b.generator.name, b.setting)].append(b)
    generation_evidence = []
    for key in sorted(set(gens_by_key) | set(scores_by_key)):
        g = gens_by_key.get(key)
        refs = sorted(scores_by_key.get(key, []), key=lambda b: (b.model_id, -b.f1, b.passage.docid))
        generation_evidence.append(GenerationEvidence(
            generator=key[0], setting=key[1], text=g.text if g else None, raw=g.response if g else None,
            reasoning=[m.group(0) for m in REASONING_BLOCK.finditer(g.response)] if g else [],
            references=[ScoredReference(b.passage.docid, b.f1, official.get(b.passage.docid), b.model_id)
                        for b in refs],
        ))

    text_of = {j.passage.docid: j.passage.text for j in judgments}
    h2j = []
    for a in judges:
        pairs, differing = 0, []
        for docid, human in official.items():
            grade = llm_grade.get((a.id, docid))
            if grade is None:
                continue
            pairs += 1
            reference = int(human > 1) if a.scale == Assessor.BINARY else human
            if grade != reference:
                differing.append(Disagreement(docid, text_of.get(docid), reference, grade, abs(grade - reference)))
        differing.sort(key=lambda d: (-d.difference, d.docid))
        h2j.append(JudgeEvidence(a.name, a.scale, pairs, differing))

    for p in preferences:
        p.official_grade = official.get(p.passage.docid)
    human_grades = [j for j in judgments if j.assessor.kind == Assessor.HUMAN]
    return QueryEvidence(query=query, labels=labels, judges=judges, runs=runs, generations=generation_evidence,
                         h2j=h2j, reason_lists=reason_lists, preferences=preferences, human_grades=human_grades,
                         official_count=len(official),
                         generated_preferred=sum(p.label == 2 for p in preferences))


def _ndcg_of(rows: list[RunRow], qid: str, qrels: pd.DataFrame, measure: str) -> float | None:
    """nDCG@10 of one query's run rows by pytrec_eval (judged-only or all rows)."""
    if qrels.empty or not rows:
        return None
    run = pd.DataFrame([(qid, r.passage.docid, r.score) for r in rows], columns=["qid", "docid", "score"])
    values, _, _ = h2r.per_query_measure(run.astype({"score": "float64"}), qrels, measure=measure)
    return values.get(qid)


def query_get(*, collection: Collection, qid: str) -> Query:
    """One query of a collection (raises Query.DoesNotExist)."""
    return Query.objects.get(collection=collection, qid=qid)


# --- the query list as a research table ---------------------------------------------
@dataclass
class QueryRow:
    query: Query
    cells: list[HardnessLabel | None]  # one per column analysis

    analyses: list[HardnessAnalysis] = field(default_factory=list)

    @property
    def pairs(self) -> list[tuple[HardnessLabel | None, HardnessAnalysis]]:
        """(label, analysis) per column, for the template."""
        return list(zip(self.cells, self.analyses))

    def value(self, position: int) -> float | None:
        cell = self.cells[position]
        return None if cell is None else cell.value

    def hard_in(self, positions: list[int]) -> list[bool]:
        return [(cell := self.cells[i]) is not None and cell.hard for i in positions]


def table_analyses(*, collection: Collection) -> list[HardnessAnalysis]:
    """The columns of the query table: the latest finished analysis per (task, subject,
    variant), in task order H2R, H2G, H2J."""
    latest: dict[tuple[str, str, str], HardnessAnalysis] = {}
    for a in HardnessAnalysis.objects.filter(collection=collection, status=HardnessAnalysis.DONE).order_by(
        "-created_at", "-id"
    ):
        latest.setdefault((a.task, a.subject, a.variant), a)
    return sorted(latest.values(), key=lambda a: (TASK_ORDER.get(a.task, 9), a.subject, a.variant))


def query_table(
    *, collection: Collection, analyses: list[HardnessAnalysis], search: str = "",
    hard_in: list[int] | None = None, mode: str = "any", sort: str = "qid", descending: bool = False,
) -> list[QueryRow]:
    """Every query of the collection with its label in each column analysis, filtered
    and sorted as asked.

    ``hard_in``: analysis ids; a query is kept when it is hard in any (``mode="any"``) or
    all (``mode="all"``) of them. ``sort``: ``qid``, ``text``, ``hard`` (number of hard
    flags) or ``a<ID>`` (the value in that analysis; missing values last).
    Queries: the queries, the labels of the column analyses.
    """
    queries = Query.objects.filter(collection=collection).only("id", "qid", "text")
    search = search.strip()
    if search:
        queries = queries.filter(Q(qid__icontains=search) | Q(text__icontains=search))
    queries = list(queries.order_by("qid"))
    position = {a.id: i for i, a in enumerate(analyses)}
    cells: dict[int, list[HardnessLabel | None]] = {q.id: [None] * len(analyses) for q in queries}
    for lab in HardnessLabel.objects.filter(analysis_id__in=list(position), query_id__in=list(cells)).only(
        "analysis_id", "query_id", "value", "hard", "status"
    ):
        cells[lab.query_id][position[lab.analysis_id]] = lab
    rows = [QueryRow(q, cells[q.id], analyses) for q in queries]
    chosen = [position[i] for i in (hard_in or []) if i in position]
    if chosen:
        test = all if mode == "all" else any
        rows = [r for r in rows if test(r.hard_in(chosen))]
    if sort.startswith("a") and sort[1:].isdigit() and int(sort[1:]) in position:
        col = position[int(sort[1:])]
        present = [r for r in rows if r.value(col) is not None]
        missing = [r for r in rows if r.value(col) is None]
        present.sort(key=lambda r: (r.value(col) or 0.0, r.query.qid), reverse=descending)
        return present + missing
    if sort == "hard":
        rows.sort(key=lambda r: (sum(bool(c and c.hard) for c in r.cells), r.query.qid), reverse=descending)
    elif sort == "text":
        rows.sort(key=lambda r: (r.query.text.lower(), r.query.qid), reverse=descending)
    elif descending:
        rows.reverse()
    return rows


def query_table_csv_rows(*, analyses: list[HardnessAnalysis], rows: list[QueryRow]) -> list[list[Any]]:
    """The query table as CSV rows: qid, text, then value and hard per analysis (full precision)."""
    from analysis.hardness_selectors import set_name

    header: list[Any] = ["qid", "query"]
    for a in analyses:
        header += [f"{set_name(a)} value", f"{set_name(a)} hard"]
    out = [header]
    for r in rows:
        line: list[Any] = [r.query.qid, r.query.text]
        for c in r.cells:
            line += ["" if c is None or c.value is None else c.value, "" if c is None else int(c.hard)]
        out.append(line)
    return out
