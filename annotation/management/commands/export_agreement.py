"""export_agreement: the agreement report of a collection as CSV, JSON, XLSX or self-contained HTML."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.agreement import DEFAULT_N_BOOT, DEFAULT_SEED
from analysis.agreement_selectors import AgreementInputError
from annotation import reports
from annotation.report_params import AgreementParamsError, report_params_parse
from annotation.report_renderers import RENDERERS


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
        try:
            exported = reports.report_export(params=params, fmt=options["format"])
        except AgreementInputError as exc:
            raise CommandError(str(exc)) from exc
        Path(options["output"]).write_bytes(exported.content)
        self.stdout.write(f"wrote {options['output']} ({len(exported.content):,} bytes, {exported.content_type})")
