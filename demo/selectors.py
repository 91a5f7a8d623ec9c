"""The demo's reads: what the demo data holds and which of its steps are already done."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser

from analysis.models import Assessor, BertScore, Collection, HardnessAnalysis, ReasonProposal, Run
from annotation.models import Campaign
from demo.accounts import DEMO_ANNOTATORS, DEMO_MARK

def demo_h2r_subjects(*, collection: Collection) -> list[str]:
    """Systems with a run in the collection, for H2R."""
    return sorted(Run.objects.filter(collection=collection).values_list("system__name", flat=True).distinct())


def demo_h2j_subjects(*, collection: Collection) -> list[tuple[str, str]]:
    """(assessor, graded|binary) of every LLM judge of the collection, for H2J."""
    judges = (
        Assessor.objects.filter(kind=Assessor.LLM, judgments__query__collection=collection)
        .values_list("name", "scale")
        .distinct()
    )
    return sorted(set(judges))


def demo_h2g_subjects(*, collection: Collection) -> list[str]:
    """Generators with imported BERTScore rows in the collection, for H2G."""
    return sorted(
        BertScore.objects.filter(query__collection=collection).values_list("generator__name", flat=True).distinct()
    )


def demo_has_analysis(*, collection: Collection, task: str, subject: str) -> bool:
    """Whether an analysis of this task and subject exists (a re-run of the demo adds none)."""
    return HardnessAnalysis.objects.filter(collection=collection, task=task, subject=subject).exists()


def demo_campaign_analysis(*, collection: Collection, task: str = "h2r") -> HardnessAnalysis | None:
    """The analysis the demo's reasons campaign is built on: the latest done one of a
    subject the reason lists were proposed for (BM25 in the fixtures), so that every
    item shows the reasons proposed for the run it shows."""
    subjects = ReasonProposal.objects.filter(query__collection=collection, task=task).values("subject")
    return (
        HardnessAnalysis.objects.filter(collection=collection, task=task, status=HardnessAnalysis.DONE,
                                        subject__in=subjects)
        .order_by("subject", "-created_at", "-pk").first()
    )


def demo_has_campaign(*, collection: Collection) -> bool:
    """Whether a campaign on the collection exists (a re-run of the demo adds none)."""
    return Campaign.objects.filter(collection=collection).exists()


def demo_annotators() -> list[AbstractBaseUser]:
    """The demo's annotator accounts (alice, bob), by name."""
    return list(get_user_model().objects.filter(username__in=DEMO_ANNOTATORS, last_name=DEMO_MARK).order_by("username"))
