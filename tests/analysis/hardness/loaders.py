"""Small test factories: the raw paper-data files bulk-created as model rows.

Used until the import commands exist; they parse the files independently of the code
under test (plain Python splitting) so they double as an oracle of the file formats.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from django.utils.timezone import now

from analysis.models import Assessor, Collection, Generation, Judgment, Passage, Query, Run, RunRow, System


def _copy(model, fields: list[str], rows) -> None:
    """Bulk insert with PostgreSQL COPY: tens of thousands of rows in a second."""
    from django.db import connection

    table = model._meta.db_table
    columns = ", ".join(model._meta.get_field(f).column for f in fields)
    with connection.cursor() as cur:
        with cur.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _passages(collection: Collection, docids: set[str], texts: dict[str, str] | None = None) -> dict[str, int]:
    existing = dict(Passage.objects.filter(collection=collection).values_list("docid", "id"))
    _copy(Passage, ["collection", "docid", "text"],
          ((collection.id, d, (texts or {}).get(d)) for d in docids if d not in existing))
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
    _copy(Judgment, ["query", "passage", "assessor", "grade", "valid", "raw_response", "updated_at"],
          ((queries[r[0]], passages[r[2]], a.id, int(r[3]), True, "", now()) for r in rows if r[0] in queries))
    return a


def load_run(collection: Collection, path: Path, system: str) -> Run:
    sys_, _ = System.objects.get_or_create(name=system)
    run = Run.objects.create(system=sys_, collection=collection)
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    queries = dict(Query.objects.filter(collection=collection).values_list("qid", "id"))
    rows = [r for r in rows if r[0] in queries]
    passages = _passages(collection, {r[2] for r in rows})
    _copy(RunRow, ["run", "query", "passage", "rank", "score"],
          ((run.id, queries[r[0]], passages[r[2]], int(r[3]), float(r[4])) for r in rows))
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


def delete_collection(collection: Collection) -> None:
    """Delete a loaded collection fast: raw deletes of the big tables, then the rest."""
    from django.db import connection

    with connection.cursor() as cur:
        for model, column in [(RunRow, "run_id IN (SELECT id FROM analysis_run WHERE collection_id = %s)"),
                              (Judgment, "query_id IN (SELECT id FROM analysis_query WHERE collection_id = %s)")]:
            cur.execute(f"DELETE FROM {model._meta.db_table} WHERE {column}", [collection.id])
        cur.execute("DELETE FROM analysis_passage WHERE collection_id = %s AND id NOT IN "
                    "(SELECT passage_id FROM analysis_bertscore UNION SELECT passage_id FROM analysis_pairwisepreference)",
                    [collection.id])
    collection.delete()
