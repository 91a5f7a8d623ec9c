"""Small test factories: the raw paper-data files bulk-created as model rows.

Used until the import commands exist; they parse the files independently of the code
under test (plain Python splitting) so they double as an oracle of the file formats.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from analysis.models import Assessor, Collection, Generation, Judgment, Passage, Query, Run, RunRow, System


def _passages(collection: Collection, docids: set[str], texts: dict[str, str] | None = None) -> dict[str, int]:
    existing = dict(Passage.objects.filter(collection=collection).values_list("docid", "id"))
    new = [Passage(collection=collection, docid=d, text=(texts or {}).get(d)) for d in docids if d not in existing]
    Passage.objects.bulk_create(new, batch_size=5000)
    return dict(Passage.objects.filter(collection=collection).values_list("docid", "id"))


def load_collection(data: Path, name: str) -> Collection:
    """Collection and its queries from test20NN-queries-filterd.tsv."""
    collection, _ = Collection.objects.get_or_create(name=name)
    tsv = next(data.glob("test20*-queries-filterd.tsv"))
    rows = [line.split("\t", 1) for line in tsv.read_text().splitlines() if line.strip()]
    Query.objects.bulk_create([Query(collection=collection, qid=q, text=t) for q, t in rows], ignore_conflicts=True)
    return collection


def load_qrels(collection: Collection, path: Path, assessor: str = "official", kind: str = "official",
               scale: str = "graded") -> Assessor:
    a, _ = Assessor.objects.get_or_create(name=assessor, defaults={"kind": kind, "scale": scale})
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    queries = dict(Query.objects.filter(collection=collection).values_list("qid", "id"))
    passages = _passages(collection, {r[2] for r in rows})
    Judgment.objects.bulk_create(
        [Judgment(query_id=queries[r[0]], passage_id=passages[r[2]], assessor=a, grade=int(r[3]))
         for r in rows if r[0] in queries], batch_size=5000,
    )
    return a


def load_run(collection: Collection, path: Path, system: str) -> Run:
    sys_, _ = System.objects.get_or_create(name=system)
    run = Run.objects.create(system=sys_, collection=collection)
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    queries = dict(Query.objects.filter(collection=collection).values_list("qid", "id"))
    rows = [r for r in rows if r[0] in queries]
    passages = _passages(collection, {r[2] for r in rows})
    RunRow.objects.bulk_create(
        [RunRow(run=run, query_id=queries[r[0]], passage_id=passages[r[2]], rank=int(r[3]), score=float(r[4]))
         for r in rows], batch_size=5000,
    )
    return run


def load_passage_texts(collection: Collection, path: Path, docids: set[str]) -> None:
    texts = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            docid, _, text = line.rstrip("\n").partition("\t")
            if docid in docids:
                texts[docid] = text
    for p in Passage.objects.filter(collection=collection, docid__in=list(texts)):
        p.text = texts[p.docid]
        p.save(update_fields=["text"])


def load_generations(collection: Collection, path: Path, generator: str, qids: set[str] | None = None) -> Assessor:
    gen, _ = Assessor.objects.get_or_create(name=generator, defaults={"kind": "llm"})
    queries = dict(Query.objects.filter(collection=collection).values_list("qid", "id"))
    objs = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        qid = str(d["query_id"])
        if qid in queries and (qids is None or qid in qids):
            text = re.sub(r"<think>.*?</think>", "", d["response"], flags=re.S).strip()
            objs.append(Generation(query_id=queries[qid], generator=gen, response=d["response"], text=text, extracted_answer=d.get("extracted_answer")))
    Generation.objects.bulk_create(objs)
    return gen
