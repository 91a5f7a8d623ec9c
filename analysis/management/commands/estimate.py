import json

from django.core.management.base import BaseCommand, CommandError

from analysis.estimation import DEFAULT_LEVEL, DEFAULT_MEASURE, INTERVALS, EstimationError
from analysis.estimation_selectors import estimate_report


class Command(BaseCommand):
    help = (
        "Estimate every run's score from an LLM's judgments of every query and a human assessor's of a few: "
        "the LLM-only mean, the human-only mean with its classical interval, and the prediction-powered "
        "mean (PPI++) with its interval. Per-query values are trec_eval's (pytrec_eval) on the runs as "
        "imported, unjudged documents non-relevant; runs are listed best PPI estimate first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", required=True)
        parser.add_argument("--llm", required=True, help="the LLM assessor (judged every query)")
        parser.add_argument("--human", required=True, help="the human assessor (judged the labeled queries)")
        parser.add_argument("--measure", default=DEFAULT_MEASURE, help=f"trec_eval measure (default {DEFAULT_MEASURE})")
        parser.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="confidence level (default 0.95)")
        parser.add_argument(
            "--interval", choices=INTERVALS, default="ppi",
            help="ppi: ppi-python's normal interval (default); t: Student's t, for ten or so labeled queries; "
                 "bootstrap: percentile bootstrap over queries",
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        try:
            report = estimate_report(
                collection=options["collection"], llm=options["llm"], human=options["human"],
                measure=options["measure"], level=options["level"], interval=options["interval"],
            )
        except EstimationError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        pct = f"{report['level']:.0%}"
        self.stdout.write(
            f"{report['measure']} on {report['collection']}: LLM {report['llm']}, human {report['human']}; "
            f"{pct} intervals: {report['interval_description']}"
        )
        header = f"{'run':<24} {'labeled':>7} {'unlab.':>6} {'LLM only':>9} {'human only [' + pct + ']':>26} {'PPI++ [' + pct + ']':>26}"
        self.stdout.write(header)
        for row in report["runs"]:
            h, p = row["human_only"], row["ppi"]
            self.stdout.write(
                f"{row['run']:<24} {row['n_labeled']:>7} {row['n_unlabeled']:>6} {row['llm_only']:>9.4f} "
                f"{h['estimate']:>8.4f} [{h['ci_low']:.4f}, {h['ci_high']:.4f}] "
                f"{p['estimate']:>8.4f} [{p['ci_low']:.4f}, {p['ci_high']:.4f}]"
            )
