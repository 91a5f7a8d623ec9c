"""The reason part of the report reads the annotation app's verdicts (runs once they exist)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analysis.models import Assessor, Collection, FailureCategory, Query, Reason, ReasonProposal
from annotation import reports

models = pytest.importorskip("annotation.models")
if not hasattr(models, "ReasonVerdict"):
    pytest.skip("annotation.models.ReasonVerdict is not on this branch yet", allow_module_level=True)


@pytest.mark.django_db
def test_report_counts_accepted_reasons_per_model_from_verdicts(alice, bob):
    coll = Collection.objects.create(name="dl19")
    query = Query.objects.create(collection=coll, qid="1", text="what is x")
    llm = Assessor.objects.create(name="llama3.2", kind=Assessor.LLM, model="llama3.2:latest")
    rare = FailureCategory.objects.create(name="rare entity")
    vague = FailureCategory.objects.create(name="vague query")
    proposal = ReasonProposal.objects.create(query=query, task="h2r", assessor=llm)
    first = Reason.objects.create(proposal=proposal, position=0, text="<b>rare</b> term", category=rare)
    second = Reason.objects.create(proposal=proposal, position=1, text="ambiguous", category=vague)
    campaign = models.Campaign.objects.create(name="c", kind=models.Campaign.REASONS, task="h2r", collection=coll)
    item = models.Item.objects.create(campaign=campaign, query=query)
    now = timezone.now()
    for user, verdicts in ((alice, ("agree", "disagree")), (bob, ("agree", "agree"))):
        assignment = models.Assignment.objects.create(
            item=item, user=user, leased_at=now, expires_at=now + timedelta(minutes=15)
        )
        for reason, verdict in zip((first, second), verdicts):
            models.ReasonVerdict.objects.create(assignment=assignment, reason=reason, verdict=verdict)
    frame = reports.reason_verdict_frame(collection="dl19")
    assert sorted(frame["annotator"]) == ["alice", "alice", "bob", "bob"]
    section = reports.reasons_report(frame)
    row = section["acceptance_by_model_task"][0]
    # first: 2 agree -> accepted; second: 1 agree, 1 disagree -> undecided.
    assert (row["model"], row["accepted"], row["undecided"], row["acceptance"]) == ("llama3.2", 1, 1, 1.0)
    assert reports.reasons_report(reports.reason_verdict_frame(collection="dl19", annotator="alice"))["verdicts"] == 2
