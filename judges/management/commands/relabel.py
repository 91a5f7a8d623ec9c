"""relabel: the RLHN cascade over training examples (cheap stage 1, strong stage 2)."""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import CommandError

from analysis.models import Collection
from judges import selectors, services
from judges.management.commands._llmjob import LLMJobCommand
from judges.models import PromptTemplate, TrainingSet


class Command(LLMJobCommand):
    help = (
        "Relabel false hard negatives: stage 1 (--base-url/--model) flags negatives that answer the query, "
        "stage 2 (--stage2-base-url/--stage2-model) decides on the flagged ones; export as Tevatron JSONL."
    )
    needs_collection = False

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        self.add_endpoint_arguments(parser, prefix="stage2-")
        parser.add_argument("--collection", help="collection of the qrels/run (with --run) or of the queries")
        parser.add_argument("--training-file", help="Tevatron-style JSONL: query_id, query, positive_passages, negative_passages")
        parser.add_argument("--run", help="system name: build examples from the official qrels and this run")
        parser.add_argument("--k", type=int, default=20, help="top-k of the run for hard negatives")
        parser.add_argument("--name", default="", help="training set name")
        parser.add_argument("--prompt", default="cascade")
        parser.add_argument("--policy", choices=["move", "remove"], default="move")
        parser.add_argument("--output", help="write the relabeled set here as Tevatron JSONL")

    def handle(self, *args, **options) -> None:
        collection = Collection.objects.filter(name=options["collection"]).first() if options["collection"] else None
        if options["training_file"]:
            path = Path(options["training_file"])
            training_set = services.training_set_import_tevatron(name=options["name"] or path.stem, path=path, collection=collection)
        elif options["run"]:
            if collection is None:
                raise CommandError("--run needs --collection")
            training_set = services.training_set_from_run(
                name=options["name"] or f"{collection.name}-{options['run']}-top{options['k']}", collection=collection,
                system=options["run"], k=options["k"],
            )
        elif options["name"]:
            training_set = TrainingSet.objects.get(name=options["name"])
        else:
            raise CommandError("give --training-file, --run or the --name of an imported training set")
        try:
            template = selectors.template_resolve(prompt=options["prompt"], kinds=["cascade"])
        except PromptTemplate.DoesNotExist as exc:
            raise CommandError(str(exc))
        stage1 = self.endpoint(options)
        stage2 = self.endpoint(options, prefix="stage2_")
        job = services.job_create_relabel(
            training_set=training_set, endpoint=stage1, endpoint2=stage2, template=template, policy=options["policy"],
            limit=options["limit"], concurrency=options["concurrency"],
        )
        job = self.run_job(job, options)
        relabeled = job.relabel_decisions.exclude(action="kept").count()
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as fh:
                for row in selectors.relabeled_examples(job=job):
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.report(job, options, training_set=training_set.name, relabeled=relabeled)
