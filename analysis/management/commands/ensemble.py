from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from analysis.budget_ensemble import RULES
from analysis.budget_selectors import EnsembleRow, ensemble_rows
from analysis.judgments import AssessorConflict, JudgmentRow, assessor_get_or_create, judgments_write
from analysis.management.assessor_arguments import comma_separated, collection_and_assessors
from analysis.models import Assessor


def ensemble_store(*, name: str, members: list[Assessor], rule: str, scale: str, rows: list[EnsembleRow]) -> int:
    """Write the ensemble as an LLM assessor with one judgment per pair (the command's only write).

    The assessor comes from ``analysis.judgments.assessor_get_or_create`` (the one place
    assessors are created), its judgments go through ``judgments_write``.
    """
    with transaction.atomic():
        assessor = assessor_get_or_create(
            name=name, kind=Assessor.LLM, scale=scale, same_kind=True,
            fields={"parameters": {"ensemble": {"members": [m.name for m in members], "rule": rule}}},
        )
        judgments_write(
            assessor=assessor,
            rows=[JudgmentRow(r.query_id, r.passage_id, r.grade, valid=True, raw_response="",
                              probabilities=r.probabilities) for r in rows],
            replace=True,
        )
    return len(rows)


class Command(BaseCommand):
    help = (
        "Materialise an ensemble assessor from several judges: per pair, the vote shares as its grade "
        "probabilities and one grade (majority, ties to the lower grade; or the mean rounded, halves down). "
        "A judge that gave no valid grade for a pair does not vote on it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", required=True)
        parser.add_argument("--assessors", required=True, help="comma-separated judges, at least two")
        parser.add_argument("--name", required=True, help="name of the ensemble assessor")
        parser.add_argument("--rule", choices=RULES, default="majority")
        parser.add_argument("--dry-run", action="store_true", help="compute and report, write nothing")

    def handle(self, *args, **options):
        names = comma_separated(options["assessors"])
        if len(set(names)) < 2:
            raise CommandError("an ensemble needs at least two different assessors")
        collection, members = collection_and_assessors(collection=options["collection"], names=names, role="member")
        if options["name"] in names:
            raise CommandError(f"the ensemble cannot be named after one of its members ({options['name']!r})")
        existing = Assessor.objects.filter(name=options["name"]).first()
        if existing is not None and existing.parameters.get("ensemble") is None:
            raise CommandError(f"assessor {options['name']!r} exists and is not an ensemble: choose another name")
        rows = ensemble_rows(collection=collection, members=members, rule=options["rule"])
        if not rows:
            raise CommandError(f"none of {', '.join(names)} has a valid judgment in {collection.name}")
        scale = Assessor.GRADED if any(m.scale == Assessor.GRADED for m in members) else Assessor.BINARY
        grades = Counter(r.grade for r in rows)
        split = sum(1 for r in rows if max(r.probabilities) < 1.0)
        summary = (
            f"ensemble {options['name']} of {', '.join(names)} ({options['rule']}): {len(rows)} pairs, "
            f"{split} with split votes; grades " + ", ".join(f"{g}: {n}" for g, n in sorted(grades.items()))
        )
        if options["dry_run"]:
            self.stdout.write(summary + "\nDry run: nothing written.")
            return
        try:
            ensemble_store(name=options["name"], members=members, rule=options["rule"], scale=scale, rows=rows)
        except AssessorConflict as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(summary + " written.")
