"""create_campaign: set up an annotation campaign from the command line."""
from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.budget_simulation import FIRST_ROUNDS, METHODS, UNITS
from analysis.models import Assessor, Collection, HardnessAnalysis
from annotation import budget_selectors, services
from annotation.budget_services import BudgetSpec
from annotation.models import Campaign


# --- budget campaigns: their options, spec and JSON, kept apart from the other options ---

def add_budget_arguments(parser: CommandParser) -> None:
    group = parser.add_argument_group("budget campaigns (relevance, with --from-assessor)")
    group.add_argument("--budget", type=int, help="human budget: pairs (or queries with --unit query) to judge")
    group.add_argument("--select", choices=METHODS, help="random (the baseline), uncertainty (least certain "
                       "grade probabilities) or lara (calibrated margin, round by round)")
    group.add_argument("--unit", choices=UNITS, default="pair", help="spend the budget on pairs or whole queries")
    group.add_argument("--round-size", dest="round_size", type=int,
                       help="items per round (default: lara ten rounds, the others all at once)")
    group.add_argument("--first-round", dest="first_round", choices=FIRST_ROUNDS, default="random",
                       help="lara: how the first round is picked")
    group.add_argument("--seed", type=int, default=0, help="seed of the random draws")


def budget_spec(opts: dict) -> BudgetSpec | None:
    if opts["budget"] is None:
        if opts["select"] or opts["round_size"]:
            raise CommandError("--select and --round-size need --budget N")
        return None
    if not opts["select"]:
        raise CommandError("--budget needs --select random, uncertainty or lara")
    return BudgetSpec(budget=opts["budget"], method=opts["select"], unit=opts["unit"],
                      round_size=opts["round_size"], first_round=opts["first_round"], seed=opts["seed"])


def budget_json(campaign: Campaign) -> dict:
    plan = budget_selectors.budget_plan_of(campaign=campaign)
    return {} if plan is None else {"budget": budget_selectors.budget_status(plan=plan)}


