"""What a pipeline file is, from its name (the layout of the paper-data directories).

The scheme is ``NAMING`` below (``import_bundle --help`` prints it). ``<model>`` keeps
the file's spelling (``llama3.2_latest``, ``qwen3_8b``); the assessor's ``model``
field restores the Ollama tag (``llama3.2:latest``, ``qwen3:8b``). A judge's name
carries its scale because one model can judge on both scales and the scale belongs
to the assessor.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAMING = """\
file name                                     kind         assessor / system / generator
--------------------------------------------  -----------  ------------------------------------------
test20NN-queries*.tsv, *queries*.tsv          queries      -
qrels_text.dlNN                               passages     -
qrels.dlNN-passage.txt                        qrels        official (kind official, graded)
qrels.dlNN-passage_<model>_0123_0_1.txt       qrels        <model>-graded (kind llm, graded)
binary_<model>_dlNN.txt                       qrels        <model>-binary (kind llm, binary)
run.<corpus>.<system>.dlNN.txt                run          bm25 / unicoil / tas-b when the name holds
                                                           one of them, else the part between the
                                                           corpus and the collection
DLNN_D2Q_ZS_[generated_]<model>.json          generations  <model>, setting zero_shot
DLNN_all_reasons_expansion_<model>.json       generations  <model>, setting reason_expansion
dlNN_bert_score_<short>.json                  bertscore    the bundle's generator whose name starts
                                                           with <short> (llama3 -> llama3.2_latest),
                                                           setting zero_shot
bert_score_dlNN_reason_expansion_<short>.json bertscore    the same, setting reason_expansion
dlNN.json                                     pairwise     pairwise_llm (the file names no LLM)
original.reasons.<model>.<task>.all.txt       reasons      <model>, task h2r / h2g / h2j; rows of
                                                           collections not in the database skipped;
                                                           each row's label <collection>_<subject>_
                                                           <settings>_<quantile> names what the list
                                                           was proposed for (dl19_distilbert-tas-b_
                                                           bertscore_umbrela_0.3: tas-b, as for runs)
