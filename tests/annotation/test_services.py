"""Campaign creation, leases, submit/undo/skip and the label history."""
from __future__ import annotations

from datetime import timedelta

import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from analysis.models import Assessor, FailureCategory, Judgment
from annotation import selectors, services
from annotation.models import Assignment, Campaign, Item, LabelHistory, ReasonVerdict
from tests.annotation import factories as f

pytestmark = pytest.mark.django_db

PAPER_CATEGORIES = {
    "quantitative data needed", "specific or niche topic", "query unrelated to the criteria",
    "no relevant passage context", "up-to-date information needed", "technical accuracy required",
    "risk of misinformation", "numerical data extraction", "specific product term", "ambiguous subject reference",
}


def relevance_campaign(users, *, n=4, overlap=1, **kw):
    coll, pairs = f.pairs_collection(n=n)
    return services.campaign_create(
        name="rel", kind=Campaign.RELEVANCE, collection=coll, annotators=users, overlap=overlap,
        pairs=[(q.qid, p.docid) for q, p in pairs], **kw,
    )


def test_taxonomy_is_seeded_with_the_papers_ten_categories():
    names = {c.name.lower() for c in FailureCategory.objects.all()}
    assert PAPER_CATEGORIES <= names


def test_relevance_grade_becomes_a_judgment_of_the_annotators_human_assessor(alice):
    campaign = relevance_campaign([alice])
    a = services.assignment_next(campaign=campaign, user=alice)
    services.assignment_submit(assignment=a, user=alice, grade=2, confidence=4, comment="clear", seconds_spent=3.5)
    assessor = Assessor.objects.get(name="alice")
    assert assessor.kind == Assessor.HUMAN and assessor.user == alice
    j = Judgment.objects.get(assessor=assessor)
    assert (j.query_id, j.passage_id, j.grade) == (a.item.query_id, a.item.passage_id, 2)
    a.refresh_from_db()
    assert a.status == Assignment.DONE and a.seconds_spent == 3.5 and a.confidence == 4
    h = LabelHistory.objects.get(action="submit")
    assert h.user == alice and h.before is None and h.after == {"grade": 2}


def test_next_item_is_never_one_already_done_and_stops_when_nothing_is_left(alice):
    campaign = relevance_campaign([alice], n=3)
    seen = []
    while (a := services.assignment_next(campaign=campaign, user=alice)) is not None:
        seen.append(a.item_id)
        services.assignment_submit(assignment=a, user=alice, grade=1)
    assert len(seen) == 3 == len(set(seen))


def test_next_resumes_the_current_lease_instead_of_taking_another(alice):
    campaign = relevance_campaign([alice])
    a1 = services.assignment_next(campaign=campaign, user=alice)
    a2 = services.assignment_next(campaign=campaign, user=alice)
    assert a1.pk == a2.pk
    assert Assignment.objects.filter(user=alice).count() == 1


def test_an_item_leased_to_k_people_is_not_offered_to_a_third(alice, bob, django_user_model):
    carol = django_user_model.objects.create_user("carol", password="x-pass-123")
    campaign = relevance_campaign([alice, bob, carol], n=1, overlap=2)
    assert services.assignment_next(campaign=campaign, user=alice) is not None
    assert services.assignment_next(campaign=campaign, user=bob) is not None
    assert services.assignment_next(campaign=campaign, user=carol) is None


def test_an_expired_lease_frees_the_slot_and_the_late_submit_is_refused(alice, bob):
    campaign = relevance_campaign([alice, bob], n=1, overlap=1)
    late = services.assignment_next(campaign=campaign, user=alice)
    Assignment.objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    taken = services.assignment_next(campaign=campaign, user=bob)
    assert taken is not None and taken.item_id == late.item_id
    services.assignment_submit(assignment=taken, user=bob, grade=3)
    late.refresh_from_db()
    with pytest.raises(services.LeaseLost):
        services.assignment_submit(assignment=late, user=alice, grade=0)
    assert Item.objects.get(pk=late.item_id).completed_count == 1


