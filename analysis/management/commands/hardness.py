"""``manage.py hardness h2r|h2g|h2j|overlap``: compute hardness and print what was found.

Thin: parses the options, calls one service or selector, prints. Every run stores a new
HardnessAnalysis (a rerun with other parameters never overwrites an earlier one).
"""
from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis import corpus_selectors
from analysis import hardness_selectors as sel
from analysis import hardness_services as svc
from analysis.hardness import overlap
from analysis.models import Collection, HardnessAnalysis


class Command(BaseCommand):
    help = "Hard-to-retrieve / generate / judge analyses of a collection, and their overlap."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="analyzer", required=True)

        def common(p: CommandParser) -> None:
            p.add_argument("--collection", required=True)
            p.add_argument("--quantile", type=float, default=0.25, help="q (default 0.25)")
            p.add_argument("--json", action="store_true", help="print one JSON object")

        p = sub.add_parser("h2r", help="hard to retrieve: per-query effectiveness of a run")
        common(p)
        p.add_argument("--system", required=True, help="the run's system (or a name for --run-file)")
        p.add_argument("--measure", default="ndcg_cut_10_judged",
                       help="ndcg_cut_10_judged (default, trec_eval -J), ndcg_cut_10, map, recall_100, recip_rank ...")
        p.add_argument("--cutoff", type=int, default=None, help="replace the measure's cut-off K")
        p.add_argument("--compat", choices=["trectools"], default=None,
                       help="reproduce the reference script (trectools: NaN queries dropped)")
        p.add_argument("--relevance-level", type=int, default=1)
        p.add_argument("--run-file", default=None, help="analyse this TREC run file without importing it")
        p.add_argument("--qrels-file", default=None, help="qrels from this file instead of the database")

        p = sub.add_parser("h2g", help="hard to generate: BERTScore of generations vs relevant passages")
        common(p)
        p.add_argument("--generator", required=True)
        p.add_argument("--setting", default="zero_shot", choices=["zero_shot", "reason_expansion"])
        p.add_argument("--min-grade", type=int, default=2)
        p.add_argument("--agg", "--aggregate", dest="aggregate", choices=["mean", "max", "median"], default="mean")
        p.add_argument("--source", choices=["computed", "imported"], default="computed")
        p.add_argument("--model", default=None, help="bert-score model name or local path")
        p.add_argument("--num-layers", type=int, default=None)

        p = sub.add_parser("h2j", help="hard to judge: disagreement of an LLM judge with the qrels")
        common(p)
        p.add_argument("--judge", "--assessor", dest="judge", required=True)
        p.add_argument("--variant", "--mode", dest="variant", choices=["graded", "binary"], default=None,
                       help="default: the judge's scale")
        p.add_argument("--margin", type=int, default=2)
        p.add_argument("--include-zero", action="store_true",
                       help="count queries without a pair beyond the margin as 0 (the reference leaves them out)")

        p = sub.add_parser("overlap", help="overlap of hard sets (default: one analysis per task)")
        p.add_argument("--collection", required=True)
        p.add_argument("--analyses", default=None,
                       help="comma-separated analysis ids (see the analyses page); default: one per task")
        fmt = p.add_mutually_exclusive_group()
        fmt.add_argument("--json", action="store_true")
        fmt.add_argument("--csv", action="store_true")

    def handle(self, *args, **o) -> None:
        collection = corpus_selectors.collection_get(name=o["collection"])
        if collection is None:
            raise CommandError(f"no collection {o['collection']!r}")
        try:
            if o["analyzer"] == "overlap":
                return self._overlap(collection, o)
            if o["analyzer"] == "h2r":
                analysis, _ = svc.h2r_analysis_run(
                    collection=collection, system=o["system"], quantile=o["quantile"], measure=o["measure"],
                    cutoff=o["cutoff"], compat=o["compat"], relevance_level=o["relevance_level"],
                    run_file=o["run_file"], qrels_file=o["qrels_file"],
                )
            elif o["analyzer"] == "h2j":
                analysis, _ = svc.h2j_analysis_run(
                    collection=collection, judge=o["judge"], variant=o["variant"], quantile=o["quantile"],
                    margin=o["margin"], include_zero=o["include_zero"],
                )
            else:
                analysis = svc.h2g_analysis_start(
                    collection=collection, generator=o["generator"], quantile=o["quantile"],
                    min_grade=o["min_grade"], aggregate=o["aggregate"], source=o["source"], setting=o["setting"],
                    model=o["model"], num_layers=o["num_layers"],
                )
                analysis.refresh_from_db()
        except (ValueError, LookupError) as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            if type(exc).__name__ == "DoesNotExist":
                raise CommandError(str(exc)) from exc
            raise
        self._print(analysis, o["json"])

    def _print(self, analysis: HardnessAnalysis, as_json: bool) -> None:
        data = svc.analysis_outcome(analysis=analysis)
        if as_json:
            self.stdout.write(json.dumps(data, indent=1))
            return
        if analysis.status != HardnessAnalysis.DONE:
            self.stdout.write(f"analysis {analysis.id}: {analysis.status} "
                              f"({analysis.progress_done}/{analysis.progress_total}); a worker computes it")
            return
        t = data["threshold"]
        m = data["hard_mean"]
        self.stdout.write(f"analysis {analysis.id}: {analysis.task} {analysis.collection.name} {analysis.subject}"
                          f"{' [' + analysis.variant + ']' if analysis.variant else ''} measure={analysis.measure}")
        self.stdout.write(f"queries: {data['n_queries']}  quantile: {analysis.quantile}")
        self.stdout.write(f"threshold: {t:.6f}" if t is not None else "threshold: none")
        self.stdout.write(f"hard: {len(data['hard'])}  hard mean: " + (f"{m:.6f}" if m is not None else "none"))
        self.stdout.write("hard qids: " + " ".join(data["hard"]))
        for note in data["parameters"].get("notes", []):
            self.stdout.write(f"note: {note}")
        dis = data["parameters"].get("compat_disagreements")
        if dis is not None:
            self.stdout.write(f"default threshold: {data['parameters']['default_threshold']:.6f}; "
                              f"queries on which default and compat disagree: {len(dis)}")
            for d in dis:
                fmt = lambda v: "NaN" if v is None else f"{v:.6f}"  # noqa: E731
                self.stdout.write(f"  {d['qid']}: default {fmt(d['default'])} (hard={d['hard_default']}), "
                                  f"compat {fmt(d['compat'])} (hard={d['hard_compat']})")

    def _overlap(self, collection: Collection, o: dict) -> None:
        try:
            ids = sel.parse_analysis_ids([o["analyses"]] if o["analyses"] is not None else [])
        except ValueError as exc:
            raise CommandError(f"--analyses: {exc}") from exc
        _, chosen, unknown = sel.overlap_selection(collection=collection, ids=ids)
        if unknown:
            raise CommandError(f"--analyses: no finished analysis of {collection.name} with id "
                               + ", ".join(map(str, unknown)))
        sets = sel.hard_sets(analyses=chosen)
        message = overlap.too_many_message(len(sets))
        if message:
            raise CommandError(message)
        if o["csv"]:
            sys.stdout.flush()
            self.stdout.write(overlap.overlap_csv(sets), ending="")
            return
        regions = overlap.overlap_regions(sets)
        if o["json"]:
            self.stdout.write(json.dumps({"collection": collection.name, "analyses": [a.id for a in chosen],
                                          "sets": {k: sorted(v) for k, v in sets.items()},
                                          "regions": regions}, indent=1))
            return
        for a, (name, qids) in zip(chosen, sets.items()):
            self.stdout.write(f"{name} (analysis {a.id}): {len(qids)} hard")
        for r in overlap.nonempty_regions(sets):
            self.stdout.write(f"only {' & '.join(r['sets'])}: {r['exclusive_size']} ({' '.join(r['exclusive'])})")