<task>_hard_to_*_dlNN.csv                     hard CSV     subject bm25, quantile 0.3 (the reference
                                                           script's BM25 run)
LLM assessors are kind llm with model = <model> with the tag's colon restored
(llama3.2_latest -> llama3.2:latest). Files whose name names another collection, and
unknown names, are listed as skipped.
"""

PAIRWISE_ASSESSOR = "pairwise_llm"
HARD_CSV_SUBJECT = "bm25"
HARD_CSV_QUANTILE = 0.3

# The order in which kinds are imported: each needs what the ones before created.
ORDER = ["queries", "passages", "qrels", "run", "generations", "bertscore", "pairwise", "reasons", "hard_queries"]

KNOWN_SYSTEMS = [("tas-b", "tas-b"), ("tasb", "tas-b"), ("unicoil", "unicoil"), ("bm25", "bm25")]


@dataclass
class Recognised:
    """A file of a bundle and how it will be imported."""

    path: Path
    kind: str | None  # None: not recognised, skipped
    options: dict[str, Any] = field(default_factory=dict)
    collection: str | None = None  # the collection the file name names, if any
    note: str = ""

    @property
    def who(self) -> str:
        """Assessor, system or generator, for the plan."""
        o = self.options
        for key in ("assessor", "system", "generator", "subject"):
            if key in o:
                extra = [f"{k}={o[k]}" for k in ("scale", "setting", "task", "quantile") if k in o]
                return o[key] + (f" ({', '.join(extra)})" if extra else "")
        return "-"


def model_from_name(name: str) -> str:
    """``llama3.2_latest`` -> ``llama3.2:latest``: file names replaced the tag's colon by ``_``."""
    base, sep, tag = name.rpartition("_")
    return f"{base}:{tag}" if sep and base else name


def system_name(middle: str) -> str:
    low = middle.lower()
    for needle, name in KNOWN_SYSTEMS:
        if needle in low:
            return name
    return middle.strip(".-_") or "run"


@dataclass(frozen=True)
class ReasonsLabel:
    """The parts of a reason list's pipeline label (``dl19_bm25_bertscore_umbrela_0.3``).

    ``subject`` is the system, generator or judge the list was proposed for, resolved
    to HardQ's names as run files are (``distilbert-tas-b`` -> ``tas-b``); a part the
    label does not hold is empty (``quantile`` None)."""

    raw: str
    collection: str = ""
    subject: str = ""
    settings: str = ""
    quantile: float | None = None


def reasons_label_parts(label: str) -> ReasonsLabel:
    """Split a pipeline label into collection, subject, settings and quantile.

    The reference pipeline writes ``<collection>_<subject>_<settings...>_<quantile>``;
    a label without a trailing number has no quantile, one of a single part only a
    collection."""
    parts = label.strip().split("_")
    if not parts or not parts[0]:
        return ReasonsLabel(raw=label)
    quantile: float | None = None
    if len(parts) > 2:
        try:
            quantile = float(parts[-1])
        except ValueError:
            quantile = None
        else:
            parts = parts[:-1]
    subject = system_name(parts[1]) if len(parts) > 1 and parts[1] else ""
    return ReasonsLabel(raw=label, collection=parts[0].lower(), subject=subject,
                        settings="_".join(parts[2:]), quantile=quantile)


def recognise(path: Path) -> Recognised:
    """Classify one file by its name; unknown names give ``kind=None``."""
    name = path.name
    low = name.lower()
    m = re.fullmatch(r"qrels\.(dl\d+)-passage\.txt", low)
    if m:
        return Recognised(path, "qrels", {"assessor": "official", "scale": "graded", "assessor_kind": "official"}, m[1])
    m = re.fullmatch(r"qrels\.(dl\d+)-passage_(.+)_0123_0_1\.txt", name, re.IGNORECASE)
    if m:
        model = m[2]
        return Recognised(path, "qrels", {"assessor": f"{model}-graded", "scale": "graded", "assessor_kind": "llm",
                                          "model": model}, m[1].lower())
    m = re.fullmatch(r"binary_(.+)_(dl\d+)\.txt", name, re.IGNORECASE)
    if m:
        model = m[1]
        return Recognised(path, "qrels", {"assessor": f"{model}-binary", "scale": "binary", "assessor_kind": "llm",
                                          "model": model}, m[2].lower())
    m = re.fullmatch(r"qrels_text\.(dl\d+)(?:\.tsv|\.txt)?", low)
    if m:
        return Recognised(path, "passages", {}, m[1])
    if low.endswith(".tsv") and "queries" in low:
        m = re.search(r"(?:test)?(20\d\d)", low)
        return Recognised(path, "queries", {}, f"dl{m[1][2:]}" if m else None)
    m = re.fullmatch(r"run\.(.+?)[.-](dl\d+)\.txt", low)
    if m:
        middle = re.sub(r"^msmarco-v\d-passage", "", m[1])
        return Recognised(path, "run", {"system": system_name(middle)}, m[2])
    m = re.fullmatch(r"(dl\d+)_d2q_zs_(?:generated_)?(.+)\.json", name, re.IGNORECASE)
    if m:
        return Recognised(path, "generations", {"generator": m[2], "setting": "zero_shot"}, m[1].lower())
    m = re.fullmatch(r"(dl\d+)_all_reasons_expansion_(.+)\.json", name, re.IGNORECASE)
    if m:
        return Recognised(path, "generations", {"generator": m[2], "setting": "reason_expansion"}, m[1].lower())
    m = re.fullmatch(r"(dl\d+)_bert_score_(.+)\.json", name, re.IGNORECASE)
    if m:
        return Recognised(path, "bertscore", {"generator": m[2], "setting": "zero_shot"}, m[1].lower())
    m = re.fullmatch(r"bert_score_(dl\d+)_reason_expansion_(.+)\.json", name, re.IGNORECASE)
    if m:
        return Recognised(path, "bertscore", {"generator": m[2], "setting": "reason_expansion"}, m[1].lower())
    m = re.fullmatch(r"(dl\d+)\.json", low)
    if m:
        return Recognised(path, "pairwise", {"assessor": PAIRWISE_ASSESSOR}, m[1])
    m = re.fullmatch(r"original\.reasons\.(.+)\.(h2r|h2g|h2j)\.all\.txt", name, re.IGNORECASE)
    if m:
        return Recognised(path, "reasons", {"assessor": m[1], "task": m[2].lower()}, None)
    m = re.fullmatch(r"(h2r|h2g|h2j)_hard_to_\w+?_(dl\d+)\.csv", low)
    if m:
        return Recognised(path, "hard_queries", {"task": m[1], "subject": HARD_CSV_SUBJECT,
                                                 "quantile": HARD_CSV_QUANTILE}, m[2])
    return Recognised(path, None, note="name not recognised")


def resolve_generators(files: list[Recognised]) -> None:
    """BERTScore files use short model names (``llama3``, ``qwen3``): point each to the
    bundle's generator whose name starts with it, so that scores link to generations."""
    generators = sorted({f.options["generator"] for f in files if f.kind == "generations"})
    for f in files:
        if f.kind != "bertscore":
            continue
        short = f.options["generator"]
        matches = [g for g in generators if g == short] or [g for g in generators if g.startswith(short)]
        if len(matches) == 1:
            f.options["generator"] = matches[0]
        elif len(matches) > 1:
            f.note = f"generator '{short}' is ambiguous ({', '.join(matches)}): kept as is"
