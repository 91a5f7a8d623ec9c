"""Valid pipeline files of any size, for the memory test and bench/import_memory_bench.py.

Each writer streams its lines to disk until the file holds at least ``size`` bytes and
returns the path; the rows reference the qids of ``queries_file`` (import it first).
Texts are varied (a seeded generator), so no layer can profit from repeated strings.
"""
from __future__ import annotations

import json
import random
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

WORDS = ("retrieval passage query relevance judged hard system ranking score model assessor grade "
         "collection corpus neural lexical dense sparse evaluation pool depth").split()


def qids(n: int) -> list[str]:
    return [str(100000 + i) for i in range(n)]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(words))


def write_queries(path: Path, n: int) -> Path:
    rng = random.Random(1)
    with path.open("w", encoding="utf-8") as out:
        for qid in qids(n):
            out.write(f"{qid}\t{_text(rng, 8)}\n")
    return path


def _write(path: Path, size: int, lines: Iterator[str]) -> Path:
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(line)
            written += len(line)
            if written >= size:
                break
    return path


def _pairs(n_queries: int) -> Iterator[tuple[str, str, int]]:
    """(qid, docid, index) with every pair distinct, spread over all queries, which share
    their docids (as a run's queries share a corpus): the file's size is rows, not passages."""
    ids = qids(n_queries)
    index = 0
    while True:
        yield ids[index % n_queries], f"d{7000000 + index // n_queries}", index
        index += 1


def queries_lines(n_queries: int) -> Iterator[str]:
    rng = random.Random(2)
    index = 0
    while True:
        yield f"q{index}\t{_text(rng, 10)}\n"
        index += 1


def passages_lines(n_queries: int) -> Iterator[str]:
    rng = random.Random(3)
    index = 0
    while True:
        yield f"p{index}\t{_text(rng, 50)}\n"
        index += 1


def qrels_lines(n_queries: int) -> Iterator[str]:
    for qid, docid, index in _pairs(n_queries):
        yield f"{qid} 0 {docid} {index % 4}\n"


def probabilities_lines(n_queries: int) -> Iterator[str]:
    """LARA's CSV of grade probabilities for the pairs of ``qrels_lines``, in its order
    (the annotation is the qrels' grade); probabilities in twentieths, so they sum to 1."""
    rng = random.Random(9)
    yield "topic_id,doc_id,annotation,prob_0,prob_1,prob_2,prob_3\n"
    for qid, docid, index in _pairs(n_queries):
        cuts = sorted(rng.randrange(21) for _ in range(3))
        twentieths = [cuts[0], cuts[1] - cuts[0], cuts[2] - cuts[1], 20 - cuts[2]]
        yield f"{qid},{docid},{index % 4}," + ",".join(str(t / 20) for t in twentieths) + "\n"


def write_probabilities(path: Path, qrels: Path, n_queries: int) -> Path:
    """The probabilities CSV of every pair of ``qrels`` (a ``write_kind("qrels", ...)`` file)."""
    with qrels.open("rb") as lines:
        n_pairs = sum(1 for _ in lines)
    with path.open("w", encoding="utf-8") as out:
        for number, line in enumerate(probabilities_lines(n_queries)):
            if number > n_pairs:
                break
            out.write(line)
    return path


def run_lines(n_queries: int) -> Iterator[str]:
    rng = random.Random(4)
    for qid, docid, index in _pairs(n_queries):
        yield f"{qid} Q0 {docid} {index // n_queries + 1} {rng.uniform(0, 30):.6f} bench_run\n"


def generations_lines(n_queries: int) -> Iterator[str]:
    rng = random.Random(5)
    for qid in qids(n_queries):
        response = "<think>" + _text(rng, 60) + "</think>" + _text(rng, 120)
        yield json.dumps({"query_id": qid, "query": _text(rng, 6), "response": response}) + "\n"


def bertscore_lines(n_queries: int) -> Iterator[str]:
    rng = random.Random(6)
    for number, qid in enumerate(qids(n_queries)):
        dids = [f"d{7000000 + number * 40 + i}" for i in range(40)]
        scores = {key: [round(rng.random(), 6) for _ in dids] for key in ("precision", "recall", "f1")}
        yield json.dumps({"qid": qid, "scores": {**scores, "hashcode": "roberta-large_L17"},
                          "main_performance": _text(rng, 20), "dids": dids}) + "\n"


def pairwise_lines(n_queries: int) -> Iterator[str]:
    for qid, docid, index in _pairs(n_queries):
        yield json.dumps({"qid": qid, "did": docid, "label": 1 + index % 2}) + "\n"


def reasons_lines(n_queries: int) -> Iterator[str]:
    rng = random.Random(7)
    for qid, _, index in _pairs(n_queries):
        reasons = [_text(rng, 6) for _ in range(3)]
        yield f"bench_sys{index // n_queries}\t{qid}\t{_text(rng, 6)}\t{reasons!r}\n"


def hard_queries_lines(n_queries: int) -> Iterator[str]:
    rng = random.Random(8)
    yield "query,NDCG@10\n"
    for qid in qids(n_queries):
        yield f"{qid},{rng.random():.6f}\n"


LINES: dict[str, Callable[[int], Iterator[str]]] = {
    "queries": queries_lines,
    "passages": passages_lines,
    "qrels": qrels_lines,
    "run": run_lines,
    "generations": generations_lines,
    "bertscore": bertscore_lines,
    "pairwise": pairwise_lines,
    "reasons": reasons_lines,
    "hard_queries": hard_queries_lines,
}

# The options each kind's command needs (besides the file and --collection).
OPTIONS: dict[str, dict[str, str]] = {
    "queries": {},
    "passages": {},
    "qrels": {},
    "run": {"system": "bench_run"},
    "generations": {"generator": "qwen3_8b"},
    "bertscore": {"generator": "qwen3_8b"},
    "pairwise": {"assessor": "pairwise_llm"},
    "reasons": {"task": "h2r", "assessor": "qwen3_8b"},
    "hard_queries": {"task": "h2r", "subject": "bm25"},
}


def write_kind(kind: str, path: Path, size: int, n_queries: int) -> Path:
    """A valid ``kind`` file of at least ``size`` bytes (or all ``n_queries`` rows, when a
    kind has one row per query and they run out first)."""
    return _write(path, size, LINES[kind](n_queries))


def write_bundle(path: Path, directory: Path, size: int, n_queries: int) -> Path:
    """A zip of a dl19 bundle: its queries, and a qrels and a run of about ``size`` bytes each."""
    directory.mkdir(parents=True, exist_ok=True)
    members = {
        "test2019-queries-filterd.tsv": write_queries(directory / "queries.tsv", n_queries),
        "qrels.dl19-passage.txt": write_kind("qrels", directory / "qrels.txt", size, n_queries),
        "run.msmarco-v1-passage.bm25-default.dl19.txt": write_kind("run", directory / "run.txt", size, n_queries),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, member in members.items():
            archive.write(member, f"dl19/{name}")
    for member in members.values():
        member.unlink()
    return path
