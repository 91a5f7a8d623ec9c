"""Annotators through the API: next, submit (with retries), undo, skip, progress, labels."""
from __future__ import annotations

import pytest

from analysis.models import Judgment
from annotation import services as annotation_services
from annotation.models import Assignment, LabelHistory

pytestmark = pytest.mark.django_db


def test_next_leases_an_item_with_what_to_show(world, alice_api):
    response = alice_api.post(f"/api/campaigns/{world.campaign_a.pk}/next/")
    assert response.status_code == 200
    body = response.json()
    # the fixture's lease is handed back, not a second one
    assert body["assignment"] == world.assignment_a.pk
    item = body["item"]
    assignment = Assignment.objects.select_related("item__query", "item__passage").get(pk=body["assignment"])
    assert item["qid"] == assignment.item.query.qid
    assert item["query"] == assignment.item.query.text
    assert item["docid"] == assignment.item.passage.docid
    assert item["passage"] == assignment.item.passage.text  # as stored: the client escapes it


def test_submit_then_identical_retry_is_200_and_changes_nothing(world, alice, alice_api):
    url = f"/api/assignments/{world.assignment_a.pk}/submit/"
    first = alice_api.post(url, {"grade": 2})
    assert first.status_code == 200
    assert first.json()["status"] == "done"
    judgments = list(Judgment.objects.filter(assessor__user=alice).values_list("id", "grade", "updated_at"))
    history = LabelHistory.objects.count()
    retry = alice_api.post(url, {"grade": 2})
    assert retry.status_code == 200
    assert list(Judgment.objects.filter(assessor__user=alice).values_list("id", "grade", "updated_at")) == judgments
    assert LabelHistory.objects.count() == history
    assert judgments[0][1] == 2


def test_submitting_a_different_answer_again_is_a_conflict(world, alice_api):
    url = f"/api/assignments/{world.assignment_a.pk}/submit/"
    assert alice_api.post(url, {"grade": 2}).status_code == 200
    response = alice_api.post(url, {"grade": 0})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_submitted"


def test_grade_outside_the_scale_is_refused(world, alice_api):
    response = alice_api.post(f"/api/assignments/{world.assignment_a.pk}/submit/", {"grade": 7})
    assert response.status_code == 400
    assert Assignment.objects.get(pk=world.assignment_a.pk).status == Assignment.LEASED


def test_another_annotators_assignment_cannot_be_submitted(world, bob_api, admin_api):
    url = f"/api/assignments/{world.assignment_a.pk}/submit/"
    assert bob_api.post(url, {"grade": 1}).status_code == 404
    assert admin_api.post(url, {"grade": 1}).status_code == 404
    assert Assignment.objects.get(pk=world.assignment_a.pk).status == Assignment.LEASED


def test_204_when_nothing_is_left(world, alice_api):
    seen = []
    while True:
        response = alice_api.post(f"/api/campaigns/{world.campaign_a.pk}/next/")
        if response.status_code == 204:
            break
        assert response.status_code == 200
        seen.append(response.json()["item"]["id"])
        assert alice_api.post(f"/api/assignments/{response.json()['assignment']}/submit/", {"grade": 1}).status_code == 200
    assert len(seen) == len(set(seen)) == 3
    progress = alice_api.get(f"/api/campaigns/{world.campaign_a.pk}/progress/").json()
    assert (progress["done"], progress["completed"], progress["percent"]) == (3, 3, 100)


def test_undo_takes_back_the_last_submission(world, alice, alice_api):
    alice_api.post(f"/api/assignments/{world.assignment_a.pk}/submit/", {"grade": 3})
    assert Judgment.objects.filter(assessor__user=alice).count() == 1
    response = alice_api.post(f"/api/campaigns/{world.campaign_a.pk}/undo/")
    assert response.status_code == 200
    assert response.json()["assignment"] == world.assignment_a.pk
    assert response.json()["status"] == "leased"
    assert Judgment.objects.filter(assessor__user=alice).count() == 0


def test_skip_needs_a_reason_and_the_item_is_not_offered_again(world, alice_api):
    url = f"/api/assignments/{world.assignment_a.pk}/skip/"
    assert alice_api.post(url, {"reason": ""}).status_code == 400
    assert alice_api.post(url, {"reason": "cannot read it"}).status_code == 200
    nxt = alice_api.post(f"/api/campaigns/{world.campaign_a.pk}/next/").json()
    assert nxt["item"]["id"] != world.assignment_a.item_id


