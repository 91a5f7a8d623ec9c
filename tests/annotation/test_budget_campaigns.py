"""Budget campaigns: create_campaign --budget N --select random|uncertainty|lara, the rounds
lara adds as annotators finish them, and budget_qrels.

The collection is built here: 6 queries of 10 pairs each, an LLM whose grade
probabilities are stored (distinct margins, so "the least certain" is one set), and a
person whose grades are the LLM's shifted on some pairs (so a calibration has something
to learn). The expected selections are computed in the tests from the stored numbers,
with numpy and scikit-learn as the oracle.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from sklearn.linear_model import LogisticRegression

from analysis.models import Assessor, Judgment
from annotation import services
from annotation.models import BudgetPlan, Campaign, Item
from tests.annotation import factories as f

pytestmark = pytest.mark.django_db

N_QUERIES, PER_QUERY = 6, 10


@pytest.fixture
def world(alice, bob):
    """The collection, the LLM (with probabilities), a twin LLM without them, and the
    grade alice gives every pair."""
    rng = np.random.default_rng(7)
    coll = f.CollectionFactory(name="budgetcoll")
    llm = f.AssessorFactory(name="llm-probs", kind=Assessor.LLM)
    bare = f.AssessorFactory(name="llm-bare", kind=Assessor.LLM)
    truth: dict[tuple[str, str], int] = {}
    probabilities: dict[tuple[str, str], list[float]] = {}
    for qn in range(N_QUERIES):
        query = f.QueryFactory(collection=coll, qid=f"q{qn}")
        for dn in range(PER_QUERY):
            passage = f.PassageFactory(collection=coll, docid=f"q{qn}d{dn}")
            p = rng.dirichlet(np.ones(4) * 0.7)
            grade = int(p.argmax())
            key = (query.qid, passage.docid)
            probabilities[key] = [float(x) for x in p]
            # the person agrees with the LLM where it is sure, and grades one lower elsewhere
            truth[key] = grade if p.max() > 0.55 else max(0, grade - 1)
            f.JudgmentFactory(query=query, passage=passage, assessor=llm, grade=grade, probabilities=probabilities[key])
            f.JudgmentFactory(query=query, passage=passage, assessor=bare, grade=grade)
    return {"collection": coll, "llm": llm, "truth": truth, "probabilities": probabilities, "users": [alice, bob]}


def create(*args: str) -> dict:
    out = io.StringIO()
    call_command("create_campaign", "--collection", "budgetcoll", "--kind", "relevance", "--annotators", "alice",
                 "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def item_pairs(campaign_id: int) -> list[tuple[str, str]]:
    return list(
        Item.objects.filter(campaign_id=campaign_id).order_by("position").values_list("query__qid", "passage__docid")
    )


def margin(p) -> float:
    s = sorted(p)
    return s[-1] - s[-2]


def annotate_everything_open(campaign: Campaign, user, truth) -> int:
    """The annotator takes and submits every item open to them, through the services,
    each submit in its own transaction, as the screen does."""
    n = 0
    while (assignment := services.assignment_next(campaign=campaign, user=user)) is not None:
        key = (assignment.item.query.qid, assignment.item.passage.docid)
        services.assignment_submit(assignment=assignment, user=user, grade=truth[key])
        n += 1
    return n


def test_random_budget_creates_exactly_the_budget_of_distinct_pairs_and_records_the_plan(world):
    out = create("--from-assessor", "llm-probs", "--budget", "13", "--select", "random", "--seed", "3")
    pairs = item_pairs(out["campaign"])
    assert out["items"] == 13 == len(set(pairs))
    assert set(pairs) <= set(world["truth"])
    assert out["budget"] | {"rounds": None} == {
        "budget": 13, "method": "random", "unit": "pair", "round_size": 13, "first_round": "random", "seed": 3,
        "spent": 13, "rounds": None,
    }
    assert [(r["number"], r["selection"], r["size"], r["items"]) for r in out["budget"]["rounds"]] == [
        (1, "random", 13, 13)
    ]


def test_random_by_query_gives_whole_queries_with_all_their_pairs(world):
    out = create("--from-assessor", "llm-probs", "--budget", "2", "--select", "random", "--unit", "query")
    pairs = item_pairs(out["campaign"])
    queries = {q for q, _ in pairs}
    assert len(queries) == 2
    assert set(pairs) == {key for key in world["truth"] if key[0] in queries}
    assert out["items"] == 2 * PER_QUERY and out["budget"]["unit"] == "query" and out["budget"]["spent"] == 2


def test_uncertainty_takes_the_pairs_with_the_smallest_grade_margin(world):
    out = create("--from-assessor", "llm-probs", "--budget", "9", "--select", "uncertainty")
    expected = sorted(world["probabilities"], key=lambda k: margin(world["probabilities"][k]))[:9]
    assert item_pairs(out["campaign"]) == expected  # least certain first


def test_uncertainty_by_query_takes_the_queries_with_the_smallest_mean_margin(world):
    out = create("--from-assessor", "llm-probs", "--budget", "2", "--select", "uncertainty", "--unit", "query")
    by_query: dict[str, list[float]] = {}
    for (qid, _), p in world["probabilities"].items():
        by_query.setdefault(qid, []).append(margin(p))
    expected = sorted(by_query, key=lambda q: np.mean(by_query[q]))[:2]
    assert [q for q, _ in item_pairs(out["campaign"])] == [q for q in expected for _ in range(PER_QUERY)]


def test_lara_adds_the_next_round_when_annotators_complete_the_first(world, alice, django_capture_on_commit_callbacks):
    out = create("--from-assessor", "llm-probs", "--budget", "10", "--select", "lara", "--round-size", "4")
    campaign = Campaign.objects.get(pk=out["campaign"])
    assert out["items"] == 4 and out["budget"]["round_size"] == 4
    assert out["budget"]["rounds"][0]["selection"] == "random"
    first = set(item_pairs(campaign.pk))

    with django_capture_on_commit_callbacks(execute=True):
        assert annotate_everything_open(campaign, alice, world["truth"]) == 4

    plan = BudgetPlan.objects.get(campaign=campaign)
    rounds = list(plan.rounds.order_by("number"))
    assert [(r.number, r.size) for r in rounds] == [(1, 4), (2, 4)]
    second = rounds[1]
    assert second.selection == "calibrated" and second.n_labels == 4
    # the oracle: scikit-learn's logistic regression of alice's grades on the LLM's
    # probabilities, the 4 unlabeled pairs with the smallest calibrated margin
    keys = sorted(world["probabilities"])
    x = np.array([world["probabilities"][k] for k in keys])
    labeled = [keys.index(k) for k in sorted(first)]
    model = LogisticRegression(solver="newton-cholesky", max_iter=200).fit(
        x[labeled], [world["truth"][keys[i]] for i in labeled]
    )
    calibrated = np.zeros((len(keys), 4))
    calibrated[:, model.classes_] = model.predict_proba(x)
    margins = {k: margin(calibrated[i]) for i, k in enumerate(keys) if k not in first}
    expected = sorted(margins, key=margins.get)[:4]
    added = list(second.items.order_by("position").values_list("query__qid", "passage__docid"))
    assert added == expected

    with django_capture_on_commit_callbacks(execute=True):
        assert annotate_everything_open(campaign, alice, world["truth"]) == 4
    assert [r.size for r in plan.rounds.order_by("number")] == [4, 4, 2]  # the last round: what is left of 10
    with django_capture_on_commit_callbacks(execute=True):
        assert annotate_everything_open(campaign, alice, world["truth"]) == 2
    assert plan.rounds.count() == 3 and campaign.items.count() == 10  # the budget is spent: nothing more


def test_staff_command_adds_a_round_only_after_a_complete_one_unless_forced(world):
    out = create("--from-assessor", "llm-probs", "--budget", "6", "--select", "lara", "--round-size", "3")
    text = io.StringIO()
    call_command("budget_round", "--campaign", str(out["campaign"]), stdout=text)
    assert "no round added" in text.getvalue()
    assert Item.objects.filter(campaign_id=out["campaign"]).count() == 3
    text = io.StringIO()
    call_command("budget_round", "--campaign", str(out["campaign"]), "--force", "--json", stdout=text)
    status = json.loads(text.getvalue())
    assert status["added"] == 2 and status["budget"]["spent"] == 6
    # nothing labeled yet: the forced round is picked as the first was
    assert status["budget"]["rounds"][1]["selection"] == "random"
    assert len(set(item_pairs(out["campaign"]))) == 6


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from-assessor", "llm-probs", "--budget", "61", "--select", "random"],
         "--budget 61 is more than the 60 pairs llm-probs judged in budgetcoll"),
        (["--from-assessor", "llm-probs", "--budget", "7", "--select", "random", "--unit", "query"],
         "--budget 7 is more than the 6 queries llm-probs judged"),
        (["--from-assessor", "llm-bare", "--budget", "5", "--select", "uncertainty"],
         "llm-bare has no grade probabilities in budgetcoll: uncertainty needs them"),
        (["--from-assessor", "llm-bare", "--budget", "5", "--select", "lara", "--first-round", "uncertainty"],
         "llm-bare has no grade probabilities"),
        (["--budget", "5", "--select", "random"], "needs --from-assessor"),
        (["--from-assessor", "llm-probs", "--budget", "5"], "--budget needs --select"),
        (["--from-assessor", "llm-probs", "--budget", "5", "--select", "random", "--limit", "3"], "drop --limit"),
    ],
)
def test_impossible_budgets_are_refused_with_a_clear_message_and_nothing_written(world, args, message):
    with pytest.raises(CommandError, match=message.replace("-", r"\-")):
        create(*args)
    assert not Campaign.objects.exists() and not Item.objects.exists()


def test_refusal_exits_1_from_the_shell(world, capsys, monkeypatch):
    from django.core.management import ManagementUtility

    # run_from_argv closes the connections when it ends: keep the test's transaction open
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "create_campaign", "--collection", "budgetcoll", "--kind", "relevance",
                           "--annotators", "alice", "--from-assessor", "llm-bare", "--budget", "5",
                           "--select", "uncertainty"]).execute()
    assert exited.value.code == 1
    assert "llm-bare has no grade probabilities" in capsys.readouterr().err


# --- budget_qrels -----------------------------------------------------------------------

def test_budget_qrels_are_human_where_people_judged_and_calibrated_elsewhere(world, alice, bob,
                                                                              django_capture_on_commit_callbacks):
    out = create("--from-assessor", "llm-probs", "--budget", "12", "--select", "random", "--seed", "1")
    campaign = Campaign.objects.get(pk=out["campaign"])
    with django_capture_on_commit_callbacks(execute=True):
        annotate_everything_open(campaign, alice, world["truth"])
    text = io.StringIO()
    call_command("budget_qrels", "--campaign", str(campaign.pk), "--name", "budget-q", "--json", stdout=text)
    summary = json.loads(text.getvalue())
    assert (summary["human"], summary["calibrated"]) == (12, 48)

    judged = set(item_pairs(campaign.pk))
    keys = sorted(world["probabilities"])
    x = np.array([world["probabilities"][k] for k in keys])
    labeled = [i for i, k in enumerate(keys) if k in judged]
    model = LogisticRegression(solver="newton-cholesky", max_iter=200).fit(
        x[labeled], [world["truth"][keys[i]] for i in labeled]
    )
    predicted = dict(zip(keys, model.classes_[model.predict_proba(x).argmax(axis=1)].tolist()))
    stored = {
        (q, d): g for q, d, g in Judgment.objects.filter(assessor__name="budget-q")
        .values_list("query__qid", "passage__docid", "grade")
    }
    assert set(stored) == set(keys)
    for key in keys:
        assert stored[key] == (world["truth"][key] if key in judged else predicted[key]), key
    # the calibration learned something: it differs from the LLM's own grades somewhere
    llm = dict(zip(keys, [int(np.argmax(world["probabilities"][k])) for k in keys]))
    assert any(stored[k] != llm[k] for k in keys if k not in judged)


def test_budget_qrels_with_two_annotators_take_the_majority_ties_to_the_lower_grade(world, alice, bob):
    out = create("--from-assessor", "llm-probs", "--budget", "3", "--select", "random",
                 "--annotators", "alice,bob", "--overlap", "2")
    campaign = Campaign.objects.get(pk=out["campaign"])
    annotate_everything_open(campaign, alice, {k: 3 for k in world["truth"]})
    annotate_everything_open(campaign, bob, {k: 1 for k in world["truth"]})
    item = Item.objects.filter(campaign=campaign).order_by("position").first()
    services.item_adjudicate(item=item, user=f.UserFactory(username="staffer", is_staff=True), grade=2)
    call_command("budget_qrels", "--campaign", str(campaign.pk), "--name", "budget-k2", stdout=io.StringIO())
    grades = dict(Judgment.objects.filter(assessor__name="budget-k2").values_list("passage_id", "grade"))
    items = list(Item.objects.filter(campaign=campaign).order_by("position"))
    assert [grades[i.passage_id] for i in items] == [2, 1, 1]  # adjudicated, then a 3-1 tie goes to 1


def test_budget_qrels_refuse_other_campaigns_and_existing_names_unless_replace(world, alice):
    other = services.campaign_create(
        name="plain", kind=Campaign.RELEVANCE, collection=world["collection"], annotators=[alice],
        pairs=[("q0", "q0d0")],
    )
    with pytest.raises(CommandError, match=f"campaign {other.pk} is not a budget campaign"):
        call_command("budget_qrels", "--campaign", str(other.pk), "--name", "q1")
    out = create("--from-assessor", "llm-probs", "--budget", "4", "--select", "random")
    campaign = Campaign.objects.get(pk=out["campaign"])
    annotate_everything_open(campaign, alice, world["truth"])
    with pytest.raises(CommandError, match="an assessor 'llm-probs' exists"):
        call_command("budget_qrels", "--campaign", str(campaign.pk), "--name", "llm-probs")
    with pytest.raises(CommandError, match="not an assessor budget_qrels wrote"):
        call_command("budget_qrels", "--campaign", str(campaign.pk), "--name", "llm-probs", "--replace")
    assert not Assessor.objects.filter(name="q1").exists()
    call_command("budget_qrels", "--campaign", str(campaign.pk), "--name", "q1", stdout=io.StringIO())
    with pytest.raises(CommandError, match="an assessor 'q1' exists"):
        call_command("budget_qrels", "--campaign", str(campaign.pk), "--name", "q1")
    call_command("budget_qrels", "--campaign", str(campaign.pk), "--name", "q1", "--replace", stdout=io.StringIO())
    assert Judgment.objects.filter(assessor__name="q1").count() == N_QUERIES * PER_QUERY


# --- the review page and staff's button ---------------------------------------------------

def test_review_page_shows_the_rounds_and_staffs_button_adds_the_next(world, client, admin_user, alice):
    out = create("--from-assessor", "llm-probs", "--budget", "6", "--select", "lara", "--round-size", "3")
    url = f"/annotation/campaigns/{out['campaign']}/budget-round/"
    client.force_login(alice)
    assert client.post(url).status_code == 403  # annotators may not
    assert Item.objects.filter(campaign_id=out["campaign"]).count() == 3
    client.force_login(admin_user)
    page = client.get(f"/annotation/campaigns/{out['campaign']}/review/").content.decode()
    assert 'id="budget-rounds"' in page and "lara by pair: 3 of 6 pairs in rounds of 3" in page
    response = client.post(url, {"force": "1"}, follow=True)
    assert "Round 2 added: 3 items (random)" in response.content.decode()
    assert Item.objects.filter(campaign_id=out["campaign"]).count() == 6
    assert 'id="budget-round-form"' not in response.content.decode()  # the budget is spent


def test_a_binary_llm_is_calibrated_onto_the_graded_scale_people_use(world, alice, django_capture_on_commit_callbacks):
    binary = f.AssessorFactory(name="llm-binary", kind=Assessor.LLM, scale=Assessor.BINARY)
    for j in Judgment.objects.filter(assessor=world["llm"]).select_related("query", "passage"):
        p = world["probabilities"][(j.query.qid, j.passage.docid)]
        yes = p[2] + p[3]
        f.JudgmentFactory(query=j.query, passage=j.passage, assessor=binary, grade=int(yes >= 0.5),
                          probabilities=[1 - yes, yes])
    out = create("--from-assessor", "llm-binary", "--budget", "12", "--select", "lara", "--round-size", "6")
    campaign = Campaign.objects.get(pk=out["campaign"])
    with django_capture_on_commit_callbacks(execute=True):  # the round check runs as the block commits
        assert annotate_everything_open(campaign, alice, world["truth"]) == 6
    with django_capture_on_commit_callbacks(execute=True):
        assert annotate_everything_open(campaign, alice, world["truth"]) == 6  # the calibrated round
    assert [r.selection for r in BudgetPlan.objects.get(campaign=campaign).rounds.order_by("number")] == [
        "random", "calibrated"]
    call_command("budget_qrels", "--campaign", str(campaign.pk), "--name", "budget-bin", stdout=io.StringIO())
    written = Assessor.objects.get(name="budget-bin")
    grades = set(Judgment.objects.filter(assessor=written).values_list("grade", flat=True))
    assert written.scale == Assessor.GRADED and grades <= {0, 1, 2, 3} and max(grades) >= 2


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_review_page_budget_section_in_the_browser(world, live_server, page, admin_user):
    from tests.conftest import browser_login

    out = create("--from-assessor", "llm-probs", "--budget", "6", "--select", "lara", "--round-size", "3")
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    browser_login(page, live_server, "admin", "admin-pass-123")
    page.goto(f"{live_server.url}/annotation/campaigns/{out['campaign']}/review/")
    assert "lara by pair: 3 of 6 pairs in rounds of 3" in page.locator("#budget-plan").inner_text()
    assert page.locator("#budget-rounds tbody tr").count() == 1
    page.click("#budget-round-form button")
    page.wait_for_load_state("networkidle")
    assert "Round 2 added: 3 items (random)" in page.content()
    assert page.locator("#budget-rounds tbody tr").count() == 2
    assert "6 of 6 pairs" in page.locator("#budget-plan").inner_text()
    assert page.locator("#budget-round-form").count() == 0
    assert refused == []
