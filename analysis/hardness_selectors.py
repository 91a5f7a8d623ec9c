"""Reads for the hardness analyzers: the ORM turned into the frames the pure code takes."""
from __future__ import annotations

from collections import defaultdict

import pandas as pd
from django.db.models import Avg, Count, Q, QuerySet

from analysis.models import (
    Assessor,
    BertScore,
    Collection,
    Generation,
    HardnessAnalysis,
    HardnessLabel,
    Judgment,
    Run,
    RunRow,
)

OFFICIAL = "official"


def qrels_frame(*, collection: Collection, assessor: str = OFFICIAL) -> pd.DataFrame:
    """Valid judgments of one assessor on a collection as columns qid, docid, grade."""
    rows = Judgment.objects.filter(
        query__collection=collection, assessor__name=assessor, valid=True, grade__isnull=False
    ).values_list("query__qid", "passage__docid", "grade")
    df = pd.DataFrame(list(rows), columns=["qid", "docid", "grade"])
    df["grade"] = df["grade"].astype("int64")
    return df


def judgments_exist(*, collection: Collection, assessor: str = OFFICIAL) -> bool:
    """Whether the assessor has a valid graded judgment on the collection (what ``qrels_frame`` reads)."""
    return Judgment.objects.filter(
        query__collection=collection, assessor__name=assessor, valid=True, grade__isnull=False
    ).exists()


def run_get(*, collection: Collection, system: str) -> Run:
    """The imported run of ``system`` on the collection (raises Run.DoesNotExist)."""
    return Run.objects.select_related("system").get(collection=collection, system__name=system)


def run_frame(*, run: Run) -> pd.DataFrame:
    """An imported run as columns qid, docid, score."""
    rows = RunRow.objects.filter(run=run).values_list("query__qid", "passage__docid", "score")
    return pd.DataFrame(list(rows), columns=["qid", "docid", "score"]).astype({"score": "float64"})


def assessor_get(*, name: str) -> Assessor:
    """An assessor (judge or generator) by name (raises Assessor.DoesNotExist)."""
    return Assessor.objects.get(name=name)


def h2g_pairs(
    *, collection: Collection, generator: Assessor, setting: str, min_grade: int, assessor: str = OFFICIAL
) -> list[dict]:
    """Every (generation, reference passage) pair to score.

    The references are the passages with text judged >= ``min_grade`` by ``assessor``
    (the official qrels); one dict per pair with the ids and both texts.
    """
    gens = {
        g.query_id: g
        for g in Generation.objects.filter(query__collection=collection, generator=generator, setting=setting)
    }
    refs = (
        Judgment.objects.filter(
            query__collection=collection,
            assessor__name=assessor,
            grade__gte=min_grade,
            valid=True,
            query_id__in=list(gens),
            passage__text__isnull=False,
        )
        .select_related("passage", "query")
        .order_by("query__qid", "passage__docid")
    )
    pairs = []
    for j in refs:
        g = gens[j.query_id]
        pairs.append({
            "qid": j.query.qid, "query_id": j.query_id, "generation_id": g.id, "candidate": g.text,
            "passage_id": j.passage_id, "docid": j.passage.docid, "reference": j.passage.text,
        })
    return pairs


def bertscore_frame(
    *, collection: Collection, generator: Assessor, setting: str, origin: str, model_id: str | None = None,
    passage_ids: dict[int, set[int]] | None = None,
) -> pd.DataFrame:
    """Stored BERTScore rows as columns qid, docid, f1 (optionally one model id only).

    ``passage_ids`` ({query_id: passage ids}) restricts computed scores to the pairs of
    the current analysis, since other analyses may have used another min grade.
    """
    qs = BertScore.objects.filter(query__collection=collection, generator=generator, setting=setting, origin=origin)
    if model_id is not None:
        qs = qs.filter(model_id=model_id)
    rows = qs.values_list("query_id", "passage_id", "query__qid", "passage__docid", "f1")
    keep = [
        (qid, docid, f1)
        for query_id, passage_id, qid, docid, f1 in rows
        if passage_ids is None or passage_id in passage_ids.get(query_id, ())
    ]
    return pd.DataFrame(keep, columns=["qid", "docid", "f1"]).astype({"f1": "float64"})


