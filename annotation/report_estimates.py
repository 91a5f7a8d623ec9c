"""The estimates section of the agreement export (``export_agreement --estimates``).

Either the ``estimate`` JSON for a named LLM and human assessor, or one per budget
campaign of the collection: its LLM (the campaign's ``--from-assessor``) against the
campaign's human grades (``annotation.budget_selectors.HUMAN_GRADE_RULE``). Only
campaigns that spend their budget on whole queries (``--unit query``) give valid
prediction-powered intervals by query; a pair campaign is listed with the reason it has
no estimate (its queries are partly judged), as is a campaign with too few labels yet.
"""
from __future__ import annotations

from typing import Any

from analysis.estimation import DEFAULT_LEVEL, DEFAULT_MEASURE, EstimationError
from analysis.estimation_selectors import estimate_from_qrels, estimate_report, qrels_of
from analysis.models import Collection
from annotation import budget_selectors
from annotation.models import BudgetPlan


def estimates_section(
    *,
    collection: Collection,
    llm: str | None = None,
    human: str | None = None,
    measure: str = DEFAULT_MEASURE,
    level: float = DEFAULT_LEVEL,
    interval: str = "ppi",
) -> list[dict[str, Any]]:
    """The section's entries. With ``llm`` and ``human``: one, and an EstimationError for
    input no estimate can be made from (the export then fails, as ``estimate`` does)."""
    options: dict[str, Any] = {"measure": measure, "level": level, "interval": interval}
    if llm or human:
        if not (llm and human):
            raise EstimationError("estimates need both an LLM and a human assessor (--llm and --human)")
        return [{"source": "assessors", **estimate_report(collection=collection.name, llm=llm, human=human, **options)}]
    entries: list[dict[str, Any]] = []
    plans = (
        BudgetPlan.objects.filter(campaign__collection=collection)
        .select_related("campaign__reference_assessor").order_by("campaign_id")
    )
    for plan in plans:
        campaign = plan.campaign
        head: dict[str, Any] = {"source": "budget_campaign", "campaign": campaign.pk, "campaign_name": campaign.name,
                                "method": plan.method, "unit": plan.unit, "human_grade": budget_selectors.HUMAN_GRADE_RULE}
        llm_assessor = campaign.reference_assessor
        if plan.unit != BudgetPlan.QUERY or llm_assessor is None:
            entries.append({**head, "error": "intervals by query need a campaign of whole queries (--unit query)"})
            continue
        # a query counts as labeled once every one of its pairs has its human grade
        grades = budget_selectors.human_grades(campaign=campaign)
        pending = {qid for qid, docid in budget_selectors.budget_pairs(plan=plan) if (qid, docid) not in grades}
        human_qrels: dict[str, dict[str, int]] = {}
        for (qid, docid), grade in grades.items():
            if qid not in pending:
                human_qrels.setdefault(qid, {})[docid] = grade
        try:
            estimate = estimate_from_qrels(
                collection=collection, llm=llm_assessor.name, human=f"campaign {campaign.pk}",
                llm_qrels=qrels_of(collection=collection, assessor=llm_assessor), human_qrels=human_qrels, **options,
            )
        except EstimationError as exc:
            entries.append({**head, "error": str(exc)})
        else:
            entries.append({**head, **estimate})
    return entries
