"""``manage.py paper_tables``: the paper's hardness tables from the stored analyses.

One row per collection, task and system/model/judge (the latest analysis of each):
the mean value of the hard queries and the threshold, as the paper prints them.
"""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser

from analysis import hardness_selectors as sel


def _fmt(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


class Command(BaseCommand):
    help = "Print the paper's tables (collection, system or model, hard mean, threshold) from the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--collection", default=None, help="only this collection")
        parser.add_argument("--digits", type=int, default=3, help="decimals (the paper prints 3)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o) -> None:
        rows = [r for r in sel.paper_table_rows() if o["collection"] in (None, r["collection"])]
        if o["json"]:
            self.stdout.write(json.dumps(rows, indent=1))
            return
        if not rows:
            self.stdout.write("no finished analysis yet: run `manage.py hardness ...` first")
            return
        titles = {"h2r": "Hard to Retrieve", "h2g": "Hard to Generate", "h2j": "Hard to Judge"}
        for task in ("h2r", "h2g", "h2j"):
            part = [r for r in rows if r["task"] == task]
            if not part:
                continue
            self.stdout.write(f"\n{titles[task]}")
            self.stdout.write(f"{'collection':<12} {'system / model':<32} {'hard mean':>10} {'threshold':>10} {'hard':>5}  measure")
            for r in part:
                name = r["subject"] + (f" ({r['variant']})" if r["variant"] else "")
                self.stdout.write(
                    f"{r['collection']:<12} {name:<32} {_fmt(r['hard_mean'], o['digits']):>10} "
                    f"{_fmt(r['threshold'], o['digits']):>10} {r['hard_count']:>5}  {r['measure']} q={r['quantile']}"
                )