def bertscores_exist(*, collection: Collection, generator: Assessor, setting: str, origin: str) -> bool:
    """Whether ``bertscore_frame`` would find rows for the generator and setting."""
    return BertScore.objects.filter(
        query__collection=collection, generator=generator, setting=setting, origin=origin
    ).exists()


def analyses_for_collection(*, collection: Collection) -> QuerySet[HardnessAnalysis]:
    """Every analysis of a collection, newest first, with its hard count and hard mean.

    One query: the counts are aggregates over the labels.
    """
    return (
        HardnessAnalysis.objects.filter(collection=collection)
        .annotate(
            hard_count=Count("labels", filter=Q(labels__hard=True)),
            hard_mean=Avg("labels__value", filter=Q(labels__hard=True)),
            n_labels=Count("labels"),
        )
        .order_by("task", "subject", "variant", "-created_at")
    )


def collections_with_analyses() -> list[tuple[Collection, list[HardnessAnalysis]]]:
    """Each collection with its analyses (two queries whatever the number)."""
    by_collection: dict[int, list[HardnessAnalysis]] = defaultdict(list)
    analyses = (
        HardnessAnalysis.objects.select_related("collection")
        .annotate(
            hard_count=Count("labels", filter=Q(labels__hard=True)),
            hard_mean=Avg("labels__value", filter=Q(labels__hard=True)),
        )
        .order_by("task", "subject", "variant", "-created_at")
    )
    for a in analyses:
        by_collection[a.collection_id].append(a)
    for group in by_collection.values():
        group.sort(key=lambda a: TASK_ORDER.get(a.task, 3))  # H2R, H2G, H2J as in the paper (stable)
    return [(c, by_collection.get(c.id, [])) for c in Collection.objects.order_by("name")]


def analysis_get(*, analysis_id: int) -> HardnessAnalysis:
    """One analysis with its collection (raises HardnessAnalysis.DoesNotExist)."""
    return HardnessAnalysis.objects.select_related("collection").get(pk=analysis_id)


def analysis_labels(*, analysis: HardnessAnalysis) -> list[HardnessLabel]:
    """The analysis's labels with their queries, sorted by value (missing values last)."""
    labels = list(HardnessLabel.objects.filter(analysis=analysis).select_related("query"))
    reverse = analysis.task == "h2j"
    present = sorted((lab for lab in labels if lab.value is not None), key=lambda lab: (lab.value, lab.query.qid), reverse=reverse)
    return present + sorted((lab for lab in labels if lab.value is None), key=lambda lab: lab.query.qid)


def labels_reversed(labels: list[HardnessLabel]) -> list[HardnessLabel]:
    """Labels in the other value order, the queries without a value still last."""
    present = [lab for lab in labels if lab.value is not None]
    return present[::-1] + [lab for lab in labels if lab.value is None]


def set_name(analysis: HardnessAnalysis) -> str:
    """How an analysis's hard set is named on the overlap page, e.g. ``H2J qwen3 (graded)``."""
    name = f"{analysis.task.upper()} {analysis.subject}"
    return f"{name} ({analysis.variant})" if analysis.variant else name


def latest_hard_sets(*, collection: Collection) -> dict[str, set[str]]:
    """Hard sets of the latest finished analysis per (task, subject, variant): two queries."""
    latest: dict[tuple[str, str, str], HardnessAnalysis] = {}
    for a in HardnessAnalysis.objects.filter(collection=collection, status=HardnessAnalysis.DONE).order_by(
        "-created_at", "-id"
    ):
        latest.setdefault((a.task, a.subject, a.variant), a)
    order = sorted(latest.values(), key=lambda a: ({"h2r": 0, "h2g": 1, "h2j": 2}.get(a.task, 3), a.subject, a.variant))
    sets: dict[str, set[str]] = {set_name(a): set() for a in order}
    names = {a.id: set_name(a) for a in order}
    for analysis_id, qid in HardnessLabel.objects.filter(analysis_id__in=list(names), hard=True).values_list(
        "analysis_id", "query__qid"
    ):
        sets[names[analysis_id]].add(qid)
    return sets