class Command(BaseCommand):
    help = (
        "Create an annotation campaign: relevance (the N pairs where --from-assessor and the official "
        "qrels disagree most) or reasons (the hard queries of the latest analysis of --task)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--collection", required=True)
        parser.add_argument("--kind", required=True, choices=[Campaign.RELEVANCE, Campaign.REASONS])
        parser.add_argument("--task", choices=["h2r", "h2g", "h2j"], default="")
        parser.add_argument("--analysis", type=int, help="hardness analysis id (default: the latest of --task)")
        parser.add_argument("--from-assessor", dest="from_assessor", help="LLM assessor name (relevance)")
        parser.add_argument("--limit", type=int, help="number of items")
        parser.add_argument("--overlap", type=int, default=1, help="annotations per item (k)")
        parser.add_argument("--annotators", required=True, help="comma-separated usernames")
        parser.add_argument("--blind", action="store_true")
        parser.add_argument("--reveal-after-commit", dest="reveal", action="store_true")
        parser.add_argument("--gold", type=int, default=0,
                            help="relevance: mix in N gold pairs whose answer is the official grade")
        parser.add_argument("--name", default="")
        parser.add_argument("--guidelines", help="Markdown file shown beside every item")
        parser.add_argument("--grade-meanings", dest="grade_meanings",
                            help='relevance: JSON file {"0": "...", "3": "..."} worded for the grade buttons '
                                 "(default: the TREC Deep Learning scale)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        add_budget_arguments(parser)
        self.add_reasons_arguments(parser)
        self.add_sampling_arguments(parser)
        self.add_anchoring_arguments(parser)

    def add_anchoring_arguments(self, parser: CommandParser) -> None:
        """An anchoring control: the LLM's grade shown, except on a random share of items."""
        parser.add_argument("--show-llm-grade", dest="show_llm_grade", action="store_true",
                            help="relevance: show the --from-assessor LLM's grade beside each pair (the campaign "
                                 "is otherwise blind)")
        parser.add_argument("--control-share", dest="control_share", type=float, default=0.0,
                            help="with --show-llm-grade: the share P of items shown without it (the control)")

    def add_sampling_arguments(self, parser: CommandParser) -> None:
        """How a relevance campaign samples the disagreements of --from-assessor."""
        parser.add_argument(
            "--per-query", dest="per_query", type=int, default=None,
            help="relevance: at most M pairs of one query (default: ceil(N / queries with a disagreement))",
        )

    def add_reasons_arguments(self, parser: CommandParser) -> None:
        """The options of reasons campaigns: which reason lists the items show."""
        parser.add_argument(
            "--reasons-label", dest="reasons_label", default="",
            help="reasons: the pipeline label of the lists to show (default: the lists proposed for the "
                 "analysis's subject, e.g. dl19_bm25_bertscore_umbrela_0.3 for BM25's H2R analysis)",
        )

    def handle(self, *args, **opts) -> None:
        try:
            collection = Collection.objects.get(name=opts["collection"])
        except Collection.DoesNotExist as exc:
            raise CommandError(f"no collection {opts['collection']!r}") from exc
        names = [n.strip() for n in opts["annotators"].split(",") if n.strip()]
        users = list(get_user_model().objects.filter(username__in=names))
        missing = sorted(set(names) - {u.get_username() for u in users})
        if missing:
            raise CommandError(f"unknown annotators: {', '.join(missing)}")
        assessor = None
        if opts["from_assessor"]:
            assessor = Assessor.objects.filter(name=opts["from_assessor"]).first()
            if assessor is None:
                raise CommandError(f"no assessor {opts['from_assessor']!r}")
        analysis = None
        if opts["analysis"]:
            analysis = HardnessAnalysis.objects.filter(pk=opts["analysis"], collection=collection).first()
            if analysis is None:
                raise CommandError(f"no analysis {opts['analysis']} on {collection.name}")
        guidelines = ""
        if opts["guidelines"]:
            with open(opts["guidelines"], encoding="utf-8") as fh:
                guidelines = fh.read()
        meanings = None
        if opts["grade_meanings"]:
            try:
                with open(opts["grade_meanings"], encoding="utf-8") as fh:
                    meanings = json.load(fh)
            except (OSError, ValueError) as exc:
                raise CommandError(f"{opts['grade_meanings']}: {exc}") from exc
            if not isinstance(meanings, dict):
                raise CommandError(f"{opts['grade_meanings']}: expected a JSON object of grade -> meaning")
        budget = budget_spec(opts)
        kind, task = opts["kind"], opts["task"] or ""
        name = opts["name"] or f"{collection.name} {kind}{' ' + task if task else ''}"
        try:
            campaign = services.campaign_create(
                name=name, kind=kind, collection=collection, task=task, analysis=analysis, from_assessor=assessor,
                limit=opts["limit"], overlap=opts["overlap"], annotators=users, blind=opts["blind"],
                reveal_after_commit=opts["reveal"], guidelines=guidelines, gold_count=opts["gold"],
                grade_meanings=meanings, budget=budget, reasons_label=opts["reasons_label"],
                per_query=opts["per_query"], show_llm_grade=opts["show_llm_grade"],
                control_share=opts["control_share"],
            )
        except services.NoReasonLists as exc:
            raise CommandError(f"{exc} (choose one with --reasons-label L)") from exc
        except services.CampaignInvalid as exc:
            options = "; ".join(f"--{name.replace('_', '-')}: {', '.join(problems)}" for name, problems in exc.errors.items())
            raise CommandError(f"{exc} ({options})") from exc
        except services.AnnotationError as exc:
            raise CommandError(str(exc)) from exc
        n_items = campaign.items.count()
        if opts["json"]:
            self.stdout.write(json.dumps({
                "campaign": campaign.pk, "name": campaign.name, "kind": campaign.kind, "task": campaign.task,
                "items": n_items, "gold": campaign.items.filter(is_gold=True).count(), "overlap": campaign.overlap, "annotators": sorted(names),
                "blind": campaign.blind, "analysis": campaign.analysis_id, **budget_json(campaign),
                "reasons_label": campaign.reasons_label,
                "show_llm_grade": campaign.show_llm_grade,
                "control_items": campaign.items.filter(is_control=True).count(),
            }))
        else:
            self.stdout.write(f"campaign {campaign.pk} '{campaign.name}': {n_items} items, k={campaign.overlap}, "
                              f"{len(users)} annotators")
