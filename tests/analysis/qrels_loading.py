"""Test helper: load TREC qrels files into the Judgment table with bulk_create.

Used until (and independently of) the project's import command, so the agreement
tests check the statistics against files read separately by the tests themselves.
"""
from __future__ import annotations

from pathlib import Path

from analysis.models import Assessor, Collection, Judgment, Passage, Query


def read_qrels(path: Path) -> dict[tuple[str, str], int]:
    """``qid <any> docid grade`` lines as {(qid, docid): grade}."""
    out: dict[tuple[str, str], int] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            out[(parts[0], parts[2])] = int(parts[3])
    return out


def load_qrels(
    path: Path, *, collection: str, assessor: str, kind: str = Assessor.LLM, scale: str = Assessor.GRADED
) -> Assessor:
    """Create the collection's queries/passages as needed and one judgment per qrels line."""
    coll, _ = Collection.objects.get_or_create(name=collection)
    labels = read_qrels(path)
    qids = sorted({q for q, _ in labels})
    docids = sorted({d for _, d in labels})
    Query.objects.bulk_create([Query(collection=coll, qid=q) for q in qids], ignore_conflicts=True)
    Passage.objects.bulk_create([Passage(collection=coll, docid=d) for d in docids], ignore_conflicts=True)
    queries = dict(Query.objects.filter(collection=coll).values_list("qid", "id"))
    passages = dict(Passage.objects.filter(collection=coll).values_list("docid", "id"))
    who, _ = Assessor.objects.get_or_create(name=assessor, defaults={"kind": kind, "scale": scale})
    Judgment.objects.bulk_create(
        [
            Judgment(query_id=queries[q], passage_id=passages[d], assessor=who, grade=g)
            for (q, d), g in labels.items()
        ],
        batch_size=5000,
    )
    return who