def test_annotators_list_only_their_campaigns(world, alice_api, bob_api, admin_api):
    names = lambda client: sorted(c["name"] for c in client.get("/api/campaigns/").json()["results"])  # noqa: E731
    assert names(alice_api) == ["A"]
    assert names(bob_api) == ["B"]
    assert names(admin_api) == ["A", "B"]


def test_annotator_never_reads_another_campaigns_items(world, bob_api):
    a = world.campaign_a.pk
    for method, url in [
        ("get", f"/api/campaigns/{a}/"),
        ("post", f"/api/campaigns/{a}/next/"),
        ("get", f"/api/campaigns/{a}/labels/"),
        ("get", f"/api/campaigns/{a}/progress/"),
        ("get", f"/api/assignments/{world.assignment_a.pk}/"),
    ]:
        response = getattr(bob_api, method)(url)
        assert response.status_code == 404, url
        assert "who is robert gray" not in response.content.decode()


def test_labels_of_others_stay_hidden_while_the_campaign_is_open(corpus, alice, bob, alice_api, bob_api, admin_api):
    pairs = [(q.qid, corpus.passages[0].docid) for q in corpus.queries]
    campaign = annotation_services.campaign_create(
        name="shared", kind="relevance", collection=corpus.collection, annotators=[alice, bob], overlap=2, pairs=pairs
    )
    for client, grade in [(alice_api, 1), (bob_api, 3)]:
        lease = client.post(f"/api/campaigns/{campaign.pk}/next/").json()
        assert client.post(f"/api/assignments/{lease['assignment']}/submit/", {"grade": grade}).status_code == 200
    url = f"/api/campaigns/{campaign.pk}/labels/"
    assert [(r["annotator"], r["grade"]) for r in alice_api.get(url).json()["results"]] == [("alice", 1)]
    assert [(r["annotator"], r["grade"]) for r in bob_api.get(url).json()["results"]] == [("bob", 3)]
    assert sorted(r["annotator"] for r in admin_api.get(url).json()["results"]) == ["alice", "bob"]
    # nor through the corpus endpoints: annotators cannot read judgments at all
    assert alice_api.get("/api/judgments/", {"assessor": "bob"}).status_code == 403
    assert admin_api.patch(f"/api/campaigns/{campaign.pk}/", {"status": "closed"}).status_code == 200
    assert sorted(r["annotator"] for r in alice_api.get(url).json()["results"]) == ["alice", "bob"]


def test_blind_campaign_shows_no_other_grade(corpus, alice, alice_api):
    campaign = annotation_services.campaign_create(
        name="blind", kind="relevance", collection=corpus.collection, annotators=[alice], blind=True,
        pairs=[(corpus.queries[0].qid, corpus.passages[1].docid)],
    )
    body = alice_api.post(f"/api/campaigns/{campaign.pk}/next/").json()
    assert body["item"]["known_grades"] == []
    assert "official" not in str(body) and "llama3.2" not in str(body)


def test_admin_creates_a_campaign_from_disagreements(corpus, alice, bob, admin_api):
    response = admin_api.post("/api/campaigns/", {
        "name": "llama vs NIST", "kind": "relevance", "collection": "dl19", "annotators": ["alice", "bob"],
        "overlap": 2, "from_assessor": "llama3.2", "limit": 4,
    })
    assert response.status_code == 201, response.content
    campaign_id = response.json()["id"]
    progress = admin_api.get(f"/api/campaigns/{campaign_id}/progress/").json()
    assert (progress["items"], progress["slots"]) == (4, 8)


def test_campaign_creation_errors_are_400(corpus, admin_api):
    response = admin_api.post("/api/campaigns/", {
        "name": "x", "kind": "relevance", "collection": "dl19", "annotators": ["nobody"], "pairs": [["1", "2"]],
    })
    assert response.status_code == 400
    assert "annotators" in response.json()["error"]["details"]


