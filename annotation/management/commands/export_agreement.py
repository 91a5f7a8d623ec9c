"""export_agreement: the agreement report of a collection as CSV, JSON, XLSX or self-contained HTML."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis import corpus_selectors
from analysis.agreement import DEFAULT_N_BOOT, DEFAULT_SEED
from analysis.agreement_selectors import AgreementInputError
from analysis.estimation import DEFAULT_LEVEL, INTERVALS, EstimationError
from annotation import reports
from annotation.report_estimates import estimates_section
from annotation.report_params import AgreementParamsError, report_params_parse
from annotation.report_renderers import RENDERERS


def add_estimate_arguments(parser) -> None:
    group = parser.add_argument_group("estimates of the runs' scores (the JSON of manage.py estimate)")
    group.add_argument("--estimates", action="store_true",
                       help="add the estimates section: for --llm/--human, else for each budget campaign "
                            "(create_campaign --budget --unit query) of the collection")
    group.add_argument("--llm", help="LLM assessor of the estimates (with --human)")
    group.add_argument("--human", help="human assessor of the estimates (with --llm)")
    group.add_argument("--interval", choices=INTERVALS, default="ppi", help="ppi (default), t or bootstrap")
    group.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="confidence level (default 0.95)")


def estimates_of(options) -> list | None:
    """The estimates section asked for, or None; CommandError on input no estimate can
    be made from (what makes ``estimate`` exit 1)."""
    if not (options["estimates"] or options["llm"] or options["human"]):
        return None
    collection = corpus_selectors.collection_get(name=options["collection"])
    if collection is None:
        raise CommandError(f"unknown collection {options['collection']!r}")
    try:
        return estimates_section(collection=collection, llm=options["llm"], human=options["human"],
                                 level=options["level"], interval=options["interval"])
    except EstimationError as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = (
        "Write the agreement report: every assessor against --reference (default: the official "
        "qrels), the set agreement when three or more assessors are involved, the effect on "
        "nDCG@10 of the collection's runs, and human verdicts on failure reasons."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", required=True)
        parser.add_argument("--reference", help="reference assessor (default: the official one)")
        parser.add_argument("--assessors", help="comma-separated assessors (default: all others that judged)")
        parser.add_argument("--binary", action="store_true", help="compare on the grade >= 2 split")
        parser.add_argument("--format", required=True, choices=sorted(RENDERERS))
        parser.add_argument("--output", required=True, help="file to write")
        parser.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT, help="bootstrap resamples (0: none)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--task", default="", help="failure reasons of this task only (h2r/h2g/h2j)")
        parser.add_argument("--model", default="", help="only assessors / reason proposers whose model matches")
        parser.add_argument("--annotator", default="", help="reason verdicts of this annotator only")
        add_estimate_arguments(parser)

    def handle(self, *args, **options):
        # The same parser (and limits) as the dashboard and the API.
        try:
            params = report_params_parse({key: options[key] for key in (
                "collection", "reference", "assessors", "binary", "n_boot", "seed", "task", "model", "annotator",
            )})
        except AgreementParamsError as exc:
            raise CommandError(str(exc)) from exc
        if params is None:
            raise CommandError("--collection is required")
        estimates = estimates_of(options)
        try:
            exported = reports.report_export(params=params, fmt=options["format"], estimates=estimates)
        except AgreementInputError as exc:
            raise CommandError(str(exc)) from exc
        Path(options["output"]).write_bytes(exported.content)
        self.stdout.write(f"wrote {options['output']} ({len(exported.content):,} bytes, {exported.content_type})")
