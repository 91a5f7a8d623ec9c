"""budget_qrels: the qrels a spent budget leaves: human grades where people judged, the
calibrated LLM grades elsewhere."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation import budget_selectors
from annotation.budget_services import BudgetRefused, budget_qrels_write
from annotation.models import Campaign


class Command(BaseCommand):
    help = (
        "Write an assessor --name whose qrels are a budget campaign's human grades where people judged "
        f"({budget_selectors.HUMAN_GRADE_RULE}) and, on every other pair the campaign's LLM graded, the "
        "most likely grade of the logistic calibration of the human grade on the LLM's grade probabilities, "
        "fitted on all the campaign's human grades."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", type=int, required=True)
        parser.add_argument("--name", required=True, help="the assessor to write")
        parser.add_argument("--replace", action="store_true", help="replace an assessor budget_qrels wrote before")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        campaign = Campaign.objects.select_related("collection", "reference_assessor").filter(pk=opts["campaign"]).first()
        if campaign is None:
            raise CommandError(f"no campaign {opts['campaign']}")
        try:
            written = budget_qrels_write(campaign=campaign, name=opts["name"], replace=opts["replace"])
        except BudgetRefused as exc:
            raise CommandError(str(exc)) from exc
        summary = {
            "assessor": written.assessor.name, "campaign": campaign.pk, "human": written.n_human,
            "calibrated": written.n_calibrated, "calibration": "logistic" if written.calibrated else "none (one grade)",
            "human_grade": budget_selectors.HUMAN_GRADE_RULE,
        }
        if opts["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(f"wrote {written.assessor.name}: {written.n_human} human grades, "
                              f"{written.n_calibrated} calibrated LLM grades")