@pytest.mark.parametrize("page_size", [1, 2, 50])
def test_labels_list_runs_constant_queries(world, alice, bob, admin_api, django_assert_num_queries, page_size):
    for client_user in (alice,):
        lease = annotation_services.assignment_next(campaign=world.campaign_a, user=client_user)
        while lease is not None:
            annotation_services.assignment_submit(assignment=lease, user=client_user, grade=1)
            lease = annotation_services.assignment_next(campaign=world.campaign_a, user=client_user)
    # token, campaign, count, page of assignments (joined), their verdicts (prefetch)
    with django_assert_num_queries(5):
        response = admin_api.get(f"/api/campaigns/{world.campaign_a.pk}/labels/", {"page_size": page_size})
    assert len(response.json()["results"]) == min(page_size, 3)


def test_admin_reviews_a_disagreement_and_adjudicates_it(corpus, alice, bob, alice_api, bob_api, admin_api):
    campaign = annotation_services.campaign_create(
        name="review", kind="relevance", collection=corpus.collection, annotators=[alice, bob], overlap=2,
        pairs=[(corpus.queries[0].qid, corpus.passages[0].docid)],
    )
    for client, grade in [(alice_api, 0), (bob_api, 3)]:
        lease = client.post(f"/api/campaigns/{campaign.pk}/next/").json()
        client.post(f"/api/assignments/{lease['assignment']}/submit/", {"grade": grade})
    review = admin_api.get(f"/api/campaigns/{campaign.pk}/review/").json()
    [disagreement] = review["disagreements"]
    assert disagreement["labels"] == {"alice": 0, "bob": 3}
    assert [(p["a"], p["b"], p["n"], p["agreement"]) for p in review["pairs"]] == [("alice", "bob", 1, 0.0)]
    url = f"/api/campaigns/{campaign.pk}/items/{disagreement['item']}/adjudicate/"
    assert alice_api.post(url, {"grade": 2}).status_code == 403
    assert admin_api.post(url, {"grade": 9}).status_code == 400
    assert admin_api.post(url, {"grade": 2}).status_code == 200
    review = admin_api.get(f"/api/campaigns/{campaign.pk}/review/").json()
    assert review["disagreements"][0]["final_grade"] == 2


def test_reasons_campaign_of_the_demo_through_the_api(django_user_model, settings, tmp_path):
    """Verdicts on proposed reasons: next shows the reasons (not the model, the campaign is blind
    or not), submit takes a verdict per reason, a retry changes nothing, labels show them."""
    import io

    from django.core.management import call_command

    from annotation.models import Campaign, ReasonVerdict
    from tests.api.conftest import token_client

    settings.MEDIA_ROOT = tmp_path  # the demo writes its agreement report there
    call_command("demo", stdout=io.StringIO())
    campaign = Campaign.objects.get(kind=Campaign.REASONS)
    alice = django_user_model.objects.get(username="alice")
    client = token_client(alice)
    lease = client.post(f"/api/campaigns/{campaign.pk}/next/").json()
    reasons = lease["item"]["reasons"]
    assert reasons and lease["item"]["task"] == campaign.task
    verdicts = {str(r["id"]): "agree" if n % 2 else "disagree" for n, r in enumerate(reasons)}
    url = f"/api/assignments/{lease['assignment']}/submit/"
    assert client.post(url, {"verdicts": verdicts}).status_code == 200
    count = ReasonVerdict.objects.count()
    assert count == len(reasons)
    assert client.post(url, {"verdicts": verdicts}).status_code == 200
    assert ReasonVerdict.objects.count() == count
    [label] = client.get(f"/api/campaigns/{campaign.pk}/labels/").json()["results"]
    assert label["verdicts"] == verdicts
    # a verdict missing for one reason is refused
    nxt = client.post(f"/api/campaigns/{campaign.pk}/next/").json()
    partial = {str(r["id"]): "agree" for r in nxt["item"]["reasons"][1:]}
    response = client.post(f"/api/assignments/{nxt['assignment']}/submit/", {"verdicts": partial})
    assert response.status_code == 400


def test_admin_mixes_gold_pairs_into_a_relevance_campaign(corpus, alice, bob, admin_api):
    from annotation.models import Item

    response = admin_api.post("/api/campaigns/", {
        "name": "with gold", "kind": "relevance", "collection": "dl19", "annotators": ["alice", "bob"],
        "from_assessor": "llama3.2", "limit": 3, "gold": 2,
    })
    assert response.status_code == 201, response.content
    items = Item.objects.filter(campaign_id=response.json()["id"])
    assert items.filter(is_gold=True).count() == 2
    assert items.filter(is_gold=False).count() == 3