def test_identical_retry_of_a_done_submit_succeeds_and_changes_nothing(alice):
    campaign = relevance_campaign([alice])
    a = services.assignment_next(campaign=campaign, user=alice)
    services.assignment_submit(assignment=a, user=alice, grade=2)
    again = services.assignment_submit(assignment=a, user=alice, grade=2)
    assert again.status == Assignment.DONE
    assert Item.objects.get(pk=a.item_id).completed_count == 1
    assert LabelHistory.objects.count() == 1
    with pytest.raises(services.AlreadySubmitted):
        services.assignment_submit(assignment=a, user=alice, grade=0)


def test_someone_elses_assignment_is_refused(alice, bob):
    campaign = relevance_campaign([alice, bob])
    a = services.assignment_next(campaign=campaign, user=alice)
    with pytest.raises(services.NotAllowed):
        services.assignment_submit(assignment=a, user=bob, grade=1)
    with pytest.raises(services.NotAllowed):
        services.assignment_skip(assignment=a, user=bob, reason="not mine")


def test_non_member_cannot_take_items(alice, bob):
    campaign = relevance_campaign([alice])
    with pytest.raises(services.NotAllowed):
        services.assignment_next(campaign=campaign, user=bob)


def test_undo_removes_the_label_records_it_and_brings_the_item_back_filled_in(alice):
    campaign = relevance_campaign([alice])
    a = services.assignment_next(campaign=campaign, user=alice)
    services.assignment_submit(assignment=a, user=alice, grade=3, comment="sure")
    reopened = services.assignment_undo(campaign=campaign, user=alice)
    assert reopened.pk == a.pk and reopened.status == Assignment.LEASED
    assert reopened.draft["grade"] == "3" and reopened.draft["comment"] == "sure"
    assert not Judgment.objects.filter(assessor__name="alice").exists()
    assert Item.objects.get(pk=a.item_id).completed_count == 0
    undo = LabelHistory.objects.get(action="undo")
    assert undo.before["grade"] == 3 and undo.after is None
    assert services.assignment_next(campaign=campaign, user=alice).pk == a.pk
    services.assignment_submit(assignment=reopened, user=alice, grade=1)
    assert Judgment.objects.get(assessor__name="alice").grade == 1
    assert LabelHistory.objects.count() == 3


def test_skip_needs_a_reason_and_the_item_is_not_offered_again(alice):
    campaign = relevance_campaign([alice], n=1)
    a = services.assignment_next(campaign=campaign, user=alice)
    with pytest.raises(services.InvalidLabel):
        services.assignment_skip(assignment=a, user=alice, reason=" ")
    services.assignment_skip(assignment=a, user=alice, reason="I cannot read this language")
    assert Assignment.objects.get(pk=a.pk).skip_reason == "I cannot read this language"
    assert services.assignment_next(campaign=campaign, user=alice) is None


def test_grade_outside_0_to_3_is_refused(alice):
    campaign = relevance_campaign([alice])
    a = services.assignment_next(campaign=campaign, user=alice)
    with pytest.raises(services.InvalidLabel):
        services.assignment_submit(assignment=a, user=alice, grade=7)


