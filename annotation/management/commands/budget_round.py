"""budget_round: add a budget campaign's next round now (staff's command)."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation import budget_selectors, services
from annotation.models import Campaign


class Command(BaseCommand):
    help = (
        "Add the next round of a budget campaign (create_campaign --budget): after a complete round, "
        "or with --force before it is complete. Rounds are also added by themselves when the last "
        "item of a round is submitted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", type=int, required=True)
        parser.add_argument("--force", action="store_true", help="add it even though the last round is not complete")
        parser.add_argument("--json", action="store_true", help="print the plan and its rounds as JSON")

    def handle(self, *args, **opts) -> None:
        campaign = Campaign.objects.filter(pk=opts["campaign"]).first()
        if campaign is None:
            raise CommandError(f"no campaign {opts['campaign']}")
        try:
            added = services.budget_round_add(campaign=campaign, force=opts["force"])
        except services.AnnotationError as exc:
            raise CommandError(str(exc)) from exc
        plan = budget_selectors.budget_plan_of(campaign=campaign)
        assert plan is not None  # budget_round_add refused any other campaign
        status = budget_selectors.budget_status(plan=plan)
        if opts["json"]:
            self.stdout.write(json.dumps({"campaign": campaign.pk, "added": added.number if added else None,
                                          "budget": status}))
        elif added is None and status["spent"] >= plan.budget:
            self.stdout.write(f"campaign {campaign.pk}: the budget is spent ({plan.budget} {plan.unit}s)")
        elif added is None:
            self.stdout.write(f"campaign {campaign.pk}: no round added (the last round is not complete, or the "
                              "campaign is closed; --force adds one before it is complete)")
        else:
            self.stdout.write(f"campaign {campaign.pk}: round {added.number} added ({added.size} {plan.unit}s, "
                              f"{added.selection}); {status['spent']} of {plan.budget} spent")
