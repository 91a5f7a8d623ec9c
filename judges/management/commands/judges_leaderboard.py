"""judges_leaderboard: every assessor of a collection against a reference, one row each."""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from judges.leaderboard_selectors import FIGURES, LeaderboardError, leaderboard, leaderboard_csv


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = (
        "The judges leaderboard of a collection: per assessor covering at least 90% of the reference's "
        "pairs, Cohen's kappa (plain, linear, quadratic), Krippendorff's ordinal alpha, kappa on the "
        "grade >= 2 split, Kendall's tau-b of the runs' ranking, calls and tokens; best kappa first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--collection", required=True)
        parser.add_argument("--reference", help="reference assessor (default: the collection's official one)")
        parser.add_argument("--sort", default=None, help="a column, - for descending (default -kappa)")
        parser.add_argument("--all", action="store_true", help="also the assessors below the coverage threshold")
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", help="print a JSON list of rows")
        output.add_argument("--csv", action="store_true", help="print the rows as CSV")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            board = leaderboard(collection=options["collection"], reference=options["reference"], sort=options["sort"])
        except LeaderboardError as exc:
            raise CommandError(str(exc)) from exc
        rows = board["rows"] + (board["excluded"] if options["all"] else [])
        if options["json"]:
            self.stdout.write(json.dumps(rows, sort_keys=True))
        elif options["csv"]:
            self.stdout.write(leaderboard_csv(board, everything=options["all"]), ending="")
        else:
            self.stdout.write(self.table(board, rows))

    @staticmethod
    def table(board: dict[str, Any], rows: list[dict[str, Any]]) -> str:
        width = max([len("assessor"), *(len(r["assessor"]) for r in rows)])
        header = f"{'#':>3} {'assessor':<{width}} {'coverage':>8} " + " ".join(f"{f:>15}" for f in FIGURES)
        lines = [
            f"{board['collection']}: against {board['reference']}, sorted by {board['sort']}"
            f" ({len(board['rows'])} shown, {len(board['excluded'])} below "
            f"{board['coverage_threshold']:.0%} coverage{': --all shows them' if board['excluded'] and rows == board['rows'] else ''})",
            header + f" {'calls':>8} {'tokens':>10}",
        ]
        for r in rows:
            lines.append(
                f"{r['rank'] or '':>3} {r['assessor']:<{width}} {_num(r['coverage']):>8} "
                + " ".join(f"{_num(r[f]):>15}" for f in FIGURES) + f" {r['calls']:>8} {r['tokens']:>10}"
            )
        return "\n".join(lines)