def test_reasons_campaign_takes_the_hard_queries_and_records_verdicts(alice):
    coll, analysis, queries = f.h2r_setup(n_queries=2, n_reasons=2, models=("llama-a", "qwen-b"))
    campaign = services.campaign_create(name="r", kind=Campaign.REASONS, task="h2r", collection=coll, annotators=[alice])
    assert campaign.analysis == analysis
    assert {i.query_id for i in campaign.items.all()} == {q.pk for q in queries}
    a = services.assignment_next(campaign=campaign, user=alice)
    reason_ids = selectors.item_reason_ids(item=a.item, task="h2r")
    assert len(reason_ids) == 4  # both models' reasons merged
    cat = FailureCategory.objects.first()
    with pytest.raises(services.InvalidLabel):  # every reason needs a verdict
        services.assignment_submit(assignment=a, user=alice, verdicts={reason_ids[0]: "agree"})
    verdicts = {rid: {"verdict": "agree", "category": cat.pk} for rid in reason_ids}
    verdicts[reason_ids[1]] = {"verdict": "disagree", "category": None}
    services.assignment_submit(
        assignment=a, user=alice, verdicts=verdicts, added_reasons=[{"text": "needs a date", "category": cat.pk}],
        comment="ok", confidence=3,
    )
    stored = {v.reason_id: v.verdict for v in ReasonVerdict.objects.all()}
    assert stored[reason_ids[1]] == "disagree" and list(stored.values()).count("agree") == 3
    assert a.added_reasons.get().text == "needs a date"
    # identical retry is a success without change
    services.assignment_submit(assignment=a, user=alice, verdicts=verdicts,
                               added_reasons=[{"text": "needs a date", "category": cat.pk}], comment="ok", confidence=3)
    assert ReasonVerdict.objects.count() == 4


def test_relevance_selection_takes_the_pairs_where_the_llm_and_the_qrels_disagree_most(alice):
    coll = f.CollectionFactory(name="dl-dis")
    off, llm = f.official(), f.AssessorFactory(name="llama3.2")
    planted = {  # docid: (official, llm)
        "A": (0, 3), "B": (3, 0), "C": (1, 3), "D": (2, 2), "E": (0, 1), "F": (3, 3),
    }
    q = f.QueryFactory(collection=coll, qid="19335")
    for docid, (go, gl) in planted.items():
        p = f.PassageFactory(collection=coll, docid=docid)
        f.JudgmentFactory(query=q, passage=p, assessor=off, grade=go)
        f.JudgmentFactory(query=q, passage=p, assessor=llm, grade=gl)
    campaign = services.campaign_create(name="d", kind=Campaign.RELEVANCE, collection=coll, annotators=[alice],
                                        from_assessor=llm, limit=3)
    chosen = [i.passage.docid for i in campaign.items.select_related("passage")]
    # gaps: A 3, B 3, C 2, E 1, D 0, F 0 -> the three largest, ties by docid
    assert chosen == ["A", "B", "C"]


def test_gold_items_go_to_every_annotator_and_accuracy_is_measured(alice, bob):
    coll, pairs = f.pairs_collection(n=4)
    gq, gp = pairs[-1]
    campaign = services.campaign_create(
        name="g", kind=Campaign.RELEVANCE, collection=coll, annotators=[alice, bob], overlap=1,
        pairs=[(q.qid, p.docid) for q, p in pairs[:3]], gold=[{"qid": gq.qid, "docid": gp.docid, "grade": 2}],
    )
    gold = campaign.items.get(is_gold=True)
    assert gold.overlap == 2 and 0 < gold.position < 3  # mixed in, not first nor last
    for user, grade in ((alice, 2), (bob, 0)):
        while (a := services.assignment_next(campaign=campaign, user=user)) is not None:
            services.assignment_submit(assignment=a, user=user, grade=grade if a.item_id == gold.pk else 1)
    review = selectors.campaign_review(campaign=campaign)
    acc = {r["username"]: r["gold_accuracy"] for r in review["annotators"]}
    assert acc == {"alice": 1.0, "bob": 0.0}


def test_adjudication_is_staff_only_and_kept_in_the_history(alice, admin_user):
    campaign = relevance_campaign([alice], n=1)
    item = campaign.items.get()
    with pytest.raises(services.NotAllowed):
        services.item_adjudicate(item=item, user=alice, grade=1)
    services.item_adjudicate(item=item, user=admin_user, grade=2)
    item.refresh_from_db()
    assert item.final_grade == 2 and item.adjudicated_by == admin_user
    assert LabelHistory.objects.get(action="adjudicate").after["grade"] == 2


