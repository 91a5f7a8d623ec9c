"""Budget campaigns end to end on DL21: do they spend the budget as the simulator plans?

Not a speed benchmark: a check that the campaign path (create_campaign --budget, rounds
added as annotators finish them, budget_qrels) gives the qrels quality the simulator
(``simulate_budget``) predicts for the same method and budget. An annotator whose answer
is the official grade stands in for people, submitting through ``annotation.services``
one item at a time (each submit its own transaction; the round check runs on commit,
eagerly: leave CELERY_BROKER_URL unset).

Needs a database holding dl21's queries, official qrels and the four graded judges
(``import_queries`` / ``import_qrels``, names as in BENCHMARKS.md). Creates the ensemble
assessor ``ens4`` if missing, an annotator ``oracle-bot``, one campaign per method, and
one budget_qrels assessor per campaign (``budget-<method>``, replaced on a rerun).

Usage: DATABASE_URL=postgres://... python bench/budget_campaign_dl21.py [--budget 10%] [--rounds 10] [--seed 0]
Prints per method: the campaign, its rounds, and Cohen's kappa of the budget qrels
against the official qrels over every pair (scikit-learn's cohen_kappa_score).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hardq_site.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from sklearn.metrics import cohen_kappa_score  # noqa: E402

from analysis.models import Assessor, Judgment  # noqa: E402
from annotation import services  # noqa: E402
from annotation.models import BudgetPlan, Campaign  # noqa: E402

MEMBERS = "llama3.2_latest-graded,phi3_14b-graded,phi4_latest-graded,qwen3_8b-graded"


def grades_of(name: str) -> dict[tuple[str, str], int]:
    rows = Judgment.objects.filter(assessor__name=name, query__collection__name="dl21", valid=True)
    return {(q, d): g for q, d, g in rows.values_list("query__qid", "passage__docid", "grade")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", default="10%")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default="random,lara")
    args = parser.parse_args()
    if not Assessor.objects.filter(name="ens4").exists():
        call_command("ensemble", "--collection", "dl21", "--assessors", MEMBERS, "--name", "ens4", stdout=io.StringIO())
    official = grades_of("official")
    n_pairs = len(grades_of("ens4"))
    budget = round(float(args.budget[:-1]) / 100 * n_pairs) if args.budget.endswith("%") else int(args.budget)
    round_size = -(-budget // args.rounds)
    bot, _ = get_user_model().objects.get_or_create(username="oracle-bot")
    for method in args.methods.split(","):
        out = io.StringIO()
        call_command("create_campaign", "--collection", "dl21", "--kind", "relevance", "--annotators", "oracle-bot",
                     "--from-assessor", "ens4", "--budget", str(budget), "--select", method,
                     "--round-size", str(round_size), "--seed", str(args.seed), "--name", f"bench {method}",
                     "--json", stdout=out)
        campaign = Campaign.objects.get(pk=json.loads(out.getvalue())["campaign"])
        started = time.perf_counter()
        submitted = 0
        while (assignment := services.assignment_next(campaign=campaign, user=bot)) is not None:
            key = (assignment.item.query.qid, assignment.item.passage.docid)
            services.assignment_submit(assignment=assignment, user=bot, grade=official[key])
            submitted += 1
        seconds = time.perf_counter() - started
        call_command("budget_qrels", "--campaign", str(campaign.pk), "--name", f"budget-{method}", "--replace",
                     stdout=io.StringIO())
        qrels = grades_of(f"budget-{method}")
        keys = sorted(set(qrels) & set(official))
        kappa = cohen_kappa_score([official[k] for k in keys], [qrels[k] for k in keys])
        plan = BudgetPlan.objects.get(campaign=campaign)
        rounds = [(r.number, r.selection, r.size) for r in plan.rounds.order_by("number")]
        print(f"{method}: campaign {campaign.pk}, budget {budget} of {n_pairs} pairs, {submitted} submits in "
              f"{seconds:.0f} s, {len(rounds)} rounds {rounds[:2]}..., kappa vs official {kappa:.3f} "
              f"over {len(keys)} pairs")


if __name__ == "__main__":
    main()