def overlap_choices(*, collection: Collection) -> list[HardnessAnalysis]:
    """The finished analyses of a collection that can be overlapped, in task order
    (H2R, H2G, H2J), then subject, variant, newest first; with their hard counts. One query."""
    analyses = list(
        HardnessAnalysis.objects.filter(collection=collection, status=HardnessAnalysis.DONE)
        .annotate(hard_count=Count("labels", filter=Q(labels__hard=True)))
        .order_by("task", "subject", "variant", "-created_at", "-id")
    )
    return sorted(analyses, key=lambda a: TASK_ORDER.get(a.task, 3))


TASK_ORDER = {"h2r": 0, "h2g": 1, "h2j": 2}


def default_overlap(analyses: list[HardnessAnalysis]) -> list[HardnessAnalysis]:
    """One analysis per task, as the paper's figure (H2R, H2G, H2J): for each task the
    newest analysis of its first subject and variant in name order."""
    chosen: dict[str, HardnessAnalysis] = {}
    for a in analyses:  # ordered by task, subject, variant, newest first
        chosen.setdefault(a.task, a)
    return sorted(chosen.values(), key=lambda a: TASK_ORDER.get(a.task, 3))


def hard_sets(*, analyses: list[HardnessAnalysis]) -> dict[str, set[str]]:
    """The hard set of each analysis, named by ``set_name`` (with ``#id`` when two
    analyses would share a name). One query."""
    names: dict[int, str] = {}
    taken: dict[str, int] = {}
    for a in analyses:
        taken[set_name(a)] = taken.get(set_name(a), 0) + 1
    for a in analyses:
        names[a.id] = set_name(a) + (f" #{a.id}" if taken[set_name(a)] > 1 else "")
    sets: dict[str, set[str]] = {names[a.id]: set() for a in analyses}
    for analysis_id, qid in HardnessLabel.objects.filter(analysis_id__in=list(names), hard=True).values_list(
        "analysis_id", "query__qid"
    ):
        sets[names[analysis_id]].add(qid)
    return sets


def parse_analysis_ids(values: list[str]) -> list[int] | None:
    """``?analyses=1,2,3`` (or repeated) as ids; None when absent; ValueError on a non-id."""
    parts = [p.strip() for v in values for p in v.split(",") if p.strip()]
    if not values:
        return None
    ids = []
    for p in parts:
        if not p.isdigit() or len(p) > 12:
            raise ValueError(f"{p!r} is not an analysis id")
        if int(p) not in ids:
            ids.append(int(p))
    return ids


def overlap_selection(*, collection: Collection, ids: list[int] | None) -> tuple[list[HardnessAnalysis], list[HardnessAnalysis], list[int]]:
    """(every choice, the chosen analyses, the asked ids that are no finished analysis of
    the collection). ``ids=None``: the default, one per task."""
    choices = overlap_choices(collection=collection)
    if ids is None:
        return choices, default_overlap(choices), []
    by_id = {a.id: a for a in choices}
    return choices, [by_id[i] for i in ids if i in by_id], [i for i in ids if i not in by_id]


def paper_table_rows() -> list[dict]:
    """The latest finished analysis per (collection, task, subject, variant), for the paper's tables.

    Two queries: the analyses with their hard-query aggregates, newest first.
    """
    seen: set[tuple[str, str, str, str]] = set()
    rows = []
    analyses = (
        HardnessAnalysis.objects.filter(status=HardnessAnalysis.DONE)
        .select_related("collection")
        .annotate(
            hard_count=Count("labels", filter=Q(labels__hard=True)),
            hard_mean=Avg("labels__value", filter=Q(labels__hard=True)),
        )
        .order_by("-created_at", "-id")
    )
    for a in analyses:
        key = (a.collection.name, a.task, a.subject, a.variant)
        if key in seen:
            continue
        seen.add(key)
        rows.append({
            "collection": a.collection.name, "task": a.task, "subject": a.subject, "variant": a.variant,
            "measure": a.measure, "quantile": a.quantile, "threshold": a.threshold,
            "hard_mean": a.hard_mean, "hard_count": a.hard_count, "analysis_id": a.id,
        })
    order = {"h2r": 0, "h2g": 1, "h2j": 2}
    rows.sort(key=lambda r: (r["collection"], order.get(r["task"], 3), r["subject"], r["variant"]))
    return rows