def test_create_campaign_command_prints_json(alice, bob, capsys):
    coll = f.CollectionFactory(name="dl19x")
    off, llm = f.official(), f.AssessorFactory(name="qwen3")
    for i in range(5):
        q = f.QueryFactory(collection=coll)
        p = f.PassageFactory(collection=coll)
        f.JudgmentFactory(query=q, passage=p, assessor=off, grade=i % 4)
        f.JudgmentFactory(query=q, passage=p, assessor=llm, grade=3 - i % 4)
    call_command("create_campaign", "--collection", "dl19x", "--kind", "relevance", "--from-assessor", "qwen3",
                 "--limit", "4", "--overlap", "2", "--annotators", "alice,bob", "--blind", "--json")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    campaign = Campaign.objects.get(pk=out["campaign"])
    assert out["items"] == 4 == campaign.items.count()
    assert campaign.blind and campaign.overlap == 2
    assert set(campaign.annotators.values_list("username", flat=True)) == {"alice", "bob"}


def test_create_campaign_command_for_reasons_uses_the_latest_analysis(alice, capsys):
    coll, analysis, queries = f.h2r_setup(n_queries=3)
    call_command("create_campaign", "--collection", coll.name, "--kind", "reasons", "--task", "h2r",
                 "--annotators", "alice", "--json")
    out = json.loads(capsys.readouterr().out.strip())
    assert out["items"] == 3 and out["analysis"] == analysis.pk


def test_export_qrels_reads_an_annotators_grades_like_any_assessor(alice, capsys):
    campaign = relevance_campaign([alice], n=2)
    expected = []
    while (a := services.assignment_next(campaign=campaign, user=alice)) is not None:
        item = Item.objects.select_related("query", "passage").get(pk=a.item_id)
        services.assignment_submit(assignment=a, user=alice, grade=item.pk % 4)
        expected.append(f"{item.query.qid} 0 {item.passage.docid} {item.pk % 4}")
    capsys.readouterr()
    call_command("export_qrels", "--collection", campaign.collection.name, "--assessor", "alice", "--output", "-")
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.strip().splitlines()]
    assert lines == sorted(expected)


def test_api_payload_of_a_lease_names_the_pair_and_hides_models_when_blind(client, alice):
    # (was a test of the removed assignment_payload helper: the API's lease body is the payload)
    client.force_login(alice)
    campaign = relevance_campaign([alice], n=1)
    payload = client.post(f"/api/campaigns/{campaign.pk}/next/").json()
    a = Assignment.objects.get(user=alice, item__campaign=campaign)
    item = Item.objects.select_related("query", "passage").get(pk=a.item_id)
    assert payload["assignment"] == a.pk
    assert {k: payload["item"][k] for k in ("id", "qid", "query", "docid", "passage")} == {
        "id": item.pk, "qid": item.query.qid, "query": item.query.text, "docid": item.passage.docid,
        "passage": item.passage.text}
    coll, analysis, queries = f.h2r_setup(n_queries=1, n_reasons=2, models=("model-x", "model-y"))
    blind = services.campaign_create(name="b", kind=Campaign.REASONS, task="h2r", collection=coll,
                                     annotators=[alice], blind=True)
    payload = client.post(f"/api/campaigns/{blind.pk}/next/").json()
    assert len(payload["item"]["reasons"]) == 4
    assert "model-x" not in json.dumps(payload) and all(r["model"] is None for r in payload["item"]["reasons"])


