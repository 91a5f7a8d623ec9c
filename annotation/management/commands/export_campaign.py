"""export_campaign: every label of a campaign as CSV or JSON Lines."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation import exports
from annotation.models import Campaign


class Command(BaseCommand):
    help = (
        "Write a campaign's labels, one row per verdict, added reason or grade (skipped items included), "
        "with the gold answer and the adjudicated label beside each."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", type=int, required=True, help="campaign id")
        parser.add_argument("--format", choices=exports.FORMATS, default="csv")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, **opts) -> None:
        try:
            campaign = Campaign.objects.get(pk=opts["campaign"])
        except Campaign.DoesNotExist as exc:
            raise CommandError(f"no campaign {opts['campaign']}") from exc
        chunks = exports.render(campaign=campaign, fmt=opts["format"])
        if opts["output"]:
            with open(opts["output"], "w", encoding="utf-8", newline="") as out:
                out.writelines(chunks)
        else:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
