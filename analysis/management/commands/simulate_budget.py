import json

from django.core.management.base import BaseCommand, CommandError

from analysis.budget_selectors import simulation_report
from analysis.budget_simulation import FILLS, METHODS, UNITS, SimulationError
from analysis.estimation import DEFAULT_LEVEL, INTERVALS
from analysis.management.assessor_arguments import comma_separated


class Command(BaseCommand):
    help = (
        "Plan a human budget before spending it: the oracle's labels stand in for people. For each budget "
        "and selection method, the mean and spread over repeats of the kappa of the resulting qrels against "
        "the oracle's, and where the collection has runs the RMSE of their nDCG@10 and Kendall's tau-b of "
        "their ranking; with --unit query also the coverage and half-width of the PPI intervals."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", required=True)
        parser.add_argument(
            "--llm", required=True,
            help="the LLM assessor; several, comma-separated, form an ensemble (vote shares, majority grade)",
        )
        parser.add_argument("--oracle", required=True, help="the assessor whose labels stand in for people")
        parser.add_argument(
            "--budgets", required=True,
            help="comma-separated budgets, in pairs or queries (--unit), as counts (500) or shares (5%%)",
        )
        parser.add_argument("--select", default=",".join(METHODS), help=f"comma-separated methods: {', '.join(METHODS)}")
        parser.add_argument("--unit", choices=UNITS, default="pair")
        parser.add_argument("--repeats", type=int, default=20)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--rounds", type=int, default=None, help="rounds of lara's online calibration (default 10)")
        parser.add_argument("--level", type=float, default=DEFAULT_LEVEL)
        parser.add_argument("--interval", choices=INTERVALS, default="ppi", help="the PPI interval (see estimate)")
        parser.add_argument(
            "--fill", choices=FILLS, default="calibrated",
            help="grades of the pairs people did not judge: the calibrated LLM grade (default) or the LLM's own",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        methods = comma_separated(options["select"])
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise CommandError(f"unknown selection method(s) {', '.join(unknown) or '(none)'}: use {', '.join(METHODS)}")
        budgets = comma_separated(options["budgets"])
        if not budgets:
            raise CommandError("--budgets needs at least one budget")
        try:
            report = simulation_report(
                collection=options["collection"], llm=comma_separated(options["llm"]), oracle=options["oracle"],
                budgets=budgets, methods=methods, unit=options["unit"], repeats=options["repeats"],
                seed=options["seed"], level=options["level"], interval=options["interval"], rounds=options["rounds"],
                fill=options["fill"],
            )
        except SimulationError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(
            f"{report['collection']}: LLM {'+'.join(report['llm'])}, oracle {report['oracle']}; "
            f"{report['n_pairs']} pairs of {report['n_queries']} queries; unit {report['unit']}, "
            f"{report['repeats']} repeats, seed {report['seed']}, unjudged pairs: {report['fill']} grades (mean ± sd)"
        )
        columns = ["kappa", "rmse", "kendall_tau", "coverage", "half_width", "human_only_half_width"]
        self.stdout.write(f"{'budget':>8} {'method':<12} " + " ".join(f"{c:>18}" for c in columns))

        def cell(value):
            return f"{value['mean']:.3f} ± {value['std']:.3f}" if value else "—"

        for row in report["results"]:
            self.stdout.write(
                f"{row['budget_label']:>8} {row['method']:<12} " + " ".join(f"{cell(row[c]):>18}" for c in columns)
            )