def test_cascade_campaign_takes_the_relabeled_pairs_of_a_cascade_job(alice):
    from judges.models import Endpoint, LLMJob, PromptTemplate, RelabelDecision, TrainingExample, TrainingSet

    coll = f.CollectionFactory()
    q = f.QueryFactory(collection=coll, qid="500")
    for docid in ("n1", "n2", "n3"):
        f.PassageFactory(collection=coll, docid=docid)
    endpoint = Endpoint.objects.create(name="cheap", base_url="http://127.0.0.1:9/v1", model="small")
    job = LLMJob.objects.create(kind="relabel", endpoint=endpoint, template=PromptTemplate.objects.first(),
                                collection=coll)
    example = TrainingExample.objects.create(training_set=TrainingSet.objects.create(name="t"), qid="500",
                                             query_text=q.text, query=q)
    for docid, action in (("n1", "moved"), ("n2", "kept"), ("n3", "removed")):
        RelabelDecision.objects.create(job=job, example=example, docid=docid, decided_stage=2, action=action)
    campaign = services.campaign_create(name="c", kind=Campaign.CASCADE, collection=coll, annotators=[alice],
                                        cascade_job=job.pk)
    assert [(i.query.qid, i.passage.docid) for i in campaign.items.select_related("query", "passage")] == [
        ("500", "n1"), ("500", "n3"),
    ]
    a = services.assignment_next(campaign=campaign, user=alice)
    services.assignment_submit(assignment=a, user=alice, grade=0)
    assert Judgment.objects.get(assessor__name="alice").grade == 0


def test_create_campaign_mixes_in_gold_pairs_answered_by_the_official_qrels(alice, bob, capsys):
    coll = f.CollectionFactory(name="dl-gold")
    off, llm = f.official(), f.AssessorFactory(name="judge-g")
    agreed = set()
    for i in range(8):
        q = f.QueryFactory(collection=coll)
        p = f.PassageFactory(collection=coll)
        f.JudgmentFactory(query=q, passage=p, assessor=off, grade=i % 4)
        f.JudgmentFactory(query=q, passage=p, assessor=llm, grade=i % 4 if i >= 4 else 3 - i % 4)
        if i >= 4 or i % 4 == 3 - i % 4:
            agreed.add((q.qid, p.docid, i % 4))
    call_command("create_campaign", "--collection", "dl-gold", "--kind", "relevance", "--from-assessor", "judge-g",
                 "--limit", "3", "--gold", "2", "--annotators", "alice,bob", "--json")
    out = json.loads(capsys.readouterr().out.strip())
    assert out["items"] == 5 and out["gold"] == 2
    campaign = Campaign.objects.get(pk=out["campaign"])
    gold = campaign.items.filter(is_gold=True).select_related("query", "passage")
    assert all((g.query.qid, g.passage.docid, g.gold_grade) in agreed for g in gold)
    assert all(g.overlap == 2 for g in gold)
    normal = {(i.query_id, i.passage_id) for i in campaign.items.filter(is_gold=False)}
    assert not normal & {(g.query_id, g.passage_id) for g in gold}


def test_an_annotators_grade_reaches_the_agreement_report_at_submit_and_leaves_it_at_undo(alice):
    """The grade goes through analysis.judgments, which renews the annotator's label
    version: a report built before the submit (its packed arrays stored) is not read
    stale after it, nor after the undo."""
    from annotation.report_params import ReportParams
    from annotation.reports import build_report

    coll, pairs, _ = f.disagreeing_pairs(n=3, llm="llm-x", official_grade=1)
    campaign = services.campaign_create(name="rel", kind=Campaign.RELEVANCE, collection=coll, annotators=[alice],
                                        pairs=[(q.qid, p.docid) for q, p in pairs])
    params = ReportParams(collection=coll.name, reference="official", assessors=["alice"], n_boot=0)

    def alice_vs_official():
        (pair,) = build_report(params, with_effect=False)["pairs"]
        return pair["n"], pair["confusion_matrix"]

    first = services.assignment_next(campaign=campaign, user=alice)
    services.assignment_submit(assignment=first, user=alice, grade=1)
    assert alice_vs_official() == (1, [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])

    second = services.assignment_next(campaign=campaign, user=alice)
    services.assignment_submit(assignment=second, user=alice, grade=3)
    n, matrix = alice_vs_official()
    assert n == 2 and matrix[1] == [0, 1, 0, 1]  # official 1: alice once 1, once 3

    assert services.assignment_undo(campaign=campaign, user=alice).pk == second.pk
    assert alice_vs_official() == (1, [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
