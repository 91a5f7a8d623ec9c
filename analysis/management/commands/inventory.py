import json

from django.core.management.base import BaseCommand

from analysis import corpus_selectors


class Command(BaseCommand):
    help = (
        "What the database holds per collection: queries, passages with text, judgments per assessor, "
        "run rows per system, generations and BERTScore rows per generator and setting, pairwise "
        "preferences per assessor, reason lists per task and assessor, hardness analyses. --json prints "
        "stable JSON (sorted keys, no timestamps)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", default=None)
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **options):
        data = corpus_selectors.inventory(collection=options["collection"])
        if options["json"]:
            self.stdout.write(json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False))
            return
        for name, counts in sorted(data["collections"].items()):
            self.stdout.write(f"{name}")
            for key in sorted(counts):
                value = counts[key]
                if isinstance(value, dict):
                    self.stdout.write(f"  {key}:")
                    for line in _flatten(value):
                        self.stdout.write(f"    {line}")
                elif isinstance(value, list):  # repeated_reason_lists: one line per list
                    self.stdout.write(f"  {key:<24}{len(value):>10}")
                    for g in value:
                        self.stdout.write(f"    {g['task']} {g['assessor']} {g['label']}: {', '.join(g['qids'])}")
                else:
                    self.stdout.write(f"  {key:<24}{value:>10}")


def _flatten(node: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(node):
        value = node[key]
        label = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(_flatten(value, f"{label} / "))
        else:
            out.append(f"{label:<40}{value:>10}")
    return out or ["(none)"]
